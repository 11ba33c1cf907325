import { MedfaceError } from '../errors.js';
import type { Embedding } from '../face/index.js';

/** FHIR R4 match-grade codes (http://hl7.org/fhir/match-grade), strongest first. */
export type MatchGrade = 'certain' | 'probable' | 'possible' | 'certainly-not';

export interface MatchDecision {
  /** True when the score reaches the calibrated operating threshold. */
  match: boolean;
  grade: MatchGrade;
  /** The operating threshold the decision was taken at. */
  threshold: number;
}

/**
 * Cosine similarity of two embeddings, in [-1, 1]. Vectors are re-normalised here rather than trusted,
 * because a template read back from storage may have lost precision. Embeddings of different models live
 * in unrelated spaces, so comparing them is refused rather than answered with a meaningless number.
 */
export function similarity(a: Embedding, b: Embedding): number {
  if (a.model !== b.model) {
    throw new MedfaceError('MODEL_MISMATCH', `cannot compare embeddings of different models (${a.model} vs ${b.model})`, {
      models: [a.model, b.model],
    });
  }
  if (a.vector.length !== b.vector.length) {
    throw new MedfaceError('INVALID_ARGUMENT', `embeddings of ${a.model} differ in length (${a.vector.length} vs ${b.vector.length})`);
  }
  return cosine(a.vector, b.vector);
}

/** Cosine of two equal-length vectors; 0 when either is all zeros (no direction, no evidence). */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  if (na === 0 || nb === 0) return 0;
  // rounding can push the cosine of identical vectors a hair past 1
  return Math.max(-1, Math.min(1, dot / Math.sqrt(na * nb)));
}

/**
 * What a decision needs: the operating threshold and the FHIR grade cut-offs. A model's verification
 * thresholds are one; its identification thresholds at a gallery size (identification.ts) are another.
 */
export interface DecisionThresholds {
  match: number;
  grades: Record<'certain' | 'probable' | 'possible', { minScore: number }>;
}

/** Turns a similarity score into a decision and a FHIR match grade: 1:1 with a model's thresholds, 1:N with its thresholds at the gallery's size. */
export function decide(score: number, thresholds: DecisionThresholds): MatchDecision {
  if (!Number.isFinite(score)) throw new MedfaceError('INVALID_ARGUMENT', 'similarity score must be a finite number');
  const { grades, match } = thresholds;
  const grade: MatchGrade = score >= grades.certain.minScore ? 'certain' : score >= grades.probable.minScore ? 'probable' : score >= grades.possible.minScore ? 'possible' : 'certainly-not';
  return { match: score >= match, grade, threshold: match };
}
