import { MedfaceError } from '../../errors.js';
import type { IdentificationDecision } from '../../identity/identification.js';
import { decide, type MatchGrade } from '../../identity/match.js';
import { auditScore, withFailureAudit, type Actor } from '../auditing.js';
import type { Medface } from '../context.js';
import type { Embedding } from '../../face/types.js';
import type { SubjectFace } from '../../face/index.js';

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
/** The most candidates any identification returns. */
export const MAX_CANDIDATES = 20;

/**
 * 1:N identification: which enrolled patients is the face in the capture? The gallery's k nearest patients
 * are graded with the model's identification thresholds at the gallery's current size (a larger gallery
 * needs a higher score for the same false-positive rate per search) and only matches are returned; below
 * the threshold the answer is `{ match: false, candidates: [] }`, however close the nearest template was.
 */
export function identify(medface: Medface, request: IdentifyRequest, who: Actor): Promise<IdentifyResult> {
  const top = request.top ?? DEFAULT_IDENTIFY_TOP;
  return withFailureAudit(medface, who, 'biometric.identify', null, async () => {
    const { face, older } = await probesOf(medface, request.image, top);
    return identifyProbe(medface, face.embedding, top, who, { quality: face.quality.reasons }, older);
  });
}

/**
 * A capture to search with: refused unless `top` is a whole number from 1 to MAX_CANDIDATES, then embedded by the
 * current model (`face`) and by the older ones whose templates are still searched (`older`).
 */
export async function probesOf(medface: Medface, image: Uint8Array, top: number): Promise<{ face: SubjectFace; older: Embedding[] }> {
  if (!Number.isInteger(top) || top < 1 || top > MAX_CANDIDATES) throw new MedfaceError('INVALID_ARGUMENT', `top must be an integer from 1 to ${MAX_CANDIDATES}`);
  const face = await medface.faces.embed(image, 'identify');
  return { face, older: await medface.faces.olderModelProbes(image, 'identify') };
}

/**
 * The search and audit of `identify` for a probe embedded already: the image path above, and a frame of a
 * verified liveness sequence (`evidence` says which: quality reasons, or the liveness challenge). `older`:
 * the same capture embedded by older models, to find patients not yet moved to the current one.
 */
export async function identifyProbe(medface: Medface, probe: Embedding, top: number, who: Actor, evidence: Record<string, unknown>, older: readonly Embedding[] = []): Promise<IdentifyResult> {
  const model = probe.model;
  const thresholds = medface.templates.identificationThresholds(model);
  const candidates = await gradedCandidates(medface, probe, top, thresholds, thresholds.match, older);
  const match = candidates.length > 0;
  const sized = { threshold: thresholds.match, galleryPatients: thresholds.galleryPatients, fpir: thresholds.fpir };
  // patients whose only templates are of a model this deployment cannot search were not looked for: said in the trail
  const unsearched = await medface.faces.unsearchableModels();
  await auditSearch(medface, who, 'biometric.identify', candidates, {
    match,
    top,
    ...sized,
    model,
    ...evidence,
    candidates: auditedCandidates(medface, candidates),
    ...(unsearched.length > 0 && { unsearched }),
  });
  return { match, candidates, ...sized, model };
}

/**
 * The gallery's `top` nearest patients scoring at least `minScore`, best first, with their 1:N grades. With
 * `older` probes, patients only an older model's templates hold are searched too, from the grade `minScore`
 * earns (each graded by its own model's thresholds) and ranked with the others by grade, then score.
 */
export async function gradedCandidates(
  medface: Medface,
  probe: Embedding,
  top: number,
  thresholds: IdentificationDecision,
  minScore: number,
  older: readonly Embedding[] = [],
): Promise<IdentifyCandidate[]> {
  const hits = await medface.templates.search(medface.templates.protection.transformProbe(probe), top, minScore);
  const candidates = hits.filter((hit) => hit.score >= minScore).map((hit) => ({ patientId: hit.patientId, score: hit.score, grade: decide(hit.score, thresholds).grade }));
  if (older.length === 0) return candidates;
  const grade = decide(minScore, thresholds).grade;
  const stranded = await medface.templates.searchStranded(older, probe.model, top, grade === 'certainly-not' ? 'possible' : grade);
  const rank = (c: IdentifyCandidate) => GRADE_ORDER.indexOf(c.grade);
  return [...candidates, ...stranded.map(({ patientId, score, grade }) => ({ patientId, score, grade }))].sort((a, b) => rank(a) - rank(b) || b.score - a.score).slice(0, top);
}

const GRADE_ORDER: readonly MatchGrade[] = ['certain', 'probable', 'possible', 'certainly-not'];

/**
 * Audits a search as `action`, a success when it found someone: the best candidate's own trail shows they were
 * looked for; the others are in the details.
 */
export async function auditSearch(
  medface: Medface,
  who: Actor,
  action: 'biometric.identify' | 'breakglass.identify',
  candidates: readonly IdentifyCandidate[],
  details: Record<string, unknown>,
): Promise<void> {
  await medface.audit.record(medface.store, { ...who, action, outcome: candidates.length > 0 ? 'success' : 'failure', patientId: candidates[0]?.patientId ?? null, details });
}

/** Candidates as the audit trail may hold them: pseudonymous patients, rounded scores. */
export function auditedCandidates(medface: Medface, candidates: readonly IdentifyCandidate[]): object[] {
  return candidates.map((c) => ({ patientRef: medface.audit.patientRef(c.patientId), score: auditScore(c.score), grade: c.grade }));
}
