import { MedfaceError } from '../errors.js';
import type { DecisionThresholds } from './match.js';
import type { ImpostorTail, ModelThresholds } from './thresholds.js';

/**
 * Identification (1:N) thresholds sized to the gallery. A search of N patients gives a stranger N chances
 * to score above the threshold, so with a per-comparison false-match rate FMR(t) the false-positive
 * identification rate is FPIR(N, t) ≈ 1 − (1 − FMR(t))^N (ISO/IEC 19795-1, comparisons taken as
 * independent). For a target FPIR the threshold is therefore the impostor-score quantile at
 * FMR = 1 − (1 − FPIR)^(1/N): it rises as the gallery grows, and a grade means the same error rate per
 * search whatever the gallery's size.
 */

export interface IdentificationCutoffAtSize {
  /** Lowest similarity that earns the grade in a gallery of this size (above 1: nothing can). */
  minScore: number;
  /** The false-positive identification rate per search the grade stands for. */
  fpir: number;
  /** The false-match rate per comparison that gives `fpir` over the whole gallery. */
  fmr: number;
  /** The rate is below the lowest measured one: its score comes from the fitted exponential tail. */
  extrapolated: boolean;
}

export interface IdentificationDecision extends DecisionThresholds {
  /** Patients searched (at least 1: an empty gallery is sized as one patient). */
  galleryPatients: number;
  /** Operating FPIR: `match` is the `probable` cut-off. */
  fpir: number;
  grades: { certain: IdentificationCutoffAtSize; probable: IdentificationCutoffAtSize; possible: IdentificationCutoffAtSize };
}

/** The model's 1:N section; THRESHOLDS_MISSING for an entry calibrated before identification was. */
function identificationOf(model: string, thresholds: ModelThresholds): NonNullable<ModelThresholds['identification']> {
  if (!thresholds.identification) {
    throw new MedfaceError('THRESHOLDS_MISSING', `no identification thresholds for model ${model}; run "medface calibrate" again`, { model });
  }
  return thresholds.identification;
}

/** The 1:N cut-offs for a gallery of `galleryPatients` patients. */
export function identificationThresholds(model: string, thresholds: ModelThresholds, galleryPatients: number): IdentificationDecision {
  const section = identificationOf(model, thresholds);
  const n = Math.max(1, galleryPatients);
  const cutoff = (fpir: number): IdentificationCutoffAtSize => {
    const fmr = fmrForFpir(fpir, n);
    const { score, extrapolated } = impostorScoreAt(section.impostorTail, fmr);
    return { minScore: score, fpir, fmr, extrapolated };
  };
  const grades = { certain: cutoff(section.grades.certain.fpir), probable: cutoff(section.grades.probable.fpir), possible: cutoff(section.grades.possible.fpir) };
  return { galleryPatients: n, fpir: section.fpir, match: grades.probable.minScore, grades };
}

/** The per-comparison false-match rate at which a search of `n` patients has false-positive rate `fpir`. */
export function fmrForFpir(fpir: number, n: number): number {
  // 1 − (1 − fpir)^(1/n), written so that tiny rates of huge galleries keep their precision
  return -Math.expm1(Math.log1p(-fpir) / n);
}

/**
 * The lowest score whose false-match rate is at most `fmr`: interpolated between the measured quantiles
 * (log-linearly in the rate: the tail is locally exponential), and below the lowest measured rate read from
 * the fitted exponential tail, never below the lowest measured rate's score.
 */
export function impostorScoreAt(tail: ImpostorTail, fmr: number): { score: number; extrapolated: boolean } {
  const ladder = Object.entries(tail.scoresAtFmr)
    .map(([rate, score]) => ({ rate: Number(rate), score }))
    .sort((a, b) => b.rate - a.rate);
  const highest = ladder[0]!;
  const lowest = ladder[ladder.length - 1]!;
  if (fmr >= highest.rate) return { score: highest.score, extrapolated: false };
  if (fmr < lowest.rate) {
    const { from, fmr: fitRate, scale } = tail.exponential;
    return { score: Math.max(lowest.score, from + scale * Math.log(fitRate / fmr)), extrapolated: true };
  }
  for (let i = 1; i < ladder.length; i++) {
    const above = ladder[i - 1]!;
    const below = ladder[i]!;
    if (fmr < below.rate) continue;
    const f = Math.log(above.rate / fmr) / Math.log(above.rate / below.rate);
    return { score: above.score + f * (below.score - above.score), extrapolated: false };
  }
  return { score: lowest.score, extrapolated: false };
}
