import { afterEach, beforeEach, expect, it } from 'vitest';
import { recordSuspectedDuplicate, listSuspectedDuplicates, reviewSuspectedDuplicate } from '../../src/records/links.js';
import { createPatient, readPatient, updatePatient } from '../../src/records/patient.js';
import type { Store } from '../../src/store/types.js';
import { closeAndDrop, describeEachStore, openFresh, type TestDatabase } from '../store/harness.js';

describeEachStore('duplicate review', (h) => {
  let db: TestDatabase;
  let store: Store;
  let a: string;
  let b: string;
  beforeEach(async () => {
    ({ db, store } = await openFresh(h));
    a = (await createPatient(store, { resourceType: 'Patient', name: [{ family: 'Smith', given: ['Jo'] }] })).id as string;
    b = (await createPatient(store, { resourceType: 'Patient', name: [{ family: 'Smyth', given: ['Joe'] }] })).id as string;
  });
  afterEach(() => closeAndDrop({ db, store }));

  const seeAlso = async (from: string) => (await readPatient(store, from)).link?.map((l) => [l.type, l.other.reference]);

  it('links both patients with seealso while pending and unlinks them when rejected', async () => {
    const link = await store.transaction((tx) => recordSuspectedDuplicate(tx, { patientId: b, otherPatientId: a, grade: 'probable', score: 0.72, createdBy: 'desk-1' }));
    expect(link.status).toBe('pending');
    expect(await seeAlso(a)).toEqual([['seealso', `Patient/${b}`]]);
    expect(await seeAlso(b)).toEqual([['seealso', `Patient/${a}`]]);
    expect((await readPatient(store, a)).meta?.versionId).toBe('2');
    // A client may send the stored links back with keys in any order.
    const current = await readPatient(store, a);
    const relinked = current.link?.map((l) => ({ type: l.type, other: { reference: l.other.reference } }));
    expect((await updatePatient(store, { ...current, link: relinked, gender: 'unknown' })).meta?.versionId).toBe('3');
    await expect(updatePatient(store, { ...current, meta: undefined, link: undefined })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });

    // The same pair seen again, from the other side, is the same suspicion; an override marks it.
    const again = await store.transaction((tx) =>
      recordSuspectedDuplicate(tx, { patientId: a, otherPatientId: b, grade: 'certain', score: 0.9, createdBy: 'desk-2', overrideReason: 'twins, checked ID' }),
    );
    expect(again).toMatchObject({ id: link.id, status: 'overridden', reason: 'twins, checked ID' });
    expect(await listSuspectedDuplicates(store, { status: 'pending' })).toEqual([]);

    await expect(store.transaction((tx) => reviewSuspectedDuplicate(tx, { linkId: link.id, decision: 'rejected', reviewedBy: 'po' }))).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    const rejected = await store.transaction((tx) => reviewSuspectedDuplicate(tx, { linkId: link.id, decision: 'rejected', reason: 'different people', reviewedBy: 'po' }));
    expect(rejected).toMatchObject({ status: 'rejected', reviewedBy: 'po', reason: 'different people' });
    expect(await seeAlso(a)).toBeUndefined();
    expect(await seeAlso(b)).toBeUndefined();
    await expect(store.transaction((tx) => reviewSuspectedDuplicate(tx, { linkId: link.id, decision: 'confirmed', reviewedBy: 'po' }))).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('keeps the links when confirmed and refuses self-links and unknown patients', async () => {
    const link = await store.transaction((tx) => recordSuspectedDuplicate(tx, { patientId: a, otherPatientId: b, grade: 'probable', score: 0.7, createdBy: 'system' }));
    await store.transaction((tx) => reviewSuspectedDuplicate(tx, { linkId: link.id, decision: 'confirmed', reviewedBy: 'po' }));
    expect(await seeAlso(a)).toEqual([['seealso', `Patient/${b}`]]);
    expect(await listSuspectedDuplicates(store, { patientId: b })).toMatchObject([{ id: link.id, status: 'confirmed' }]);
    await expect(store.transaction((tx) => recordSuspectedDuplicate(tx, { patientId: a, otherPatientId: a, grade: 'x', score: 1, createdBy: 's' }))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(store.transaction((tx) => recordSuspectedDuplicate(tx, { patientId: a, otherPatientId: 'gone', grade: 'x', score: 1, createdBy: 's' }))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
