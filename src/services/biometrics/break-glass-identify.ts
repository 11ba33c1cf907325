import { withFailureAudit, type Actor } from '../auditing.js';
import type { Medface } from '../context.js';
import { auditedCandidates, auditSearch, gradedCandidates, probesOf, type IdentifyCandidate } from './identify.js';

export interface BreakGlassIdentifyRequest {
  image: Uint8Array;
  /** Most candidates returned (default 5). */
  top?: number;
}

export interface BreakGlassIdentifyResult {
  /** Ranked best first, graded certain, probable or possible: below the operating threshold too, never certainly-not. */
  candidates: IdentifyCandidate[];
  /** The operating 1:N threshold at the gallery's size: candidates under it are `possible` and need confirming by other means. */
  threshold: number;
  /** The lowest score still graded `possible` at the gallery's size. */
  possibleFrom: number;
  /** Patients in the gallery the cut-offs were sized for. */
  galleryPatients: number;
  model: string;
}

export const DEFAULT_BREAK_GLASS_TOP = 5;

/**
 * Identification for an emergency user facing an unresponsive patient (policy `biometric.identify`, asked by
 * the caller), who cannot give a second factor. Unlike `identify`, which names only matches, it returns a
 * ranked list down to `possible` for a person to confirm by other means before breaking the glass on one
 * (services/visits/break-glass.ts). The grades are the 1:N ones at the gallery's current size, as for `identify`.
 * The candidates, graded, and the quality reasons are audited as `breakglass.identify`; patients as pseudonyms.
 */
export function breakGlassIdentify(medface: Medface, request: BreakGlassIdentifyRequest, who: Actor): Promise<BreakGlassIdentifyResult> {
  const top = request.top ?? DEFAULT_BREAK_GLASS_TOP;
  return withFailureAudit(medface, who, 'breakglass.identify', null, async () => {
    const { face, older } = await probesOf(medface, request.image, top);
    const model = face.embedding.model;
    const thresholds = medface.templates.identificationThresholds(model);
    const possibleFrom = thresholds.grades.possible.minScore;
    const candidates = await gradedCandidates(medface, face.embedding, top, thresholds, possibleFrom, older);
    const sized = { threshold: thresholds.match, possibleFrom, galleryPatients: thresholds.galleryPatients };
    await auditSearch(medface, who, 'breakglass.identify', candidates, { top, ...sized, model, quality: face.quality.reasons, candidates: auditedCandidates(medface, candidates) });
    return { candidates, ...sized, model };
  });
}
