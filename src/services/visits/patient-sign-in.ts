import type { AccessContext } from '../../access/context.js';
import { PATIENT_CANDIDATES, signInPatient, type PatientSecondFactor, type SignInResult } from '../../access/authenticate.js';
import { readPatient } from '../../records/patient.js';
import type { Medface } from '../context.js';
import { identifyProbe } from '../biometrics/identify.js';
import { checkLiveness, isChallengeRefusal, livenessFailed, type LivenessAttempt } from '../biometrics/liveness.js';

/** The frames filmed for a portal sign-in liveness challenge (required: a photo must not open a record), and the second factor. */
export interface PatientSignIn extends LivenessAttempt {
  secondFactor: PatientSecondFactor;
  /** The client address or kiosk id, counted and audited. */
  client: string | null;
}

/**
 * Patient portal sign-in: the active liveness check on the frames, then the probe fused from the verified
 * sequence's best frames is searched 1:N, older models' templates too (every candidate at or above the
 * identification threshold for the gallery's size, not only the best), then the access module keeps the one
 * candidate the second factor confirms, throttles and audits. A failed liveness check is refused as
 * LIVENESS_FAILED, before any search, so the page asks for a new filming instead of blaming the date of birth
 * (issue 16); it reveals nothing about the gallery.
 */
export function signInPatientWithFace(medface: Medface, access: AccessContext, request: PatientSignIn): Promise<SignInResult> {
  const who = { actor: 'anonymous', client: request.client };
  return signInPatient(
    access,
    { secondFactor: request.secondFactor, client: request.client },
    async () => {
      let live;
      try {
        live = await checkLiveness(medface, 'portal-sign-in', request, who);
      } catch (e) {
        if (isChallengeRefusal(e)) return [];
        throw e;
      }
      if (!live.embedding) throw livenessFailed(live.verdict);
      const older = await medface.faces.olderModelFrameProbes(live.probeImages);
      return (await identifyProbe(medface, live.embedding, PATIENT_CANDIDATES, who, { liveness: request.challengeId }, older)).candidates;
    },
    async (patientId) => (await readPatient(medface.store, patientId)).birthDate ?? null,
  );
}
