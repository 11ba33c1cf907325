import type { AccessContext } from '../access/context.js';
import { signInPatient, type PatientSecondFactor, type SignInResult } from '../access/authenticate.js';
import { readPatient } from '../records/patient.js';
import type { Medface } from './context.js';
import { identifyProbe } from './identify.js';
import { checkLiveness, isChallengeRefusal, type LivenessAttempt } from './liveness.js';

/** The frames filmed for a portal sign-in liveness challenge (required: a photo must not open a record), and the second factor. */
export interface PatientSignIn extends LivenessAttempt {
  secondFactor: PatientSecondFactor;
  /** The client address or kiosk id, counted and audited. */
  client: string | null;
}

/**
 * Patient portal sign-in: the active liveness check on the frames, then the face of the verified sequence's
 * match frame identifies the patient (the gallery's best match at or above the calibrated threshold), then
 * the access module checks the second factor, throttles and audits. A failed liveness check is a failed
 * sign-in like any other (the check's own audit entry says why).
 */
export function signInPatientWithFace(medface: Medface, access: AccessContext, request: PatientSignIn): Promise<SignInResult> {
  const who = { actor: 'anonymous', client: request.client };
  return signInPatient(
    access,
    { secondFactor: request.secondFactor, client: request.client },
    async () => {
      let probe;
      try {
        probe = (await checkLiveness(medface, 'portal-sign-in', request, who)).embedding;
      } catch (e) {
        if (isChallengeRefusal(e)) return null;
        throw e;
      }
      if (!probe) return null;
      const found = await identifyProbe(medface, probe, 1, who, { liveness: request.challengeId });
      const best = found.candidates[0];
      return best ? { patientId: best.patientId, match: true, grade: best.grade, score: best.score } : null;
    },
    async (patientId) => (await readPatient(medface.store, patientId)).birthDate ?? null,
  );
}
