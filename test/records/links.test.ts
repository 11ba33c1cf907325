import { beforeEach, expect, it } from 'vitest';
import { recordSuspectedDuplicate, listSuspectedDuplicates, reviewSuspectedDuplicate } from '../../src/records/links.js';
import { createPatient, readPatient, updatePatient } from '../../src/records/patient.js';
import { describeEachFreshStore } from '../store/harness.js';

describeEachFreshStore('duplicate review', (fresh) => {
  let a: string;
  let b: string;
  beforeEach(async () => {
    a = (await createPatient(fresh.store, { resourceType: 'Patient', name: [{ family: 'Smith', given: ['Jo'] }] })).id as string;
    b = (await createPatient(fresh.store, { resourceType: 'Patient', name: [{ family: 'Smyth', given: ['Joe'] }] })).id as string;
  });

  const seeAlso = async (from: string) => (await readPatient(fresh.store, from)).link?.map((l) => [l.type, l.other.reference]);

  it('links both patients with seealso while pending and unlinks them when rejected', async () => {
    const link = await fresh.store.transaction((tx) => recordSuspectedDuplicate(tx, { patientId: b, otherPatientId: a, grade: 'probable', score: 0.72, createdBy: 'desk-1' }));
    expect(link.status).toBe('pending');
    expect(await seeAlso(a)).toEqual([['seealso', `Patient/${b}`]]);
    expect(await seeAlso(b)).toEqual([['seealso', `Patient/${a}`]]);
    expect((await readPatient(fresh.store, a)).meta?.versionId).toBe('2');
    // A client may send the stored links back with keys in any order.
    const current = await readPatient(fresh.store, a);
    const relinked = current.link?.map((l) => ({ type: l.type, other: { reference: l.other.reference } }));
    expect((await updatePatient(fresh.store, { ...current, link: relinked, gender: 'unknown' })).meta?.versionId).toBe('3');
    await expect(updatePatient(fresh.store, { ...current, meta: undefined, link: undefined })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });

    // The same pair seen again, from the other side, is the same suspicion; an override marks it.
    const again = await fresh.store.transaction((tx) =>
      recordSuspectedDuplicate(tx, { patientId: a, otherPatientId: b, grade: 'certain', score: 0.9, createdBy: 'desk-2', overrideReason: 'twins, checked ID' }),
    );
    expect(again).toMatchObject({ id: link.id, status: 'overridden', reason: 'twins, checked ID' });
    expect(await listSuspectedDuplicates(fresh.store, { status: 'pending' })).toEqual([]);

    await expect(fresh.store.transaction((tx) => reviewSuspectedDuplicate(tx, { linkId: link.id, decision: 'rejected', reviewedBy: 'po' }))).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    const rejected = await fresh.store.transaction((tx) => reviewSuspectedDuplicate(tx, { linkId: link.id, decision: 'rejected', reason: 'different people', reviewedBy: 'po' }));
    expect(rejected).toMatchObject({ status: 'rejected', reviewedBy: 'po', reason: 'different people' });
    expect(await seeAlso(a)).toBeUndefined();
    expect(await seeAlso(b)).toBeUndefined();
    await expect(fresh.store.transaction((tx) => reviewSuspectedDuplicate(tx, { linkId: link.id, decision: 'confirmed', reviewedBy: 'po' }))).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('keeps the links when confirmed and refuses self-links and unknown patients', async () => {
    const link = await fresh.store.transaction((tx) => recordSuspectedDuplicate(tx, { patientId: a, otherPatientId: b, grade: 'probable', score: 0.7, createdBy: 'system' }));
    await fresh.store.transaction((tx) => reviewSuspectedDuplicate(tx, { linkId: link.id, decision: 'confirmed', reviewedBy: 'po' }));
    expect(await seeAlso(a)).toEqual([['seealso', `Patient/${b}`]]);
    expect(await listSuspectedDuplicates(fresh.store, { patientId: b })).toMatchObject([{ id: link.id, status: 'confirmed' }]);
    await expect(fresh.store.transaction((tx) => recordSuspectedDuplicate(tx, { patientId: a, otherPatientId: a, grade: 'x', score: 1, createdBy: 's' }))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(fresh.store.transaction((tx) => recordSuspectedDuplicate(tx, { patientId: a, otherPatientId: 'gone', grade: 'x', score: 1, createdBy: 's' }))).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});
