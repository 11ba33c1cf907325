import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MedfaceError } from '../errors.js';

/**
 * Calibrated decision thresholds, one entry per embedder model, read from `config/thresholds.json`.
 * That file is written by `medface calibrate` from measured impostor scores; it is the only place a
 * similarity threshold may come from.
 *
 * An entry holds two kinds of decision. Verification (1:1) thresholds are fixed similarities at a
 * false-match rate per comparison. Identification (1:N) thresholds are not fixed: searching N patients
 * gives an impostor N chances, so the entry's `identification` section records a target false-positive
 * identification rate per search and the impostor-score tail it was measured on, and the threshold for
 * the gallery's current size is derived from them (identity/identification.ts). Entries written before
 * identification was calibrated have no such section; 1:N searches refuse them until `medface calibrate`
 * is run again.
 */

/** The file shipped with medface; resolved from this module so it works from src/ (tsx) and dist/. */
export const DEFAULT_THRESHOLDS_PATH = fileURLToPath(new URL('../../config/thresholds.json', import.meta.url));

export interface GradeCutoff {
  /** Lowest similarity that earns the grade. */
  minScore: number;
  /** The false-match rate measured at `minScore` during calibration. */
  fmr: number;
}

export interface CalibrationProvenance {
  /** Data set folders the scores came from (as given on the command line). */
  sets: string[];
  /** Cross-identity image pairs scored (within each set). */
  impostorPairs: number;
  /** Same-identity image pairs scored. */
  genuinePairs: number;
  /** Images without a usable face, left out of every pair. */
  failuresToAcquire: number;
  /** ISO 8601 time of the calibration run. */
  date: string;
  /** The command that produced this entry, to reproduce it. */
  command: string;
  /** Smallest number of impostor scores above a threshold for its FMR to count as measured. */
  minFalseMatches: number;
  /** Fraction of genuine pairs accepted at each threshold in `thresholdsAtFmr`, keyed the same way. */
  tarAtFmr: Record<string, number>;
}

/** One identification grade: the false-positive identification rate (per search) it is granted at. */
export interface IdentificationCutoff {
  fpir: number;
}

/**
 * The upper tail of the impostor scores, enough to give the score at any false-match rate: measured
 * quantiles down to the lowest measurable rate, and below that an exponential tail fitted to the highest
 * scores, FMR(t) = fmr · exp(−(t − from) / scale) (the generalised Pareto tail with shape 0, fitted by
 * maximum likelihood: `scale` is the mean excess over `from`).
 */
export interface ImpostorTail {
  /** Cross-identity pairs the tail was measured on. */
  pairs: number;
  /** Lowest score whose false-match rate is at most the key, for each measurable rate ("0.001"). */
  scoresAtFmr: Record<string, number>;
  exponential: {
    /** Where the fit starts: the score exceeded by `fmr` of the impostor pairs. */
    from: number;
    fmr: number;
    /** Mean excess of the impostor scores above `from`. */
    scale: number;
    /** Impostor scores the fit was made on. */
    exceedances: number;
  };
}

/**
 * 1:N decisions: grades by false-positive identification rate (FPIR, ISO/IEC 19795-1: the share of searches
 * by people not enrolled that return any candidate). A grade names the same error rate as in verification,
 * counted per decision: per comparison there, per search of the whole gallery here.
 */
export interface IdentificationThresholds {
  /** Operating FPIR: a candidate is a match when it would be returned to at most this share of strangers. */
  fpir: number;
  grades: { certain: IdentificationCutoff; probable: IdentificationCutoff; possible: IdentificationCutoff };
  impostorTail: ImpostorTail;
}

export interface ModelThresholds {
  /** Operating threshold: similarity ≥ match is a match. */
  match: number;
  /** The false-match rate the operating threshold was chosen for. */
  fmr: number;
  /** Threshold at each measurable false-match rate, keyed by the rate as written ("0.001"). */
  thresholdsAtFmr: Record<string, number>;
  /** FHIR match-grade cut-offs; below `possible` the grade is `certainly-not`. */
  grades: { certain: GradeCutoff; probable: GradeCutoff; possible: GradeCutoff };
  /** 1:N decisions (absent from entries calibrated before they existed). */
  identification?: IdentificationThresholds;
  calibration: CalibrationProvenance;
}

export interface ThresholdsFile {
  version: 1;
  models: Record<string, ModelThresholds>;
}

