import type { Repository } from '../store/types.js';
import { CLINICAL_RESOURCE_TYPES } from './clinical-checks.js';
import { listClinicalResources, type ResourceOf } from './clinical.js';
import type { ClinicalResourceType, Patient } from './fhir.js';
import { readPatient } from './patient.js';

/** A patient's clinical resources by type; a type not asked for is absent (not read at all), not empty. */
export type ChartResources = { [T in ClinicalResourceType]?: ResourceOf<T>[] };

export interface Chart {
  patient: Patient;
  resources: ChartResources;
}

/**
 * The record view: the Patient and their clinical resources grouped by type. `types` limits what is read
 * (the caller, having asked the policy, leaves out what the viewer may not see: front desk reads
 * demographics and encounters only). Pass a transaction for one consistent snapshot. How identity was
 * established for the session is the caller's to add.
 */
export async function readChart(repo: Repository, patientId: string, types: readonly ClinicalResourceType[] = CLINICAL_RESOURCE_TYPES): Promise<Chart> {
  const patient = await readPatient(repo, patientId);
  const resources: ChartResources = {};
  for (const type of types) (resources as Record<string, unknown[]>)[type] = [];
  for (const r of await listClinicalResources(repo, patientId, types)) (resources as Record<string, unknown[]>)[r.resourceType]?.push(r);
  return { patient, resources };
}
