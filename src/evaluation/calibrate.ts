import { MedfaceError } from '../errors.js';
import type { Embedding } from '../face/index.js';
import { similarity } from '../identity/match.js';
import type { IdentificationThresholds, ImpostorTail, ModelThresholds } from '../identity/thresholds.js';
import { allowedFalseMatches, thresholdAtFmr } from './metrics.js';

/**
 * Thresholds from measured scores. A threshold at a false-match rate is only as good as the number of
 * impostor scores above it, so a rate counts as measured only when it allows at least
 * MIN_FALSE_MATCHES false matches (the "rule of 30", ISO/IEC 19795-1: with 30 observed errors the true
 * rate is within ±30% of the observed one with 90% confidence).
 */
export const MIN_FALSE_MATCHES = 30;

/** Rates recorded in every thresholds entry when measurable: `possible`, `probable` (default) and `certain`. */
export const STANDARD_FMRS = [1e-2, 1e-3, 1e-4] as const;
export const DEFAULT_OPERATING_FMR = 1e-3;
const CERTAIN_FMR = 1e-4;
const POSSIBLE_FMR = 1e-2;

export interface PairScores {
  genuine: Float64Array;
  impostor: Float64Array;
}

/** One labelled image's embedding, or null when no usable face was found in it. */
export interface LabelledEmbedding {
  identity: string;
  embedding: Embedding | null;
}

/**
 * Scores every image pair within one set: same identity → genuine, different → impostor. Pairs are never
 * formed across sets, because identities of different sets are not known to be different people and
 * cross-set pairs (e.g. colour news photos vs grey studio shots) would be unrealistically easy impostors.
 */
export function allPairScores(images: readonly LabelledEmbedding[]): PairScores {
  const usable = images.filter((i): i is { identity: string; embedding: Embedding } => i.embedding !== null);
  let genuineCount = 0;
  const perIdentity = new Map<string, number>();
  for (const i of usable) perIdentity.set(i.identity, (perIdentity.get(i.identity) ?? 0) + 1);
  for (const n of perIdentity.values()) genuineCount += (n * (n - 1)) / 2;
  const total = (usable.length * (usable.length - 1)) / 2;
  const genuine = new Float64Array(genuineCount);
  const impostor = new Float64Array(total - genuineCount);
  let g = 0;
  let m = 0;
  for (let a = 0; a < usable.length; a++) {
    for (let b = a + 1; b < usable.length; b++) {
      const s = similarity(usable[a]!.embedding, usable[b]!.embedding);
      if (usable[a]!.identity === usable[b]!.identity) genuine[g++] = s;
      else impostor[m++] = s;
    }
  }
  return { genuine, impostor };
}

export function concatScores(parts: readonly PairScores[]): PairScores {
  const join = (arrays: Float64Array[]) => {
    const out = new Float64Array(arrays.reduce((n, a) => n + a.length, 0));
    let at = 0;
    for (const a of arrays) {
      out.set(a, at);
      at += a.length;
    }
    return out;
  };
  return { genuine: join(parts.map((p) => p.genuine)), impostor: join(parts.map((p) => p.impostor)) };
}

/** Impostor scores the exponential tail is fitted to (fewer when the rates measured allow fewer). */
export const TAIL_FIT_EXCEEDANCES = 1000;
/** Rates of the measured tail: 1, 2 and 5 per decade, down to the lowest measurable. */
const TAIL_STEPS = [1, 2, 5] as const;

export interface CalibrationInput {
  scores: PairScores;
  /** Operating false-match rate for `match`. */
  fmr: number;
  /** Operating false-positive identification rate for 1:N searches (default: the same as `fmr`, so grades mean the same). */
  fpir?: number;
  sets: string[];
  failuresToAcquire: number;
  command: string;
  date?: Date;
}

/**
 * Derives one model's thresholds: `match` at the operating FMR; FHIR grades `certain` at FMR 1e-4 (or,
 * when too few impostor pairs were scored for that, the lowest measurable FMR), `probable` at the
 * operating threshold and `possible` at FMR 1e-2.
 */
