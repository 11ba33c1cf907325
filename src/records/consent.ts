import { randomUUID } from 'node:crypto';
import { MedfaceError } from '../errors.js';
import type { ConsentRow, Repository } from '../store/types.js';
import type { Coding, Consent } from './fhir.js';
import { array, code, codeableConcept, dateTime, extension, id, localReference, meta, object, period, reference, required, uri, validateResource } from './validate.js';

/** Privacy consent: "agreement to collect, access, use or disclose information" (R4 consentscope). */
export const CONSENT_SCOPE: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/consentscope',
  code: 'patient-privacy',
  display: 'Privacy Consent',
};

/** What this consent is about: medface's own code, next to LOINC's generic "Patient Consent". */
export const BIOMETRIC_CATEGORY: Coding = {
  system: 'urn:medface:consent-category',
  code: 'biometric-identification',
  display: 'Face recognition for patient identification',
};
const LOINC_PATIENT_CONSENT: Coding = { system: 'http://loinc.org', code: '59284-0', display: 'Patient Consent' };
const CONSENT_ACTION = 'http://terminology.hl7.org/CodeSystem/consentaction';

/** Who (which medface user) recorded the consent. */
export const RECORDED_BY_URL = 'urn:medface:fhir:consent-recorded-by';
export const USER_SYSTEM = 'urn:medface:user';

const consentCheck = object(
  {
    resourceType: code(['Consent']),
    id,
    meta,
    extension: array(extension),
    status: required(code(['draft', 'proposed', 'active', 'rejected', 'inactive', 'entered-in-error'])),
    scope: required(codeableConcept),
    category: required(array(codeableConcept)),
    patient: localReference(['Patient']),
    dateTime,
    performer: array(reference),
    organization: array(reference),
    policy: array(
      object({ authority: uri, uri }, (o, path, issues) => {
        if (o.authority === undefined && o.uri === undefined) issues.push({ path, message: 'needs an authority or a uri' });
      }),
    ),
    policyRule: codeableConcept,
    provision: object({ type: code(['deny', 'permit']), period, action: array(codeableConcept) }),
  },
  (o, path, issues) => {
    // ppc-1: either a policy or a policyRule
    if (o.policy === undefined && o.policyRule === undefined) issues.push({ path, message: 'needs a policy or a policyRule' });
    // ppc-2: a privacy consent names its patient
    const scope = o.scope as { coding?: Coding[] } | undefined;
    if (scope?.coding?.some((c) => c.code === 'patient-privacy') && o.patient === undefined) {
      issues.push({ path: `${path}.patient`, message: 'is required for a privacy consent' });
    }
  },
);

/** Checks a Consent resource; throws VALIDATION_FAILED naming every failing element's path. */
export function validateConsent(input: unknown): Consent {
  return validateResource<Consent>('Consent', consentCheck, input);
}

function isBiometric(c: Consent): boolean {
  return c.category.some((cc) => cc.coding?.some((x) => x.system === BIOMETRIC_CATEGORY.system && x.code === BIOMETRIC_CATEGORY.code));
}

function toRow(c: Consent, patientId: string, versionId: number, lastUpdated: string): ConsentRow {
  return {
    id: c.id as string,
    patientId,
    status: c.status,
    scope: c.scope.coding?.[0]?.code ?? '',
    category: isBiometric(c) ? (BIOMETRIC_CATEGORY.code as string) : (c.category[0]?.coding?.[0]?.code ?? ''),
    versionId,
    lastUpdated,
    resource: c,
  };
}

export interface GrantConsent {
  patientId: string;
  /** The medface user who recorded the consent. */
  recordedBy: string;
  /** The privacy notice (with its version) the patient was shown, e.g. `https://clinic.example/notices/face-v3`. */
  noticeUri: string;
  /** Who gave consent when not the patient (a parent or guardian as RelatedPerson/id). */
  grantor?: NonNullable<Consent['performer']>[number];
  at?: Date;
}

/**
 * Records an active biometric-identification consent. A consent already active is superseded (made
 * inactive, its permit period ended) so exactly one is active. Call inside a store transaction.
 */
export async function grantBiometricConsent(tx: Repository, grant: GrantConsent): Promise<Consent> {
  if (!(await tx.lockPatient(grant.patientId))) throw new MedfaceError('NOT_FOUND', 'no such patient', { patientId: grant.patientId });
  const now = (grant.at ?? new Date()).toISOString();
  await endActiveConsent(tx, grant.patientId, now);
  const patientRef = { reference: `Patient/${grant.patientId}` };
  const consent = validateConsent({
    resourceType: 'Consent',
    id: randomUUID(),
    meta: { versionId: '1', lastUpdated: now },
    extension: [{ url: RECORDED_BY_URL, valueReference: { identifier: { system: USER_SYSTEM, value: grant.recordedBy } } }],
    status: 'active',
    scope: { coding: [CONSENT_SCOPE] },
    category: [{ coding: [LOINC_PATIENT_CONSENT] }, { coding: [BIOMETRIC_CATEGORY] }],
    patient: patientRef,
    dateTime: now,
    performer: [grant.grantor ?? patientRef],
    policy: [{ uri: grant.noticeUri }],
    provision: {
      type: 'permit',
      period: { start: now },
      action: [{ coding: [{ system: CONSENT_ACTION, code: 'collect' }] }, { coding: [{ system: CONSENT_ACTION, code: 'use' }] }],
    },
  } satisfies Consent);
  await tx.insertConsent(toRow(consent, grant.patientId, 1, now));
  return consent;
}

/**
 * Withdraws the active biometric consent: status inactive, permit period ended now. Removing the
 * patient's templates and photos in the same transaction is the caller's (the consent service's) part.
 */
export async function withdrawBiometricConsent(tx: Repository, patientId: string, at: Date = new Date()): Promise<Consent> {
  if (!(await tx.lockPatient(patientId))) throw new MedfaceError('NOT_FOUND', 'no such patient', { patientId });
  const ended = await endActiveConsent(tx, patientId, at.toISOString());
  if (!ended) throw new MedfaceError('NOT_FOUND', 'the patient has no active biometric consent', { patientId });
  return ended;
}

/** The active biometric consent, or null: no template may be stored without one. */
export async function activeBiometricConsent(repo: Repository, patientId: string): Promise<Consent | null> {
  const row = await repo.getActiveConsent(patientId, BIOMETRIC_CATEGORY.code as string);
  return row ? (row.resource as Consent) : null;
}

async function endActiveConsent(tx: Repository, patientId: string, at: string): Promise<Consent | null> {
  const row = await tx.getActiveConsent(patientId, BIOMETRIC_CATEGORY.code as string);
  if (!row) return null;
  const current = row.resource as Consent;
  const versionId = row.versionId + 1;
  const ended = validateConsent({
    ...current,
    meta: { versionId: String(versionId), lastUpdated: at },
    status: 'inactive',
    provision: { ...current.provision, period: { ...current.provision?.period, end: at } },
  } satisfies Consent);
  if (!(await tx.updateConsent(toRow(ended, patientId, versionId, at), row.versionId))) {
    throw new MedfaceError('CONFLICT', 'the consent was changed by someone else; try again', { patientId });
  }
  return ended;
}
