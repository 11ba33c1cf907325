import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { MedfaceError } from '../../src/errors.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import type { ConsentRow, NewTemplate, PatientIndexTerms, PatientLinkRow, Repository, ResourceRow, Store, StoredTemplate } from '../../src/store/types.js';
import { describeEachFreshStore } from './harness.js';

function patientRow(id = randomUUID()): ResourceRow {
  return { id, versionId: 1, lastUpdated: new Date().toISOString(), resource: { resourceType: 'Patient', id } };
}

function terms(over: Partial<PatientIndexTerms> = {}): PatientIndexTerms {
  return { nameTokens: [], sortName: '', birthDate: null, gender: null, identifiers: [], ...over };
}

function template(patientId: string, over: Partial<NewTemplate> = {}): NewTemplate {
  return {
    patientId,
    modelId: 'dlib-resnet-v1',
    transformId: 't1',
    keyId: 'k1',
    wrappedKey: randomBytes(40),
    iv: randomBytes(12),
    ciphertext: randomBytes(512),
    tag: randomBytes(16),
    quality: { sharpness: 0.8, reasons: [] },
    source: 'enrol',
    ...over,
  };
}

function consent(patientId: string, status = 'active'): ConsentRow {
  return {
    id: randomUUID(),
    patientId,
    status,
    scope: 'patient-privacy',
    category: 'biometric-identification',
    versionId: 1,
    lastUpdated: new Date().toISOString(),
    resource: { resourceType: 'Consent', status },
  };
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toSatisfy((e: unknown) => e instanceof MedfaceError && e.code === code);
}

