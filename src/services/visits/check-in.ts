import { PATIENT_CANDIDATES } from '../../access/authenticate.js';
import type { AccessContext } from '../../access/context.js';
import { guard, type Caller } from '../../access/guard.js';
import { isMedfaceError } from '../../errors.js';
import { createCheckInEncounter } from '../../records/clinical.js';
import { readPatient } from '../../records/patient.js';
import { auditScore, type Actor } from '../auditing.js';
import type { Medface } from '../context.js';
import { identifyProbe, type IdentifyCandidate } from '../biometrics/identify.js';
import { tellPatient } from '../patients/notices.js';
import { checkLiveness, isChallengeRefusal, type LivenessAttempt } from '../biometrics/liveness.js';

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
 * photo held up to the camera must not check anyone in), then the probe fused from the best frames inside the verified
 * sequence is searched 1:N (the candidates at or above the identification threshold for the gallery's size,
 * up to PATIENT_CANDIDATES), the date of birth picks the one candidate it belongs to — a wrong patient
 * ranked first does not send the right one to the desk — and an Encounter with status `arrived` is opened;
 * the patient is told of faces added to their record since their last visit (services/patients/notices.ts).
 * No candidate confirmed, or more than one, is a failure like every other: `{checkedIn: false}`, the same
 * answer as for a face that matched nobody. Malformed frames and a busy engine are errors, which reveal
 * nothing about who was matched.
 */
export async function checkIn(medface: Medface, access: AccessContext, caller: Caller, request: CheckInRequest): Promise<CheckInResult> {
  const who: Actor = { actor: caller.principal.id, client: caller.client ?? null };
  let live;
  try {
    live = await checkLiveness(medface, 'check-in', request, who);
  } catch (e) {
    if (isChallengeRefusal(e)) return refused(medface, who, null, 'liveness');
    throw e;
  }
  if (!live.embedding) return refused(medface, who, null, 'liveness');
  const older = await medface.faces.olderModelFrameProbes(live.probeImages);
  const found = await identifyProbe(medface, live.embedding, PATIENT_CANDIDATES, who, { liveness: request.challengeId }, older);
  if (found.candidates.length === 0) return refused(medface, who, null, 'no-match');
  const checked: (IdentifyCandidate & { confirmed: boolean })[] = [];
  for (const c of found.candidates) checked.push({ ...c, confirmed: sameBirthDate((await readPatient(medface.store, c.patientId)).birthDate ?? null, request.birthDate) });
  const confirmed = checked.filter((c) => c.confirmed);
  const candidates = checked.map((c) => ({ patientRef: medface.audit.patientRef(c.patientId), score: auditScore(c.score), grade: c.grade, confirmed: c.confirmed }));
  if (confirmed.length !== 1) return refused(medface, who, checked[0]!.patientId, confirmed.length === 0 ? 'second-factor' : 'ambiguous', candidates);
  const candidate = confirmed[0]!;

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
      // which of the face's candidates the date of birth picked (1: the best-scoring one)
      details: { encounterId: created.id, grade: candidate.grade, rank: checked.indexOf(candidate) + 1, candidates: checked.length },
    });
    const told = await tellPatient(medface, tx, who, candidate.patientId, 'visit', new Date().toISOString());
    return { encounter: created, notices: told.map(({ kind, at }) => ({ kind, at })) };
  });
  return { checkedIn: true, encounterId: encounter.id as string, notices };
}

/** A refused check-in, audited with the reason and the candidates the date of birth was checked against (as pseudonyms). */
async function refused(medface: Medface, who: Actor, patientId: string | null, reason: 'liveness' | 'no-match' | 'second-factor' | 'ambiguous', candidates?: object[]): Promise<CheckInResult> {
  const details = { reason, ...(candidates && { candidates }) };
  await medface.audit.record(medface.store, { ...who, action: 'encounter.check-in', outcome: 'failure', patientId, details });
  return NOT_CHECKED_IN;
}

/** Only a full recorded date confirms identity: a partial one (1980, 1980-05) would be too easy to hit. */
function sameBirthDate(recorded: string | null, typed: string): boolean {
  return recorded !== null && /^\d{4}-\d{2}-\d{2}$/.test(recorded) && recorded === typed.trim();
}
