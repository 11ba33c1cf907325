import { beforeEach, describe, expect, it } from 'vitest';
import { MedfaceError } from '../../src/errors.js';
import { activeBiometricConsent, BIOMETRIC_CATEGORY, grantBiometricConsent, RECORDED_BY_URL, validateConsent, withdrawBiometricConsent } from '../../src/records/consent.js';
import type { Consent } from '../../src/records/fhir.js';
import { createPatient } from '../../src/records/patient.js';
import { describeEachFreshStore } from '../store/harness.js';

const NOTICE = 'https://clinic.example/notices/face-recognition-v2';

describe('validateConsent', () => {
  const base: Consent = {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [BIOMETRIC_CATEGORY] }],
    patient: { reference: 'Patient/p1' },
    dateTime: '2024-05-01T10:00:00Z',
    policy: [{ uri: NOTICE }],
  };

  const paths = (input: unknown): string[] => {
    try {
      validateConsent(input);
    } catch (e) {
      if (e instanceof MedfaceError) return (e.details as { issues: { path: string }[] }).issues.map((i) => i.path);
    }
    return [];
  };

  it('accepts an R4 Consent and refuses broken ones with the failing path', () => {
    expect(validateConsent(base)).toBe(base);
    expect(paths({ ...base, status: 'withdrawn' })).toEqual(['Consent.status']);
    expect(paths({ ...base, category: [] })).toEqual(['Consent.category']);
    expect(paths({ ...base, policy: undefined })).toEqual(['Consent']); // ppc-1
    expect(paths({ ...base, patient: undefined })).toEqual(['Consent.patient']); // ppc-2
    expect(paths({ ...base, patient: { reference: 'Group/1' } })).toEqual(['Consent.patient.reference']);
    expect(paths({ ...base, dateTime: '2024-05-01T10:00:00' })).toEqual(['Consent.dateTime']); // time needs a zone
    expect(paths({ ...base, dateTime: '2024-05-01T25:00:00Z' })).toEqual(['Consent.dateTime']);
    expect(paths({ ...base, extension: [{ url: 'urn:x' }] })).toEqual(['Consent.extension[0]']);
    expect(paths({ ...base, provision: { type: 'allow' } })).toEqual(['Consent.provision.type']);
  });
});

describeEachFreshStore('biometric consent', (fresh) => {
  let patientId: string;
  beforeEach(async () => {
    patientId = (await createPatient(fresh.store, { resourceType: 'Patient', name: [{ family: 'Okafor', given: ['Chidi'] }] })).id as string;
  });

  it('grants with recorder, date and notice, supersedes, and withdraws', async () => {
    expect(await activeBiometricConsent(fresh.store, patientId)).toBeNull();
    const first = await fresh.store.transaction((tx) => grantBiometricConsent(tx, { patientId, recordedBy: 'nurse-7', noticeUri: NOTICE, at: new Date('2024-05-01T10:00:00Z') }));
    expect(first).toMatchObject({
      status: 'active',
      patient: { reference: `Patient/${patientId}` },
      dateTime: '2024-05-01T10:00:00.000Z',
      policy: [{ uri: NOTICE }],
      provision: { type: 'permit', period: { start: '2024-05-01T10:00:00.000Z' } },
      extension: [{ url: RECORDED_BY_URL, valueReference: { identifier: { value: 'nurse-7' } } }],
    });
    expect((await activeBiometricConsent(fresh.store, patientId))?.id).toBe(first.id);

    const second = await fresh.store.transaction((tx) => grantBiometricConsent(tx, { patientId, recordedBy: 'nurse-8', noticeUri: NOTICE + '-v3' }));
    expect((await activeBiometricConsent(fresh.store, patientId))?.id).toBe(second.id);
    const history = await fresh.store.listConsents(patientId);
    expect(history.map((c) => [c.id, c.status])).toEqual(
      expect.arrayContaining([
        [first.id, 'inactive'],
        [second.id, 'active'],
      ]),
    );

    const withdrawn = await fresh.store.transaction((tx) => withdrawBiometricConsent(tx, patientId));
    expect(withdrawn).toMatchObject({ id: second.id, status: 'inactive', meta: { versionId: '2' } });
    expect(withdrawn.provision?.period?.end).toBeDefined();
    expect(await activeBiometricConsent(fresh.store, patientId)).toBeNull();
    await expect(fresh.store.transaction((tx) => withdrawBiometricConsent(tx, patientId))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('refuses consent for an unknown patient', async () => {
    await expect(fresh.store.transaction((tx) => grantBiometricConsent(tx, { patientId: 'missing', recordedBy: 'u', noticeUri: NOTICE }))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('keeps exactly one active consent when grants race', async () => {
    await Promise.all(Array.from({ length: 6 }, (_, i) => fresh.store.transaction((tx) => grantBiometricConsent(tx, { patientId, recordedBy: `u${i}`, noticeUri: NOTICE }))));
    const consents = await fresh.store.listConsents(patientId);
    expect(consents).toHaveLength(6);
    expect(consents.filter((c) => c.status === 'active')).toHaveLength(1);
  });
});
