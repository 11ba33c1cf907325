import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/audit/canonical.js';
import { AuditTrail, entryHash, GENESIS_HASH, verifyChain } from '../../src/audit/trail.js';
import { createPatient } from '../../src/records/patient.js';
import { describeEachFreshStore, type StoreHarness, type TestDatabase } from '../store/harness.js';

describe('canonicalJson', () => {
  it('gives one text per value whatever the key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 'x', null], c: true } })).toBe('{"a":{"c":true,"d":[1,"x",null]},"b":1}');
    expect(canonicalJson({ a: { c: true, d: [1, 'x', null] }, b: 1 })).toBe(canonicalJson({ b: 1, a: { d: [1, 'x', null], c: true } }));
    expect(canonicalJson({ a: undefined, é: 0.1 })).toBe('{"é":0.1}');
    expect(() => canonicalJson({ a: NaN })).toThrow(TypeError);
    expect(() => canonicalJson({ a: Buffer.from('x') })).toThrow(TypeError);
  });
});

/** Removes the database's append-only guard, as someone with direct database access could. */
async function dropGuard(h: StoreHarness, db: TestDatabase): Promise<void> {
  if (h.name === 'sqlite') {
    await db.raw('DROP TRIGGER audit_events_no_update');
    await db.raw('DROP TRIGGER audit_events_no_delete');
  } else {
    await db.raw('ALTER TABLE audit_events DISABLE TRIGGER USER');
  }
}

