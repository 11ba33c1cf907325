import type { AccessContext } from '../access/context.js';
import { guard, type Caller } from '../access/guard.js';
import { isMedfaceError } from '../errors.js';
import { createCheckInEncounter } from '../records/clinical.js';
import { readPatient } from '../records/patient.js';
import type { Actor } from './auditing.js';
import type { Medface } from './context.js';
import { identifyProbe } from './identify.js';
import { tellPatient } from './notices.js';
import { checkLiveness, isChallengeRefusal, type LivenessAttempt } from './liveness.js';

export interface CheckInRequest extends LivenessAttempt {
  /** The second factor the patient types: their date of birth, YYYY-MM-DD. */
  birthDate: string;
}

/**
 * The kiosk's answer. A failure says nothing more than "see the front desk": not whether the face matched
 * anyone, nor which factor failed (the audit trail records that for staff).
 */
export type CheckInResult = { checkedIn: true; encounterId: string; notices: { kind: 'face-added'; at: string }[] } | { checkedIn: false };

const NOT_CHECKED_IN: CheckInResult = { checkedIn: false };

/**
 * Kiosk check-in: the active liveness check on the frames filmed for the kiosk's challenge (required: a
 * photo held up to the camera must not check anyone in), then the face of a frame inside the verified
 * sequence identifies the patient (1:N, only at or above the calibrated threshold), the date of birth
 * confirms it, and an Encounter with status `arrived` is opened; the patient is told of faces added to their
 * record since their last visit (services/notices.ts). A failed liveness check, like every other
 * failure, is `{checkedIn: false}`; malformed frames and a busy engine are errors, which reveal nothing
 * about who was matched.
 */
export async function checkIn(medface: Medface, access: AccessContext, caller: Caller, request: CheckInRequest): Promise<CheckInResult> {
  const who: Actor = { actor: caller.principal.id, client: caller.client ?? null };
  let probe;
  try {
    const live = await checkLiveness(medface, 'check-in', request, who);
    probe = live.embedding;
    if (!probe) return refused(medface, who, null, 'liveness');
  } catch (e) {
    if (isChallengeRefusal(e)) return refused(medface, who, null, 'liveness');
    throw e;
  }
  const found = await identifyProbe(medface, probe, 1, who, { liveness: request.challengeId });
  const candidate = found.candidates[0];
  if (!candidate) return refused(medface, who, null, 'no-match');

  const recorded = (await readPatient(medface.store, candidate.patientId)).birthDate ?? null;
  if (!sameBirthDate(recorded, request.birthDate)) return refused(medface, who, candidate.patientId, 'second-factor');

  try {
    await guard(access, caller, 'encounter.check-in', { patientId: candidate.patientId });
  } catch (e) {
    // the refusal is audited by the guard; the kiosk learns nothing a failed match would not tell it
    if (isMedfaceError(e) && e.code === 'FORBIDDEN') return NOT_CHECKED_IN;
    throw e;
  }
  const { encounter, notices } = await medface.store.transaction(async (tx) => {
    const created = await createCheckInEncounter(tx, candidate.patientId);
    await medface.audit.append(tx, {
      ...who,
      action: 'encounter.check-in',
      outcome: 'success',
      patientId: candidate.patientId,
      details: { encounterId: created.id, grade: candidate.grade },
    });
    const told = await tellPatient(medface, tx, who, candidate.patientId, 'visit', new Date().toISOString());
    return { encounter: created, notices: told.map(({ kind, at }) => ({ kind, at })) };
  });
  return { checkedIn: true, encounterId: encounter.id as string, notices };
}

async function refused(medface: Medface, who: Actor, patientId: string | null, reason: 'liveness' | 'no-match' | 'second-factor'): Promise<CheckInResult> {
  await medface.store.transaction((tx) => medface.audit.append(tx, { ...who, action: 'encounter.check-in', outcome: 'failure', patientId, details: { reason } }));
  return NOT_CHECKED_IN;
}

/** Only a full recorded date confirms identity: a partial one (1980, 1980-05) would be too easy to hit. */
function sameBirthDate(recorded: string | null, typed: string): boolean {
  return recorded !== null && /^\d{4}-\d{2}-\d{2}$/.test(recorded) && recorded === typed.trim();
}