export function calibrateThresholds(input: CalibrationInput): ModelThresholds {
  const { scores, fmr } = input;
  if (!(fmr > 0 && fmr < 1)) throw new MedfaceError('INVALID_ARGUMENT', `--fmr must be a rate between 0 and 1, got ${fmr}`);
  const n = scores.impostor.length;
  if (scores.genuine.length === 0) throw new MedfaceError('INVALID_DATASET', 'no genuine pairs: every identity needs at least two usable images');
  const measurable = (rate: number) => allowedFalseMatches(rate, n) >= MIN_FALSE_MATCHES;
  if (!measurable(fmr)) {
    throw new MedfaceError('INVALID_DATASET', `${n} impostor pairs cannot measure FMR ${fmr}: at least ${Math.ceil(MIN_FALSE_MATCHES / fmr)} are needed`, { impostorPairs: n });
  }
  const lowestMeasurable = MIN_FALSE_MATCHES / n;
  const certainFmr = Math.min(fmr, measurable(CERTAIN_FMR) ? CERTAIN_FMR : lowestMeasurable);
  const possibleFmr = Math.max(fmr, POSSIBLE_FMR);
  const rates = [...new Set<number>([...STANDARD_FMRS.filter(measurable), fmr, certainFmr, possibleFmr])].sort((a, b) => a - b);

  const thresholdsAtFmr: Record<string, number> = {};
  const tarAtFmr: Record<string, number> = {};
  for (const rate of rates) {
    const t = thresholdAtFmr(scores.impostor, rate);
    thresholdsAtFmr[String(rate)] = t;
    let accepted = 0;
    for (const s of scores.genuine) if (s >= t) accepted++;
    tarAtFmr[String(rate)] = accepted / scores.genuine.length;
  }
  const at = (rate: number) => thresholdsAtFmr[String(rate)]!;
  return {
    match: at(fmr),
    fmr,
    thresholdsAtFmr,
    grades: {
      certain: { minScore: at(certainFmr), fmr: certainFmr },
      probable: { minScore: at(fmr), fmr },
      possible: { minScore: at(possibleFmr), fmr: possibleFmr },
    },
    identification: identificationSection(scores.impostor, input.fpir ?? fmr, certainFmr, possibleFmr),
    calibration: {
      sets: input.sets,
      impostorPairs: n,
      genuinePairs: scores.genuine.length,
      failuresToAcquire: input.failuresToAcquire,
      date: (input.date ?? new Date()).toISOString(),
      command: input.command,
      minFalseMatches: MIN_FALSE_MATCHES,
      tarAtFmr,
    },
  };
}

/**
 * The 1:N section: grades at the same rates as the 1:1 grades (`certainFmr`, the operating rate,
 * `possibleFmr`), counted per search instead of per comparison, and the impostor tail that turns a rate
 * per search into a threshold for any gallery size (identity/identification.ts).
 */
function identificationSection(impostor: Float64Array, fpir: number, certainFmr: number, possibleFmr: number): IdentificationThresholds {
  if (!(fpir > 0 && fpir < 1)) throw new MedfaceError('INVALID_ARGUMENT', `--fpir must be a rate between 0 and 1, got ${fpir}`);
  const grades = { certain: { fpir: Math.min(fpir, certainFmr) }, probable: { fpir }, possible: { fpir: Math.max(fpir, possibleFmr) } };
  return { fpir, grades, impostorTail: impostorTail(impostor, grades.possible.fpir) };
}

/**
 * Measured quantiles from `highestRate` down to the lowest rate with MIN_FALSE_MATCHES impostors above it,
 * and an exponential fitted by maximum likelihood to the highest TAIL_FIT_EXCEEDANCES scores for the rates
 * below: a search of a large gallery needs rates no calibration set can measure directly.
 */
export function impostorTail(impostor: Float64Array, highestRate: number): ImpostorTail {
  const n = impostor.length;
  const measurable = (rate: number) => allowedFalseMatches(rate, n) >= MIN_FALSE_MATCHES;
  const rates = new Set<number>([highestRate]);
  for (let decade = 0; decade < 12; decade++) {
    for (const step of TAIL_STEPS) {
      const rate = Number((step * 10 ** -(decade + 1)).toPrecision(1));
      if (rate < highestRate) rates.add(rate);
    }
  }
  const scoresAtFmr: Record<string, number> = {};
  for (const rate of [...rates].filter(measurable).sort((a, b) => b - a)) scoresAtFmr[String(rate)] = thresholdAtFmr(impostor, rate);
  if (Object.keys(scoresAtFmr).length === 0) {
    throw new MedfaceError('INVALID_DATASET', `${n} impostor pairs cannot measure the identification rate ${highestRate}`, { impostorPairs: n });
  }

  const fitRate = Math.min(highestRate, TAIL_FIT_EXCEEDANCES / n);
  const from = thresholdAtFmr(impostor, fitRate);
  let exceedances = 0;
  let excess = 0;
  for (const s of impostor) {
    if (s < from) continue;
    exceedances++;
    excess += s - from;
  }
  const scale = excess / exceedances;
  if (!(scale > 0)) throw new MedfaceError('INVALID_DATASET', 'the highest impostor scores are all equal: their tail cannot be fitted');
  return { pairs: n, scoresAtFmr, exponential: { from, fmr: exceedances / n, scale, exceedances } };
}
