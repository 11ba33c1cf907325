import type { AccessContext } from '../access/context.js';
import { signInPatient, type PatientSecondFactor, type SignInResult } from '../access/authenticate.js';
import { readPatient } from '../records/patient.js';
import type { Medface } from './context.js';
import { identify } from './identify.js';

export interface PatientSignIn {
  /** A capture of the patient's face. */
  image: Uint8Array;
  secondFactor: PatientSecondFactor;
  /** The client address or kiosk id, counted and audited. */
  client: string | null;
}

/**
 * Patient portal sign-in: the face identifies the patient (the gallery's best match at or above the
 * calibrated threshold), then the access module checks the second factor, throttles and audits.
 */
export function signInPatientWithFace(medface: Medface, access: AccessContext, request: PatientSignIn): Promise<SignInResult> {
  const who = { actor: 'anonymous', client: request.client };
  return signInPatient(
    access,
    { secondFactor: request.secondFactor, client: request.client },
    async () => {
      const found = await identify(medface, { image: request.image, top: 1 }, who);
      const best = found.candidates[0];
      return best ? { patientId: best.patientId, match: true, grade: best.grade, score: best.score } : null;
    },
    async (patientId) => (await readPatient(medface.store, patientId)).birthDate ?? null,
  );
}
