import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { NewStaffTemplate, Store, UserRow } from '../../src/store/types.js';
import { closeAndDrop, describeEachStore, openFresh, type TestDatabase } from './harness.js';

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

describeEachStore('staff face templates', (h) => {
  let db: TestDatabase;
  let store: Store;

  beforeEach(async () => ({ db, store } = await openFresh(h)));

  afterEach(() => closeAndDrop({ db, store }));

  it('stores the blobs as given, per user, apart from patient templates', async () => {
    const a = user();
    const b = user();
    await store.insertUser(a);
    await store.insertUser(b);
    const first = await store.insertStaffTemplate(template(a.id));
    await store.insertStaffTemplate(template(b.id));
    const listed = await store.listStaffTemplates(a.id);
    expect(listed).toHaveLength(1);
    expect(Buffer.from(listed[0]!.ciphertext).equals(Buffer.from(first.ciphertext))).toBe(true);
    expect(listed[0]).toMatchObject({ id: first.id, userId: a.id, consentNotice: first.consentNotice, quality: { passed: true } });
    expect(await store.countTemplates()).toBe(0);
    const iterated = [];
    for await (const t of store.iterateTemplates()) iterated.push(t);
    expect(iterated).toEqual([]);
  });

  it('counts records per key, re-protects in batches, and deletes one or all of a user', async () => {
    const a = user();
    await store.insertUser(a);
    const [one, two] = [await store.insertStaffTemplate(template(a.id)), await store.insertStaffTemplate(template(a.id))];
    expect(await store.countProtectedRecordsByKey()).toEqual([{ kind: 'staff-template', keyId: 'kek-1', transformId: 'transform-1', count: 2 }]);
    const rewrapped = await store.rewrapStaffTemplates((t) => (t.keyId === 'kek-2' ? null : { ...t, keyId: 'kek-2' }), 1);
    expect(rewrapped).toBe(2);
    expect(await store.rewrapStaffTemplates((t) => (t.keyId === 'kek-2' ? null : { ...t, keyId: 'kek-2' }))).toBe(0);
    expect((await store.countProtectedRecordsByKey()).map((c) => c.keyId)).toEqual(['kek-2']);
    expect(await store.deleteStaffTemplate(one.id)).toBe(true);
    expect(await store.deleteStaffTemplate(one.id)).toBe(false);
    expect((await store.listStaffTemplates(a.id)).map((t) => t.id)).toEqual([two.id]);
    expect(await store.deleteStaffTemplatesOfUser(a.id)).toBe(1);
  });

  it('goes with its account when the account row is deleted', async () => {
    const a = user();
    await store.insertUser(a);
    await store.insertStaffTemplate(template(a.id));
    await db.raw('DELETE FROM users WHERE id = ?', [a.id]);
    expect(await store.listStaffTemplates(a.id)).toEqual([]);
  });
});