/** Reads and validates the whole thresholds file. */
export function readThresholdsFile(file: string = DEFAULT_THRESHOLDS_PATH): ThresholdsFile {
  if (!existsSync(file)) {
    throw new MedfaceError('THRESHOLDS_MISSING', `no thresholds file at ${file}; run "medface calibrate" to create it`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw invalid(file, `not JSON (${(e as Error).message})`);
  }
  return validateThresholdsFile(raw, file);
}

/** The calibrated thresholds of one embedder model. */
export function thresholdsFor(model: string, file: string = DEFAULT_THRESHOLDS_PATH): ModelThresholds {
  const entry = readThresholdsFile(file).models[model];
  if (!entry) {
    throw new MedfaceError('THRESHOLDS_MISSING', `no calibrated thresholds for model ${model} in ${file}; run "medface calibrate"`, {
      model,
    });
  }
  return entry;
}

/** Stores one model's thresholds, keeping every other model's entry; the file is replaced atomically. */
export function writeModelThresholds(model: string, entry: ModelThresholds, file: string = DEFAULT_THRESHOLDS_PATH): void {
  validateModelThresholds(entry, `${file}: models["${model}"]`);
  const current: ThresholdsFile = existsSync(file) ? readThresholdsFile(file) : { version: 1, models: {} };
  const models = { ...current.models, [model]: entry };
  const sorted = Object.fromEntries(
    Object.keys(models)
      .sort()
      .map((k) => [k, models[k]!]),
  );
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ version: 1, models: sorted }, null, 2) + '\n');
  renameSync(tmp, file);
}

export function validateThresholdsFile(raw: unknown, file: string): ThresholdsFile {
  if (!isObject(raw)) throw invalid(file, 'expected a JSON object');
  if (raw.version !== 1) throw invalid(file, `unsupported version ${JSON.stringify(raw.version)} (expected 1)`);
  if (!isObject(raw.models)) throw invalid(file, '"models" must be an object keyed by embedder model id');
  for (const [model, entry] of Object.entries(raw.models)) validateModelThresholds(entry, `${file}: models["${model}"]`);
  return raw as unknown as ThresholdsFile;
}

/** Checks shape and internal consistency: a higher false-match rate can never need a higher threshold. */
export function validateModelThresholds(entry: unknown, where: string): asserts entry is ModelThresholds {
  if (!isObject(entry)) throw invalid(where, 'expected an object');
  const score = (v: unknown, name: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < -1 || v > 1) throw invalid(where, `${name} must be a similarity in [-1, 1]`);
    return v;
  };
  const rate = (v: unknown, name: string): number => {
    if (typeof v !== 'number' || !(v > 0 && v < 1)) throw invalid(where, `${name} must be a rate in (0, 1)`);
    return v;
  };
  const match = score(entry.match, 'match');
  rate(entry.fmr, 'fmr');

  if (!isObject(entry.thresholdsAtFmr)) throw invalid(where, 'thresholdsAtFmr must be an object');
  const ladder = Object.entries(entry.thresholdsAtFmr).map(([k, v]) => ({ fmr: rate(Number(k), `thresholdsAtFmr key "${k}"`), t: score(v, `thresholdsAtFmr["${k}"]`) }));
  ladder.sort((a, b) => a.fmr - b.fmr);
  for (let i = 1; i < ladder.length; i++) {
    if (ladder[i]!.t > ladder[i - 1]!.t) throw invalid(where, 'thresholdsAtFmr must not increase as the false-match rate increases');
  }

  if (!isObject(entry.grades)) throw invalid(where, 'grades must be an object');
  const cutoff = (name: 'certain' | 'probable' | 'possible'): GradeCutoff => {
    const g = (entry.grades as Record<string, unknown>)[name];
    if (!isObject(g)) throw invalid(where, `grades.${name} must be an object`);
    return { minScore: score(g.minScore, `grades.${name}.minScore`), fmr: rate(g.fmr, `grades.${name}.fmr`) };
  };
  const certain = cutoff('certain');
  const probable = cutoff('probable');
  const possible = cutoff('possible');
  if (probable.minScore !== match) throw invalid(where, 'grades.probable.minScore must equal the operating threshold "match"');
  if (!(certain.minScore >= probable.minScore && probable.minScore >= possible.minScore)) {
    throw invalid(where, 'grade cut-offs must satisfy certain ≥ probable ≥ possible');
  }

  const c = entry.calibration;
  if (!isObject(c)) throw invalid(where, 'calibration provenance is required');
  if (!Array.isArray(c.sets) || c.sets.length === 0 || !c.sets.every((s) => typeof s === 'string')) {
    throw invalid(where, 'calibration.sets must list the data sets used');
  }
  for (const k of ['impostorPairs', 'genuinePairs', 'failuresToAcquire', 'minFalseMatches'] as const) {
    if (!Number.isInteger(c[k]) || (c[k] as number) < 0) throw invalid(where, `calibration.${k} must be a non-negative integer`);
  }
  if (typeof c.date !== 'string' || Number.isNaN(Date.parse(c.date))) throw invalid(where, 'calibration.date must be an ISO date');
  if (typeof c.command !== 'string' || c.command === '') throw invalid(where, 'calibration.command must say how to reproduce it');
  if (!isObject(c.tarAtFmr)) throw invalid(where, 'calibration.tarAtFmr must be an object');
  if (entry.identification !== undefined) validateIdentification(entry.identification, `${where}.identification`);
}

