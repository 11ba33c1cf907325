import { MedfaceError } from '../errors.js';
import type { IdentificationDecision } from '../identity/identification.js';
import { decide, type MatchGrade } from '../identity/match.js';
import { auditScore, withFailureAudit, type Actor } from './auditing.js';
import type { Medface } from './context.js';
import type { Embedding } from '../face/types.js';

export interface IdentifyRequest {
  image: Uint8Array;
  /** Most candidates returned (default 3). */
  top?: number;
}

export interface IdentifyCandidate {
  patientId: string;
  score: number;
  grade: MatchGrade;
}

export interface IdentifyResult {
  /** At least one patient reaches the operating 1:N threshold. */
  match: boolean;
  /** Only patients at or above the threshold, best first: never the nearest stranger. */
  candidates: IdentifyCandidate[];
  /** The operating 1:N threshold at the gallery's current size. */
  threshold: number;
  /** Patients in the gallery the threshold was sized for. */
  galleryPatients: number;
  /** The false-positive identification rate per search the threshold holds at that size. */
  fpir: number;
  model: string;
}

export const DEFAULT_IDENTIFY_TOP = 3;
const MAX_IDENTIFY_TOP = 20;

/**
 * 1:N identification: which enrolled patients is the face in the capture? The gallery's k nearest patients
 * are graded with the model's identification thresholds at the gallery's current size (a larger gallery
 * needs a higher score for the same false-positive rate per search) and only matches are returned; below
 * the threshold the answer is `{ match: false, candidates: [] }`, however close the nearest template was.
 */
export function identify(medface: Medface, request: IdentifyRequest, who: Actor): Promise<IdentifyResult> {
  const top = request.top ?? DEFAULT_IDENTIFY_TOP;
  return withFailureAudit(medface, who, 'biometric.identify', null, async () => {
    if (!Number.isInteger(top) || top < 1 || top > MAX_IDENTIFY_TOP) {
      throw new MedfaceError('INVALID_ARGUMENT', `top must be an integer from 1 to ${MAX_IDENTIFY_TOP}`);
    }
    const face = await medface.embed(request.image, 'identify');
    return identifyProbe(medface, face.embedding, top, who, { quality: face.quality.reasons });
  });
}

/**
 * The search and audit of `identify` for a probe embedded already: the image path above, and a frame of a
 * verified liveness sequence (`evidence` says which: quality reasons, or the liveness challenge).
 */
export async function identifyProbe(medface: Medface, probe: Embedding, top: number, who: Actor, evidence: Record<string, unknown>): Promise<IdentifyResult> {
  const model = probe.model;
  const thresholds = medface.identificationThresholds(model);
  const candidates = await gradedCandidates(medface, probe, top, thresholds, thresholds.match);
  const match = candidates.length > 0;
  const sized = { threshold: thresholds.match, galleryPatients: thresholds.galleryPatients, fpir: thresholds.fpir };
  await medface.store.transaction((tx) =>
    medface.audit.append(tx, {
      ...who,
      action: 'biometric.identify',
      outcome: match ? 'success' : 'failure',
      // the best candidate's own trail shows they were identified; the others are in the details
      patientId: candidates[0]?.patientId ?? null,
      details: { match, top, ...sized, model, ...evidence, candidates: auditedCandidates(medface, candidates) },
    }),
  );
  return { match, candidates, ...sized, model };
}

/** The gallery's `top` nearest patients scoring at least `minScore`, best first, with their 1:N grades. */
export async function gradedCandidates(
  medface: Medface,
  probe: Embedding,
  top: number,
  thresholds: IdentificationDecision,
  minScore: number,
): Promise<IdentifyCandidate[]> {
  const hits = await medface.search(medface.protection.transformProbe(probe), top, minScore);
  return hits
    .filter((hit) => hit.score >= minScore)
    .map((hit) => ({ patientId: hit.patientId, score: hit.score, grade: decide(hit.score, thresholds).grade }));
}

/** Candidates as the audit trail may hold them: pseudonymous patients, rounded scores. */
export function auditedCandidates(medface: Medface, candidates: readonly IdentifyCandidate[]): object[] {
  return candidates.map((c) => ({ patientRef: medface.audit.patientRef(c.patientId), score: auditScore(c.score), grade: c.grade }));
}
