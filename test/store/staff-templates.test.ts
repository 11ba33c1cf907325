import { randomBytes, randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import type { NewStaffTemplate, UserRow } from '../../src/store/types.js';
import { describeEachFreshStore } from './harness.js';

/** Staff sign-in faces in their own table (migration 4): kept apart from patients' templates, deleted with the account. */

function user(): UserRow {
  const now = new Date().toISOString();
  return { id: randomUUID(), username: `staff-${randomUUID().slice(0, 8)}`, displayName: null, roles: ['clinician'], patientId: null, createdAt: now, updatedAt: now, disabledAt: null };
}

function template(userId: string, keyId = 'kek-1'): NewStaffTemplate {
  return {
    userId,
    modelId: 'model@1',
    transformId: 'transform-1',
    keyId,
    wrappedKey: randomBytes(60),
    iv: randomBytes(12),
    ciphertext: randomBytes(512),
    tag: randomBytes(16),
    quality: { passed: true, reasons: [] },
    consentNotice: 'urn:medface:notice:staff-face-sign-in:v1',
  };
}

describeEachFreshStore('staff face templates', (fresh) => {
  it('stores the blobs as given, per user, apart from patient templates', async () => {
    const a = user();
    const b = user();
    await fresh.store.insertUser(a);
    await fresh.store.insertUser(b);
    const first = await fresh.store.insertStaffTemplate(template(a.id));
    await fresh.store.insertStaffTemplate(template(b.id));
    const listed = await fresh.store.listStaffTemplates(a.id);
    expect(listed).toHaveLength(1);
    expect(Buffer.from(listed[0]!.ciphertext).equals(Buffer.from(first.ciphertext))).toBe(true);
    expect(listed[0]).toMatchObject({ id: first.id, userId: a.id, consentNotice: first.consentNotice, quality: { passed: true } });
    expect(await fresh.store.countTemplates()).toBe(0);
    const iterated = [];
    for await (const t of fresh.store.iterateTemplates()) iterated.push(t);
    expect(iterated).toEqual([]);
  });

  it('counts records per key, re-protects in batches, and deletes one or all of a user', async () => {
    const a = user();
    await fresh.store.insertUser(a);
    const [one, two] = [await fresh.store.insertStaffTemplate(template(a.id)), await fresh.store.insertStaffTemplate(template(a.id))];
    expect(await fresh.store.countProtectedRecordsByKey()).toEqual([{ kind: 'staff-template', keyId: 'kek-1', transformId: 'transform-1', count: 2 }]);
    const rewrapped = await fresh.store.rewrapStaffTemplates((t) => (t.keyId === 'kek-2' ? null : { ...t, keyId: 'kek-2' }), 1);
    expect(rewrapped).toBe(2);
    expect(await fresh.store.rewrapStaffTemplates((t) => (t.keyId === 'kek-2' ? null : { ...t, keyId: 'kek-2' }))).toBe(0);
    expect((await fresh.store.countProtectedRecordsByKey()).map((c) => c.keyId)).toEqual(['kek-2']);
    expect(await fresh.store.deleteStaffTemplate(one.id)).toBe(true);
    expect(await fresh.store.deleteStaffTemplate(one.id)).toBe(false);
    expect((await fresh.store.listStaffTemplates(a.id)).map((t) => t.id)).toEqual([two.id]);
    expect(await fresh.store.deleteStaffTemplatesOfUser(a.id)).toBe(1);
  });

  it('goes with its account when the account row is deleted', async () => {
    const a = user();
    await fresh.store.insertUser(a);
    await fresh.store.insertStaffTemplate(template(a.id));
    await fresh.db.raw('DELETE FROM users WHERE id = ?', [a.id]);
    expect(await fresh.store.listStaffTemplates(a.id)).toEqual([]);
  });
});