describeEachFreshStore('audit trail', (fresh, h) => {
  const trail = new AuditTrail(randomBytes(32));

  async function appendMany(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      await fresh.store.transaction((tx) => trail.append(tx, { actor: `user-${i % 3}`, client: '10.0.0.7', action: 'patient.read', outcome: 'success', details: { i, grade: 'certain' } }));
    }
  }

  /** `n` entries, then the guards dropped, as someone with direct database access could, to tamper with them. */
  async function appendUnguarded(n: number): Promise<void> {
    await appendMany(n);
    await dropGuard(h, fresh.db);
  }

  it('chains entries and verifies an intact log', async () => {
    expect(await verifyChain(fresh.store)).toEqual({ ok: true, count: 0, head: null });
    const first = await fresh.store.transaction((tx) => trail.append(tx, { actor: 'system', action: 'keys.rotate', outcome: 'success' }));
    expect(first).toMatchObject({ seq: 1, prevHash: GENESIS_HASH, details: {}, patientRef: null, client: null });
    await appendMany(6);
    const result = await verifyChain(fresh.store, 4); // pages of 4: the walk crosses a page boundary
    expect(result).toMatchObject({ ok: true, count: 7, head: { seq: 7 } });
    const all = await trail.search(fresh.store, { limit: 100 });
    expect(all.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(all[3]?.prevHash).toBe(all[2]?.hash);
    expect(result.ok && result.head?.hash).toBe(all[6]?.hash);
  });

  it('appends nothing when the transaction fails, and continues the chain after', async () => {
    await appendMany(2);
    await expect(
      fresh.store.transaction(async (tx) => {
        await trail.append(tx, { actor: 'u', action: 'biometric.enrol', outcome: 'success' });
        throw new Error('template write failed');
      }),
    ).rejects.toThrow('template write failed');
    await appendMany(1);
    expect(await verifyChain(fresh.store)).toMatchObject({ ok: true, count: 3 });
  });

  it('keeps the chain whole under parallel appends', async () => {
    await Promise.all(
      Array.from({ length: 16 }, (_, i) => fresh.store.transaction((tx) => trail.append(tx, { actor: `u${i}`, action: 'biometric.identify', outcome: 'failure', details: { reasons: ['no-match'] } }))),
    );
    expect(await verifyChain(fresh.store)).toMatchObject({ ok: true, count: 16 });
  });

  it('detects an edited entry', async () => {
    await appendUnguarded(5);
    await fresh.db.raw("UPDATE audit_events SET actor = 'someone-else' WHERE seq = 3");
    expect(await verifyChain(fresh.store)).toMatchObject({ ok: false, count: 2, firstBadSeq: 3, problem: 'altered', breaks: [{ seq: 3, problem: 'altered' }], breakCount: 1 });
  });

  it('detects an edited entry whose hash was recomputed', async () => {
    await appendUnguarded(5);
    const [second] = await fresh.store.listAuditEvents({ afterSeq: 1, limit: 1 });
    const { hash: _old, ...edited } = { ...(second as NonNullable<typeof second>), outcome: 'denied' as const };
    await fresh.db.raw("UPDATE audit_events SET outcome = 'denied', hash = ? WHERE seq = 2", [entryHash(edited)]);
    // Entry 2 is consistent again, but entry 3 still points at its old hash.
    expect(await verifyChain(fresh.store)).toMatchObject({ ok: false, count: 2, firstBadSeq: 3, problem: 'broken-link', breaks: [{ seq: 3, problem: 'broken-link' }] });
  });

  it('reports every break, not only the first', async () => {
    await appendUnguarded(9);
    await fresh.db.raw("UPDATE audit_events SET actor = 'someone-else' WHERE seq IN (3, 7)");
    await fresh.db.raw('DELETE FROM audit_events WHERE seq = 5');
    expect(await verifyChain(fresh.store)).toMatchObject({
      ok: false,
      count: 2,
      firstBadSeq: 3,
      breaks: [
        { seq: 3, problem: 'altered' },
        { seq: 5, problem: 'missing' },
        { seq: 7, problem: 'altered' },
      ],
      breakCount: 3,
      head: { seq: 9 },
    });
  });

  it('finds a log re-chained after an edit through a head known from outside the database, and a log cut short', async () => {
    await appendMany(6);
    const intact = await verifyChain(fresh.store);
    if (!intact.ok || intact.head === null) throw new Error('expected an intact log');
    const known = [intact.head];
    await dropGuard(h, fresh.db);
    // whoever holds the database edits entry 2 and recomputes every hash after it: the chain alone verifies
    const rows = await fresh.store.listAuditEvents({ limit: 100 });
    let prevHash = rows[0]!.hash;
    for (const row of rows.slice(1)) {
      const { hash: _old, ...rest } = { ...row, prevHash, ...(row.seq === 2 && { outcome: 'denied' as const }) };
      const hash = entryHash(rest);
      await fresh.db.raw('UPDATE audit_events SET outcome = ?, prev_hash = ?, hash = ? WHERE seq = ?', [rest.outcome, prevHash, hash, row.seq]);
      prevHash = hash;
    }
    expect(await verifyChain(fresh.store)).toMatchObject({ ok: true, count: 6 });
    expect(await verifyChain(fresh.store, 1000, known)).toMatchObject({ ok: false, firstBadSeq: 6, problem: 'rewritten', breaks: [{ seq: 6, problem: 'rewritten' }] });

    await fresh.db.raw('DELETE FROM audit_events WHERE seq > 4');
    expect(await verifyChain(fresh.store, 1000, known)).toMatchObject({ ok: false, count: 4, breaks: [{ seq: 5, problem: 'cut-short' }], head: { seq: 4 } });
  });

  it('detects a deleted entry', async () => {
    await appendUnguarded(5);
    await fresh.db.raw('DELETE FROM audit_events WHERE seq = 4');
    expect(await verifyChain(fresh.store)).toMatchObject({ ok: false, count: 3, firstBadSeq: 4, problem: 'missing', breaks: [{ seq: 4, problem: 'missing' }], head: { seq: 5 } });
  });

  it('detects a deleted first entry', async () => {
    await appendUnguarded(3);
    await fresh.db.raw('DELETE FROM audit_events WHERE seq = 1');
    expect(await verifyChain(fresh.store)).toMatchObject({ ok: false, count: 0, firstBadSeq: 1, problem: 'missing', breaks: [{ seq: 1, problem: 'missing' }] });
  });

  it('detects reordered entries', async () => {
    await appendUnguarded(5);
    await fresh.db.raw('UPDATE audit_events SET seq = -3 WHERE seq = 3');
    await fresh.db.raw('UPDATE audit_events SET seq = 3 WHERE seq = 4');
    await fresh.db.raw('UPDATE audit_events SET seq = 4 WHERE seq = -3');
    expect(await verifyChain(fresh.store)).toMatchObject({ ok: false, count: 2, firstBadSeq: 3 });
  });

  it('records patients only as pseudonyms, so an erasure entry identifies no one', async () => {
    const patientId = (await createPatient(fresh.store, { resourceType: 'Patient', name: [{ family: 'Erased' }] })).id as string;
    await fresh.store.transaction(async (tx) => {
      await tx.deleteTemplatesOfPatient(patientId);
      await tx.deletePhotosOfPatient(patientId);
      await trail.append(tx, { actor: 'po-1', action: 'biometric.erase', outcome: 'success', patientId, details: { templates: 0 } });
    });
    const dump = JSON.stringify(await fresh.db.raw('SELECT * FROM audit_events'));
    expect(dump).not.toContain(patientId);
    const found = await trail.search(fresh.store, { patientId });
    expect(found).toMatchObject([{ action: 'biometric.erase', patientRef: trail.patientRef(patientId) }]);
    expect(new AuditTrail(randomBytes(32)).patientRef(patientId)).not.toBe(trail.patientRef(patientId));
    expect(await trail.search(fresh.store, { patientId: 'someone-else' })).toEqual([]);
  });

  it('filters by actor, action, outcome and time', async () => {
    const before = new Date(Date.now() - 1000);
    await appendMany(6);
    await fresh.store.transaction((tx) => trail.append(tx, { actor: 'user-1', action: 'session.sign-in', outcome: 'denied' }));
    expect((await trail.search(fresh.store, { actor: 'user-1' })).map((e) => e.seq)).toEqual([2, 5, 7]);
    expect((await trail.search(fresh.store, { action: 'session.sign-in', outcome: 'denied' })).map((e) => e.seq)).toEqual([7]);
    expect(await trail.search(fresh.store, { from: before, limit: 2 })).toHaveLength(2);
    expect(await trail.search(fresh.store, { to: before })).toEqual([]);
    expect((await trail.search(fresh.store, { afterSeq: 5 })).map((e) => e.seq)).toEqual([6, 7]);
  });

  it('refuses details that could carry images, embeddings or free text', async () => {
    const attempt = (details: Record<string, unknown>) => fresh.store.transaction((tx) => trail.append(tx, { actor: 'u', action: 'biometric.enrol', outcome: 'success', details }));
    await expect(attempt({ embedding: Array.from({ length: 128 }, () => Math.random()) })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { path: 'details.embedding' },
    });
    await expect(attempt({ image: Buffer.alloc(10) })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(attempt({ vector: new Float32Array(4) })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(attempt({ note: 'x'.repeat(1000) })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(fresh.store.transaction((tx) => trail.append(tx, { actor: 'u', action: 'Enrol', outcome: 'success' }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await verifyChain(fresh.store)).toEqual({ ok: true, count: 0, head: null });
  });
});
