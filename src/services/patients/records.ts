import type { AccessContext } from '../../access/context.js';
import type { Caller } from '../../access/guard.js';
import { authorize } from '../../access/policy.js';
import type { IdentityEstablished } from '../../access/sessions.js';
import { MedfaceError } from '../../errors.js';
import { readChart, type ChartResources } from '../../records/chart.js';
import { CLINICAL_RESOURCE_TYPES, isClinicalResourceType } from '../../records/clinical-checks.js';
import { createClinicalResource, listClinicalResources, patientIdOf, readClinicalResource, updateClinicalResource } from '../../records/clinical.js';
import type { ClinicalResource, ClinicalResourceType, Consent, Patient } from '../../records/fhir.js';
import { auditedChange, type Actor } from '../auditing.js';
import type { Medface } from '../context.js';

/**
 * The medical record as people read and write it: the chart, single clinical resources, a patient's
 * resources of one type and their consents. Every read and write of PHI is an audit entry (ids and counts,
 * never content). Whether the caller may perform the operation at all is decided by the policy before
 * these run; the chart also asks the policy what part of the record the caller may see.
 */

export interface ChartView {
  patient: Patient;
  resources: ChartResources;
  /** How identity was established for the viewing session (null for an API client): shown with the record. */
  identity: IdentityEstablished | null;
  /** Set when the view rests on a break-glass grant: the record must show it prominently. */
  breakGlass: { grantId: string; expiresAt: string } | null;
}

/**
 * The chart, limited to what the caller may see: every clinical type with `record.read`, encounters only
 * with `encounter.read` (front desk), demographics otherwise.
 */
export async function readPatientChart(medface: Medface, access: AccessContext, caller: Caller, patientId: string, identity: IdentityEstablished | null): Promise<ChartView> {
  const who = actorOf(caller);
  const at = access.now();
  const full = await authorize(caller.principal, 'record.read', { patientId }, access.hooks, at);
  const encounters = full.allowed ? full : await authorize(caller.principal, 'encounter.read', { patientId }, access.hooks, at);
  const types: readonly ClinicalResourceType[] = full.allowed ? CLINICAL_RESOURCE_TYPES : encounters.allowed ? ['Encounter'] : [];
  const grantId = full.allowed ? full.breakGlassGrantId : encounters.allowed ? encounters.breakGlassGrantId : undefined;
  return auditedChange(medface, who, 'record.read', patientId, async (tx) => {
    const chart = await readChart(tx, patientId, types);
    const grant = grantId === undefined ? null : await tx.getBreakGlassGrant(grantId);
    return {
      result: { ...chart, identity, breakGlass: grant && { grantId: grant.id, expiresAt: grant.expiresAt } },
      patientId,
      details: { view: 'chart', types: [...types], ...(grant && { breakGlassGrantId: grant.id }) },
    };
  });
}

/** The patient a clinical resource belongs to (what access to it is decided on); NOT_FOUND when there is none. */
export async function patientOfResource(medface: Medface, resourceType: string, id: string): Promise<string> {
  if (!isClinicalResourceType(resourceType)) throw new MedfaceError('NOT_FOUND', `no such resource type ${resourceType}`);
  return patientIdOf(await readClinicalResource(medface.store, resourceType, id));
}

/** The patient a resource about to be written names (its subject, or `patient` for AllergyIntolerance). */
export function patientOfInput(input: unknown): string | null {
  const r = input as { resourceType?: unknown; subject?: { reference?: unknown }; patient?: { reference?: unknown } } | null;
  const reference = r?.resourceType === 'AllergyIntolerance' ? r.patient?.reference : r?.subject?.reference;
  return typeof reference === 'string' && reference.startsWith('Patient/') ? reference.slice('Patient/'.length) : null;
}

export function readRecord(medface: Medface, resourceType: ClinicalResourceType, id: string, who: Actor): Promise<ClinicalResource> {
  return auditedChange(medface, who, 'record.read', null, async (tx) => {
    const resource = await readClinicalResource(tx, resourceType, id);
    return { result: resource, patientId: patientIdOf(resource), details: { resourceType, id } };
  });
}

export function listRecords(medface: Medface, patientId: string, resourceType: ClinicalResourceType, who: Actor): Promise<ClinicalResource[]> {
  return auditedChange(medface, who, 'record.read', patientId, async (tx) => {
    const resources = await listClinicalResources(tx, patientId, [resourceType]);
    return { result: resources, patientId, details: { resourceType, results: resources.length } };
  });
}

export function createRecord(medface: Medface, input: unknown, who: Actor): Promise<ClinicalResource> {
  return auditedChange(medface, who, 'record.create', patientOfInput(input), async (tx) => {
    const resource = await createClinicalResource(tx, input);
    return { result: resource, patientId: patientIdOf(resource), details: { resourceType: resource.resourceType, id: resource.id } };
  });
}

export function updateRecord(medface: Medface, input: unknown, who: Actor): Promise<ClinicalResource> {
  return auditedChange(medface, who, 'record.update', patientOfInput(input), async (tx) => {
    const resource = await updateClinicalResource(tx, input);
    return { result: resource, patientId: patientIdOf(resource), details: { resourceType: resource.resourceType, id: resource.id, versionId: resource.meta?.versionId } };
  });
}

/** Every biometric consent the patient gave (active and withdrawn), oldest first. */
export function listConsents(medface: Medface, patientId: string, who: Actor): Promise<Consent[]> {
  return auditedChange(medface, who, 'consent.read', patientId, async (tx) => {
    if (!(await tx.getPatient(patientId))) throw new MedfaceError('NOT_FOUND', 'no such patient', { patientId });
    const consents = (await tx.listConsents(patientId)).map((row) => row.resource as Consent);
    return { result: consents, patientId, details: { results: consents.length } };
  });
}

/** The patient a consent belongs to; NOT_FOUND when there is no such consent. */
export async function patientOfConsent(medface: Medface, consentId: string): Promise<string> {
  const row = await medface.store.getConsent(consentId);
  if (!row) throw new MedfaceError('NOT_FOUND', 'no such Consent', { id: consentId });
  return row.patientId;
}

export function readConsent(medface: Medface, consentId: string, who: Actor): Promise<Consent> {
  return auditedChange(medface, who, 'consent.read', null, async (tx) => {
    const row = await tx.getConsent(consentId);
    if (!row) throw new MedfaceError('NOT_FOUND', 'no such Consent', { id: consentId });
    return { result: row.resource as Consent, patientId: row.patientId, details: { id: consentId } };
  });
}

export function actorOf(caller: Caller): Actor {
  return { actor: caller.principal.id, client: caller.client ?? null };
}
