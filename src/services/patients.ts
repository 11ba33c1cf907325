import type { Patient } from '../records/fhir.js';
import { createPatient, readPatient, searchPatients, type PatientSearch } from '../records/patient.js';
import { withFailureAudit, type Actor } from './auditing.js';
import type { Medface } from './context.js';

/** Creates a FHIR Patient (validated by records/), audited. */
export function createPatientRecord(medface: Medface, input: unknown, who: Actor): Promise<Patient> {
  return withFailureAudit(medface, who, 'patient.create', null, () =>
    medface.store.transaction(async (tx) => {
      const patient = await createPatient(tx, input);
      await medface.audit.append(tx, { ...who, action: 'patient.create', outcome: 'success', patientId: patient.id! });
      return patient;
    }),
  );
}

/** Reads a patient's record; every access is audited. */
export function readPatientRecord(medface: Medface, patientId: string, who: Actor): Promise<Patient> {
  return withFailureAudit(medface, who, 'patient.read', patientId, () =>
    medface.store.transaction(async (tx) => {
      const patient = await readPatient(tx, patientId);
      await medface.audit.append(tx, { ...who, action: 'patient.read', outcome: 'success', patientId });
      return patient;
    }),
  );
}

/** Searches patients; the audit names which criteria were used and how many records came back, not their values. */
export function searchPatientRecords(medface: Medface, search: PatientSearch, who: Actor): Promise<Patient[]> {
  const criteria = (['name', 'birthDate', 'identifier', 'gender'] as const).filter((k) => search[k] !== undefined);
  return withFailureAudit(medface, who, 'patient.search', null, () =>
    medface.store.transaction(async (tx) => {
      const patients = await searchPatients(tx, search);
      await medface.audit.append(tx, { ...who, action: 'patient.search', outcome: 'success', details: { criteria, results: patients.length } });
      return patients;
    }),
  );
}