/** The 1:N section: grades ordered by rate, the operating rate is `probable`'s, the tail falls as the rate falls. */
function validateIdentification(section: unknown, where: string): void {
  if (!isObject(section)) throw invalid(where, 'expected an object');
  const rate = (v: unknown, name: string): number => {
    if (typeof v !== 'number' || !(v > 0 && v < 1)) throw invalid(where, `${name} must be a rate in (0, 1)`);
    return v;
  };
  const score = (v: unknown, name: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < -1 || v > 1) throw invalid(where, `${name} must be a similarity in [-1, 1]`);
    return v;
  };
  const fpir = rate(section.fpir, 'fpir');
  if (!isObject(section.grades)) throw invalid(where, 'grades must be an object');
  const grade = (name: 'certain' | 'probable' | 'possible'): number => {
    const g = (section.grades as Record<string, unknown>)[name];
    if (!isObject(g)) throw invalid(where, `grades.${name} must be an object`);
    return rate(g.fpir, `grades.${name}.fpir`);
  };
  const [certain, probable, possible] = [grade('certain'), grade('probable'), grade('possible')];
  if (probable !== fpir) throw invalid(where, 'grades.probable.fpir must equal the operating rate "fpir"');
  if (!(certain <= probable && probable <= possible)) throw invalid(where, 'grade rates must satisfy certain ≤ probable ≤ possible');

  const tail = section.impostorTail;
  if (!isObject(tail)) throw invalid(where, 'impostorTail is required');
  if (!Number.isInteger(tail.pairs) || (tail.pairs as number) < 1) throw invalid(where, 'impostorTail.pairs must be a positive integer');
  if (!isObject(tail.scoresAtFmr)) throw invalid(where, 'impostorTail.scoresAtFmr must be an object');
  const ladder = Object.entries(tail.scoresAtFmr)
    .map(([k, v]) => ({ fmr: rate(Number(k), `impostorTail.scoresAtFmr key "${k}"`), t: score(v, `impostorTail.scoresAtFmr["${k}"]`) }))
    .sort((a, b) => a.fmr - b.fmr);
  if (ladder.length === 0) throw invalid(where, 'impostorTail.scoresAtFmr must hold at least one measured rate');
  for (let i = 1; i < ladder.length; i++) {
    if (ladder[i]!.t > ladder[i - 1]!.t) throw invalid(where, 'impostorTail.scoresAtFmr must not increase as the false-match rate increases');
  }
  const fit = tail.exponential;
  if (!isObject(fit)) throw invalid(where, 'impostorTail.exponential is required');
  score(fit.from, 'impostorTail.exponential.from');
  rate(fit.fmr, 'impostorTail.exponential.fmr');
  if (typeof fit.scale !== 'number' || !(fit.scale > 0 && fit.scale < 2)) throw invalid(where, 'impostorTail.exponential.scale must be a positive similarity difference');
  if (!Number.isInteger(fit.exceedances) || (fit.exceedances as number) < 1) throw invalid(where, 'impostorTail.exponential.exceedances must be a positive integer');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalid(where: string, why: string): MedfaceError {
  return new MedfaceError('THRESHOLDS_INVALID', `invalid thresholds (${where}): ${why}`);
}
