import type { Patient } from '../../records/fhir.js';
import { isMedfaceError, MedfaceError } from '../../errors.js';
import { createPatient, readPatient, searchPatients, updatePatient, type PatientSearch } from '../../records/patient.js';
import { auditedChange, type Actor } from '../auditing.js';
import type { Medface } from '../context.js';

/** Creates a FHIR Patient (validated by records/), audited. */
export function createPatientRecord(medface: Medface, input: unknown, who: Actor): Promise<Patient> {
  return auditedChange(medface, who, 'patient.create', null, async (tx) => {
    const patient = await createPatient(tx, input);
    return { result: patient, patientId: patient.id! };
  });
}

/** Reads a patient's record; every access is audited. */
export function readPatientRecord(medface: Medface, patientId: string, who: Actor): Promise<Patient> {
  return auditedChange(medface, who, 'patient.read', patientId, async (tx) => {
    const patient = await readPatient(tx, patientId);
    return { result: patient, patientId };
  });
}

/** Searches patients; the audit names which criteria were used and how many records came back, not their values. */
export function searchPatientRecords(medface: Medface, search: PatientSearch, who: Actor): Promise<Patient[]> {
  const criteria = (['name', 'birthDate', 'identifier', 'gender'] as const).filter((k) => search[k] !== undefined);
  return auditedChange(medface, who, 'patient.search', null, async (tx) => {
    const patients = await searchPatients(tx, search);
    return { result: patients, details: { criteria, results: patients.length } };
  });
}

/**
 * Replaces a patient's demographics (validated by records/). `expectedVersion` is the version the caller
 * edited (an HTTP If-Match): when another change came first the update is refused with PRECONDITION_FAILED
 * and nothing is written. Without it, `meta.versionId` in the body decides (CONFLICT when stale).
 */
export function updatePatientRecord(medface: Medface, input: unknown, who: Actor, expectedVersion?: string): Promise<Patient> {
  const patientId = typeof (input as { id?: unknown } | null)?.id === 'string' ? (input as { id: string }).id : null;
  return auditedChange(medface, who, 'patient.update', patientId, async (tx) => {
    const body = input as Patient;
    const pinned = expectedVersion === undefined ? body : { ...body, meta: { ...body.meta, versionId: expectedVersion } };
    let patient: Patient;
    try {
      patient = await updatePatient(tx, pinned);
    } catch (e) {
      if (expectedVersion !== undefined && isMedfaceError(e) && e.code === 'CONFLICT' && e.details?.patientId !== undefined) {
        throw new MedfaceError('PRECONDITION_FAILED', 'the patient was changed since you read it (If-Match); read it again', { patientId });
      }
      throw e;
    }
    return { result: patient, patientId: patient.id!, details: { versionId: patient.meta?.versionId } };
  });
}
