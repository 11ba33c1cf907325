import { randomUUID } from 'node:crypto';
import { beforeEach, expect, it } from 'vitest';
import type { PatientNoticeRow } from '../../src/store/types.js';
import { describeEachFreshStore } from './harness.js';

describeEachFreshStore('patient notices', (fresh) => {
  const patients = [randomUUID(), randomUUID()];

  beforeEach(async () => {
    for (const id of patients) {
      await fresh.store.insertPatient(
        { id, versionId: 1, lastUpdated: new Date().toISOString(), resource: { resourceType: 'Patient', id } },
        { nameTokens: [], sortName: '', birthDate: null, gender: null, identifiers: [] },
      );
    }
  });

  const notice = (patientId: string, createdAt: string): PatientNoticeRow => ({ id: randomUUID(), patientId, kind: 'face-added', createdAt, portalShownAt: null, visitShownAt: null });

  it('keeps a patient’s notices until each channel has shown them, once', async () => {
    const first = notice(patients[0]!, '2026-05-01T10:00:00.000Z');
    const second = notice(patients[0]!, '2026-05-02T10:00:00.000Z');
    const other = notice(patients[1]!, '2026-05-01T11:00:00.000Z');
    for (const n of [second, first, other]) await fresh.store.insertPatientNotice(n);
    expect(await fresh.store.listPatientNotices(patients[0]!)).toEqual([first, second]);

    const portal = await fresh.store.markPatientNoticesShown(patients[0]!, 'portal', '2026-05-03T09:00:00.000Z');
    expect(portal.map((n) => n.id)).toEqual([first.id, second.id]);
    expect(await fresh.store.markPatientNoticesShown(patients[0]!, 'portal', '2026-05-04T09:00:00.000Z')).toEqual([]);
    // the visit channel has its own mark; the other patient's notice is untouched
    expect((await fresh.store.markPatientNoticesShown(patients[0]!, 'visit', '2026-05-05T09:00:00.000Z')).map((n) => n.id)).toEqual([first.id, second.id]);
    expect(await fresh.store.listPatientNotices(patients[0]!)).toEqual([
      { ...first, portalShownAt: '2026-05-03T09:00:00.000Z', visitShownAt: '2026-05-05T09:00:00.000Z' },
      { ...second, portalShownAt: '2026-05-03T09:00:00.000Z', visitShownAt: '2026-05-05T09:00:00.000Z' },
    ]);
    expect(await fresh.store.listPatientNotices(patients[1]!)).toEqual([other]);
  });
});