describeEachFreshStore('store', (fresh) => {
  it('applies every migration once and keeps data when reopened', async () => {
    const p = patientRow();
    await fresh.store.insertPatient(p, terms());
    await fresh.store.close();
    fresh.store = await fresh.db.open();
    await fresh.store.close();
    fresh.store = await fresh.db.open();
    expect((await fresh.store.getPatient(p.id))?.id).toBe(p.id);
    const applied = await fresh.db.raw<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(applied.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('refuses a database whose schema is newer than this code', async () => {
    await fresh.store.close();
    await fresh.db.raw("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', '2030-01-01T00:00:00.000Z')");
    await expectCode(fresh.db.open(), 'STORE_UNAVAILABLE');
    fresh.store = { close: async () => undefined } as Store;
  });

  it('stores, versions and searches patients through their index terms', async () => {
    const a = patientRow();
    const b = patientRow();
    await fresh.store.insertPatient(a, terms({ nameTokens: ['garcia', 'jose'], sortName: 'garcia jose', birthDate: '1980-05-01', gender: 'male', identifiers: [{ system: 'urn:mrn', value: '111' }] }));
    await fresh.store.insertPatient(b, terms({ nameTokens: ['garcon', 'ana'], sortName: 'garcon ana', birthDate: '1980', gender: 'female', identifiers: [{ system: null, value: '111' }] }));

    const ids = async (q: Parameters<Store['searchPatients']>[0]) => (await fresh.store.searchPatients(q)).map((r) => r.id);
    expect(await ids({ namePrefixes: ['gar'], limit: 10 })).toEqual([a.id, b.id]);
    expect(await ids({ namePrefixes: ['garc', 'an'], limit: 10 })).toEqual([b.id]);
    expect(await ids({ namePrefixes: ['garcias'], limit: 10 })).toEqual([]);
    expect(await ids({ namePrefixes: ['gar'], limit: 1 })).toEqual([a.id]);
    expect(await ids({ birthDate: '1980-05-01', limit: 10 })).toEqual([a.id]);
    expect(await ids({ birthDate: '1980', limit: 10 })).toEqual([a.id, b.id]);
    expect(await ids({ birthDate: '1980-05', limit: 10 })).toEqual([a.id]);
    expect(await ids({ birthDate: '1981', limit: 10 })).toEqual([]);
    expect(await ids({ identifier: { value: '111' }, limit: 10 })).toEqual([a.id, b.id]);
    expect(await ids({ identifier: { system: 'urn:mrn', value: '111' }, limit: 10 })).toEqual([a.id]);
    expect(await ids({ identifier: { system: null, value: '111' }, limit: 10 })).toEqual([b.id]);
    expect(await ids({ gender: 'female', namePrefixes: ['g'], limit: 10 })).toEqual([b.id]);

    const a2: ResourceRow = { ...a, versionId: 2, resource: { resourceType: 'Patient', id: a.id, gender: 'other' } };
    expect(await fresh.store.updatePatient(a2, terms({ nameTokens: ['smith'], sortName: 'smith' }), 1)).toBe(true);
    expect(await fresh.store.updatePatient({ ...a2, versionId: 3 }, terms(), 1)).toBe(false);
    expect(await fresh.store.getPatient(a.id)).toMatchObject({ versionId: 2, resource: { gender: 'other' } });
    expect(await ids({ namePrefixes: ['garcia'], limit: 10 })).toEqual([]);
    expect(await ids({ namePrefixes: ['smi'], limit: 10 })).toEqual([a.id]);
    expect(await ids({ identifier: { system: 'urn:mrn', value: '111' }, limit: 10 })).toEqual([]);
  });

  it('searches non-Latin name prefixes by code point', async () => {
    const p = patientRow();
    await fresh.store.insertPatient(p, terms({ nameTokens: ['иванов', '王小明'] }));
    expect((await fresh.store.searchPatients({ namePrefixes: ['ива'], limit: 5 })).map((r) => r.id)).toEqual([p.id]);
    expect((await fresh.store.searchPatients({ namePrefixes: ['王'], limit: 5 })).map((r) => r.id)).toEqual([p.id]);
    expect(await fresh.store.searchPatients({ namePrefixes: ['иб'], limit: 5 })).toEqual([]);
  });

  it('keeps an identifier (system, value) unique across patients', async () => {
    await fresh.store.insertPatient(patientRow(), terms({ identifiers: [{ system: 'urn:mrn', value: '42' }] }));
    await expectCode(fresh.store.insertPatient(patientRow(), terms({ identifiers: [{ system: 'urn:mrn', value: '42' }] })), 'CONFLICT');
    expect(await fresh.store.searchPatients({ identifier: { value: '42' }, limit: 5 })).toHaveLength(1);
  });

  it('allows one active consent per patient and category', async () => {
    const p = patientRow();
    await fresh.store.insertPatient(p, terms());
    const first = consent(p.id);
    await fresh.store.insertConsent(first);
    await expectCode(fresh.store.insertConsent(consent(p.id)), 'CONFLICT');
    await fresh.store.insertConsent(consent(p.id, 'inactive'));
    expect((await fresh.store.getActiveConsent(p.id, 'biometric-identification'))?.id).toBe(first.id);
    expect(await fresh.store.updateConsent({ ...first, status: 'inactive', versionId: 2 }, 1)).toBe(true);
    expect(await fresh.store.getActiveConsent(p.id, 'biometric-identification')).toBeNull();
    expect((await fresh.store.listConsents(p.id)).map((c) => c.status).sort()).toEqual(['inactive', 'inactive']);
    await expectCode(fresh.store.insertConsent(consent(randomUUID())), 'NOT_FOUND');
  });

  it('stores template blobs byte for byte and replaces the oldest', async () => {
    const p = patientRow();
    await fresh.store.insertPatient(p, terms());
    const input = template(p.id);
    const stored = await fresh.store.insertTemplate(input);
    const [read] = await fresh.store.listTemplates(p.id);
    expect(read).toEqual(stored);
    expect(Buffer.from(read?.ciphertext ?? []).equals(input.ciphertext as Buffer)).toBe(true);
    expect(Buffer.from(read?.wrappedKey ?? []).equals(input.wrappedKey as Buffer)).toBe(true);

    // A view into a larger buffer (as a Uint8Array from protection may be) is stored as exactly its bytes.
    const backing = randomBytes(100);
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 10, 32);
    const fromView = await fresh.store.insertTemplate(template(p.id, { ciphertext: view }));
    const readView = (await fresh.store.listTemplates(p.id)).find((t) => t.id === fromView.id);
    expect(Buffer.from(readView?.ciphertext ?? []).equals(backing.subarray(10, 42))).toBe(true);
    await fresh.store.deleteTemplatesOfPatient(p.id);
    const kept = await fresh.store.insertTemplate(input);

    await sleep(5);
    const second = await fresh.store.insertTemplate(template(p.id));
    const { inserted, replacedId } = await fresh.store.replaceOldestTemplate(template(p.id, { source: 'refresh' }));
    expect(replacedId).toBe(kept.id);
    expect((await fresh.store.listTemplates(p.id)).map((t) => t.id)).toEqual([second.id, inserted.id]);
    expect(await fresh.store.countTemplates(p.id)).toBe(2);
    expect(await fresh.store.countTemplates()).toBe(2);

    await expectCode(fresh.store.insertTemplate(template(randomUUID())), 'NOT_FOUND');
    await expectCode(fresh.store.insertTemplate(template(p.id, { source: 'other' as 'enrol' })), 'VALIDATION_FAILED');
  });

  it('deletes a patient’s templates and photos, and a photo with its template', async () => {
    const p = patientRow();
    const q = patientRow();
    await fresh.store.insertPatient(p, terms());
    await fresh.store.insertPatient(q, terms());
    const t1 = await fresh.store.insertTemplate(template(p.id));
    const t2 = await fresh.store.insertTemplate(template(p.id));
    const other = await fresh.store.insertTemplate(template(q.id));
    const blob = { keyId: 'k1', wrappedKey: randomBytes(40), iv: randomBytes(12), ciphertext: randomBytes(64), tag: randomBytes(16) };
    await fresh.store.insertPhoto({ ...blob, patientId: p.id, templateId: t1.id, mediaType: 'image/jpeg' });
    await fresh.store.insertPhoto({ ...blob, patientId: q.id, templateId: other.id, mediaType: 'image/jpeg' });
    await fresh.store.insertPhoto({ ...blob, patientId: q.id, templateId: null, mediaType: 'image/png' });

    expect((await fresh.store.deleteTemplatesOfPatient(p.id)).sort()).toEqual([t1.id, t2.id].sort());
    expect(await fresh.store.listPhotos(p.id)).toEqual([]); // went with its template
    expect(await fresh.store.countTemplates()).toBe(1);
    expect(await fresh.store.deletePhotosOfPatient(q.id)).toBe(2);
    expect(await fresh.store.listTemplates(q.id)).toHaveLength(1);
  });

  it('iterates all templates in pages and rewraps them resumably', async () => {
    const p = patientRow();
    await fresh.store.insertPatient(p, terms());
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await fresh.store.insertTemplate(template(p.id))).id);

    const seen: string[] = [];
    for await (const t of fresh.store.iterateTemplates(3)) seen.push(t.id);
    expect(seen).toEqual([...ids].sort());

    const newKey = randomBytes(40);
    const rewrap = (t: StoredTemplate) => (t.keyId === 'k2' ? null : { keyId: 'k2', wrappedKey: newKey, iv: t.iv, ciphertext: t.ciphertext, tag: t.tag, transformId: t.transformId });
    let calls = 0;
    // Interrupted after the first batch of 3: that batch stays rewritten.
    await expect(
      fresh.store.rewrapTemplates((t) => {
        if (++calls > 3) throw new Error('interrupted');
        return rewrap(t);
      }, 3),
    ).rejects.toThrow('interrupted');
    expect((await fresh.store.listTemplates(p.id)).filter((t) => t.keyId === 'k2')).toHaveLength(3);
    expect(await fresh.store.rewrapTemplates(rewrap, 3)).toBe(4);
    expect(await fresh.store.rewrapTemplates(rewrap, 3)).toBe(0);
    const after = await fresh.store.listTemplates(p.id);
    expect(after.every((t) => t.keyId === 'k2' && Buffer.from(t.wrappedKey).equals(newKey))).toBe(true);
  });

  it('rewraps photos', async () => {
    const p = patientRow();
    await fresh.store.insertPatient(p, terms());
    const blob = { keyId: 'k1', wrappedKey: randomBytes(40), iv: randomBytes(12), ciphertext: randomBytes(64), tag: randomBytes(16) };
    await fresh.store.insertPhoto({ ...blob, patientId: p.id, templateId: null, mediaType: 'image/jpeg' });
    expect(await fresh.store.rewrapPhotos((ph) => (ph.keyId === 'k1' ? { ...blob, keyId: 'k2' } : null))).toBe(1);
    expect((await fresh.store.listPhotos(p.id))[0]?.keyId).toBe('k2');
  });

  it('records duplicate links for review', async () => {
    const a = patientRow();
    const b = patientRow();
    await fresh.store.insertPatient(a, terms());
    await fresh.store.insertPatient(b, terms());
    const link: PatientLinkRow = {
      id: randomUUID(),
      patientId: a.id,
      otherPatientId: b.id,
      grade: 'probable',
      score: 0.71,
      status: 'pending',
      reason: null,
      createdBy: 'u1',
      createdAt: new Date().toISOString(),
      reviewedBy: null,
      reviewedAt: null,
    };
    await fresh.store.insertPatientLink(link);
    await expectCode(fresh.store.insertPatientLink({ ...link, id: randomUUID() }), 'CONFLICT');
    await expectCode(fresh.store.insertPatientLink({ ...link, id: randomUUID(), otherPatientId: a.id }), 'VALIDATION_FAILED');
    expect(await fresh.store.listPatientLinks({ patientId: b.id, status: 'pending' })).toEqual([link]);
    const reviewed = { ...link, status: 'rejected' as const, reason: 'twins', reviewedBy: 'po', reviewedAt: new Date().toISOString() };
    await fresh.store.updatePatientLink(reviewed);
    expect(await fresh.store.getPatientLink(link.id)).toEqual(reviewed);
    expect(await fresh.store.listPatientLinks({ status: 'pending' })).toEqual([]);
  });

  it('keeps key metadata and retires keys once', async () => {
    const k = { id: 'k1', purpose: 'kek', algorithm: 'aes-256-gcm', checkValue: 'abc', createdAt: new Date().toISOString(), retiredAt: null };
    await fresh.store.insertKey(k);
    await fresh.store.insertKey({ ...k, id: 't1', purpose: 'transform' });
    expect(await fresh.store.listKeys('kek')).toEqual([k]);
    const at = new Date().toISOString();
    await fresh.store.retireKey('k1', at);
    await fresh.store.retireKey('k1', new Date(Date.now() + 1000).toISOString());
    expect((await fresh.store.getKey('k1'))?.retiredAt).toBe(at);
    expect(await fresh.store.getKey('nope')).toBeNull();
  });

  it('keeps audit events append-only', async () => {
    const e = {
      seq: 1,
      time: new Date().toISOString(),
      actor: 'u1',
      client: null,
      action: 'patient.read',
      outcome: 'success' as const,
      patientRef: 'r',
      details: '{}',
      prevHash: '0'.repeat(64),
      hash: 'h',
    };
    await fresh.store.insertAuditEvent(e);
    await expectCode(fresh.store.insertAuditEvent(e), 'CONFLICT');
    expect(await fresh.store.listAuditEvents({ limit: 10 })).toEqual([e]);
    expect(await fresh.store.listAuditEvents({ limit: 10, actor: 'u2' })).toEqual([]);
    expect(await fresh.store.listAuditEvents({ limit: 10, from: e.time, patientRef: 'r' })).toEqual([e]);
    expect(await fresh.store.listAuditEvents({ limit: 10, to: e.time })).toEqual([]);
    await expect(fresh.db.raw("UPDATE audit_events SET actor = 'x'")).rejects.toThrow(/append-only/);
    await expect(fresh.db.raw('DELETE FROM audit_events')).rejects.toThrow(/append-only/);
    expect(await fresh.store.lockAuditHead()).toEqual({ seq: 1, hash: 'h' });
  });

  it('rolls back every step of a failing transaction', async () => {
    const p = patientRow();
    await fresh.store.insertPatient(p, terms());
    const c = consent(p.id);
    await fresh.store.insertConsent(c);
    await fresh.store.insertTemplate(template(p.id));
    await expect(
      fresh.store.transaction(async (tx) => {
        await tx.deleteTemplatesOfPatient(p.id);
        await tx.deletePhotosOfPatient(p.id);
        await tx.updateConsent({ ...c, status: 'inactive', versionId: 2 }, 1);
        await tx.insertPatient(patientRow(), terms());
        throw new Error('crash before the audit entry');
      }),
    ).rejects.toThrow('crash');
    expect(await fresh.store.countTemplates(p.id)).toBe(1);
    expect((await fresh.store.getActiveConsent(p.id, 'biometric-identification'))?.id).toBe(c.id);
    expect(await fresh.store.searchPatients({ limit: 10 })).toHaveLength(1);
  });

  it('runs parallel transactions on one patient one after another', async () => {
    const p = patientRow();
    await fresh.store.insertPatient(p, terms());
    // Each transaction reads the count, yields, then writes it: interleaving would repeat a count.
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        fresh.store.transaction(async (tx) => {
          expect(await tx.lockPatient(p.id)).toBe(true);
          const n = await tx.countTemplates(p.id);
          await sleep(i % 3);
          await tx.insertTemplate(template(p.id, { quality: { seen: n } }));
        }),
      ),
    );
    const seen = (await fresh.store.listTemplates(p.id)).map((t) => t.quality.seen as number).sort((x, y) => x - y);
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it('keeps a failing transaction from touching its parallel neighbours', async () => {
    const p = patientRow();
    await fresh.store.insertPatient(p, terms());
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        fresh.store.transaction(async (tx) => {
          await tx.insertTemplate(template(p.id, { quality: { i } }));
          await sleep(1);
          if (i % 2 === 1) throw new Error(`fail ${i}`);
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(4);
    const kept = (await fresh.store.listTemplates(p.id)).map((t) => t.quality.i as number).sort((x, y) => x - y);
    expect(kept).toEqual([0, 2, 4, 6]);
  });

  it('refuses the store inside its own transaction and a tx after it ended', async () => {
    let leaked: Parameters<Parameters<Store['transaction']>[0]>[0] | undefined;
    await expect(
      fresh.store.transaction(async (tx) => {
        leaked = tx;
        await fresh.store.countTemplates();
      }),
    ).rejects.toThrow(/inside its own transaction/);
    await expect((leaked as NonNullable<typeof leaked>).countTemplates()).rejects.toThrow(/already finished/);
    expect(await fresh.store.countTemplates()).toBe(0);
  });

  it('offers every repository method on the store itself, each as a transaction of its own', async () => {
    const names = await fresh.store.transaction(async (tx) => {
      const names = Object.keys(tx) as (keyof Repository)[];
      for (const name of names) {
        // Inside a transaction a store call is refused before it reads its arguments: proof it opens its own.
        await expect((fresh.store[name] as () => Promise<unknown>)()).rejects.toThrow(/inside its own transaction/);
      }
      return names;
    });
    expect(names.length).toBeGreaterThan(90);
    expect(names).toContain('getPatient');
    expect(names).toContain('listAuditEvents');
  });
});
