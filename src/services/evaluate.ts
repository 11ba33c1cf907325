import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MedfaceError, isMedfaceError } from '../errors.js';
import { acquireImages } from '../evaluation/acquire.js';
import { EmbeddingCache, type Acquired } from '../evaluation/cache.js';
import { readDataset, readPairs, type Dataset, type Pair } from '../evaluation/dataset.js';
import { groupRates, type FairnessReport, type ScoredPair } from '../evaluation/fairness.js';
import { auc, bestAccuracy, eer, errorCurve, errorRates, rank1, tarAtFar } from '../evaluation/metrics.js';
import { renderReport } from '../evaluation/report.js';
import type { Embedding, FacePool } from '../face/index.js';
import { similarity } from '../identity/match.js';
import { thresholdsFor, type ModelThresholds } from '../identity/thresholds.js';

/** The FARs every verification result reports TAR at (keys as in the JSON output). */
const REPORTED_FARS = { '0.01': 0.01, '0.001': 0.001 } as const;

export interface EvaluateOptions {
  /** Id of the embedder the pool runs: it names the cache and picks the thresholds. */
  model: string;
  /** Pairs file; default `SETDIR/pairs.csv` when present, else identification. */
  pairsFile?: string;
  /** Where report.html and the embedding cache go; default: no report, cache under `.cache`. */
  outDir?: string;
  /** Manifest column to report FMR and FNMR per value of, at the operating threshold. */
  groupBy?: string;
  thresholdsFile?: string;
  /** How the run was started, printed in the report so it can be reproduced. */
  command: string;
  onProgress?: (done: number, total: number) => void;
}

/** Verification measures over scored pairs (ISO/IEC 19795-1). */
export interface VerificationMeasures {
  /** Pairs that were scored (both images acquired). */
  genuine_pairs: number;
  impostor_pairs: number;
  /** Best-threshold accuracy, with unscored pairs counted as errors. */
  accuracy: number;
  accuracy_threshold: number;
  auc: number;
  eer: number;
  tar_at_far: Record<keyof typeof REPORTED_FARS, number>;
}

/** At the calibrated operating threshold of config/thresholds.json (absent when the model has none). */
export interface OperatingPoint {
  threshold: number;
  /** The FMR the threshold was calibrated for, on other data. */
  calibrated_fmr: number;
  fmr: number;
  fnmr: number;
  /** Share of all pairs decided correctly, unscored pairs counted as errors. */
  accuracy: number;
}

interface Common {
  set: string;
  model: string;
  /** Images without a usable face (or unreadable) among those the evaluation needed. */
  fta: number;
  operating?: OperatingPoint;
  fairness?: FairnessReport;
  /** Path of the HTML report, when --out was given. */
  report?: string;
  seconds: number;
}

export type VerificationResult = Common &
  VerificationMeasures & {
    mode: 'verification';
    pairs: number;
    /** Pairs that could not be scored because an image failed to acquire. */
    fta_pairs: number;
  };

export type IdentificationResult = Common & {
  mode: 'identification';
  identities: number;
  /** Gallery entries: the first image of each identity, when it has a usable face. */
  gallery: number;
  /** Every other image; a probe that failed to acquire counts as a miss. */
  probes: number;
  rank1: number;
  /** Verification measures over every image pair of the set, for the report and --group-by. */
  all_pairs: VerificationMeasures;
};

export type EvaluationResult = VerificationResult | IdentificationResult;

export async function evaluateSet(pool: () => Promise<FacePool>, setDir: string, options: EvaluateOptions): Promise<EvaluationResult> {
  const started = performance.now();
  const dataset = readDataset(setDir);
  if (options.groupBy !== undefined && !dataset.columns.includes(options.groupBy)) {
    throw new MedfaceError('INVALID_ARGUMENT', `--group-by ${options.groupBy}: the manifest has columns ${dataset.columns.join(', ')}`);
  }
  const pairs = readPairs(dataset, options.pairsFile);
  const { model } = options;
  // --group-by needs the operating threshold; without it, the operating point is a bonus
  const thresholds = optionalThresholds(model, options.thresholdsFile, options.groupBy !== undefined);

  const needed = pairs ? [...new Set(pairs.flatMap((p) => [p.file1, p.file2]))] : dataset.entries.map((e) => e.path);
  const cache = new EmbeddingCache(options.outDir ?? '.cache', model);
  const byAbsolute = await acquireImages(pool, needed.map((f) => path.resolve(dataset.dir, f)), cache, options.onProgress);
  const acquired = new Map(needed.map((f) => [f, byAbsolute.get(path.resolve(dataset.dir, f))!]));
  const embeddingOf = (f: string): Embedding | null => {
    const a = acquired.get(f)!;
    return 'embedding' in a ? a.embedding : null;
  };
  const fta = [...acquired.values()].filter((a: Acquired) => 'failure' in a).length;

  const scored: ScoredPair[] = (pairs ?? allPairs(dataset)).map((p) => {
    const a = embeddingOf(p.file1);
    const b = embeddingOf(p.file2);
    return { ...p, score: a && b ? similarity(a, b) : null };
  });
  const genuine = scored.filter((p) => p.same && p.score !== null).map((p) => p.score!);
  const impostor = scored.filter((p) => !p.same && p.score !== null).map((p) => p.score!);
  const unscored = scored.length - genuine.length - impostor.length;
  const curve = errorCurve(genuine, impostor);
  const best = bestAccuracy(curve, unscored);
  const measures: VerificationMeasures = {
    genuine_pairs: genuine.length,
    impostor_pairs: impostor.length,
    accuracy: best.accuracy,
    accuracy_threshold: best.threshold,
    auc: auc(curve),
    eer: eer(curve),
    tar_at_far: { '0.01': tarAtFar(curve, REPORTED_FARS['0.01']), '0.001': tarAtFar(curve, REPORTED_FARS['0.001']) },
  };

  let operating: OperatingPoint | undefined;
  if (thresholds) {
    const { fmr, fnmr } = errorRates(genuine, impostor, thresholds.match);
    const correct = genuine.filter((s) => s >= thresholds.match).length + impostor.filter((s) => s < thresholds.match).length;
    operating = { threshold: thresholds.match, calibrated_fmr: thresholds.fmr, fmr, fnmr, accuracy: correct / scored.length };
  }
  const fairness =
    options.groupBy !== undefined && thresholds
      ? groupRates(scored, groupLookup(dataset, options.groupBy), options.groupBy, thresholds.match)
      : undefined;

  const common = { set: dataset.name, model, fta, operating, fairness };
  let result: EvaluationResult;
  if (pairs) {
    result = { mode: 'verification', ...common, pairs: pairs.length, fta_pairs: unscored, ...measures, seconds: 0 };
  } else {
    const identification = identify(dataset, embeddingOf);
    result = { mode: 'identification', ...common, ...identification, all_pairs: measures, seconds: 0 };
  }
  result.seconds = Math.round((performance.now() - started) / 100) / 10;

  if (options.outDir) {
    mkdirSync(options.outDir, { recursive: true });
    const file = path.join(options.outDir, 'report.html');
    writeFileSync(
      file,
      renderReport({
        title: `medface evaluation: ${dataset.name} (${result.mode})`,
        summary: summaryRows(result),
        curve,
        genuine,
        impostor,
        threshold: thresholds && { value: thresholds.match, label: `match (FMR ${thresholds.fmr})` },
        fairness,
        footer: `${options.command}\n${new Date().toISOString()} on ${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} cores), Node ${process.version}`,
      }),
    );
    result.report = file;
  }
  return result;
}

function optionalThresholds(model: string, file: string | undefined, required: boolean): ModelThresholds | undefined {
  try {
    return thresholdsFor(model, file);
  } catch (e) {
    if (!required && isMedfaceError(e) && e.code === 'THRESHOLDS_MISSING') return undefined;
    throw e;
  }
}

/** Every pair of images in the set: what identification sets are scored on for ROC, DET and groups. */
function allPairs(dataset: Dataset): Pair[] {
  const out: Pair[] = [];
  const { entries } = dataset;
  for (let a = 0; a < entries.length; a++) {
    for (let b = a + 1; b < entries.length; b++) {
      out.push({ file1: entries[a]!.path, file2: entries[b]!.path, same: entries[a]!.identity === entries[b]!.identity });
    }
  }
  return out;
}

/** Closed-set identification: the first image of each identity (manifest order) is its gallery entry. */
function identify(dataset: Dataset, embeddingOf: (file: string) => Embedding | null) {
  const gallery: Array<{ identity: string; vector: Embedding }> = [];
  const probes: Array<{ identity: string; vector: Embedding | null }> = [];
  const seen = new Set<string>();
  for (const e of dataset.entries) {
    if (seen.has(e.identity)) probes.push({ identity: e.identity, vector: embeddingOf(e.path) });
    else {
      seen.add(e.identity);
      const vector = embeddingOf(e.path);
      // an identity whose gallery image has no face cannot be found: its probes become misses
      if (vector) gallery.push({ identity: e.identity, vector });
    }
  }
  const r = rank1(gallery, probes, similarity);
  return { identities: seen.size, gallery: gallery.length, probes: r.probes, rank1: r.rank1 };
}

function groupLookup(dataset: Dataset, column: string): (file: string) => string {
  const groups = new Map(dataset.entries.map((e) => [e.path, e.columns[column]!]));
  return (file) => groups.get(file)!;
}

function summaryRows(r: EvaluationResult): Array<[string, string | number]> {
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  const m = r.mode === 'verification' ? r : r.all_pairs;
  const rows: Array<[string, string | number]> = [
    ['set', r.set],
    ['model', r.model],
    ['failures to acquire (images)', r.fta],
  ];
  if (r.mode === 'verification') rows.push(['pairs', r.pairs], ['pairs not scored (FTA)', r.fta_pairs]);
  else rows.push(['identities (gallery)', r.identities], ['probes', r.probes], ['rank-1 identification', pct(r.rank1)]);
  rows.push(
    [r.mode === 'verification' ? 'genuine / impostor pairs' : 'all pairs: genuine / impostor', `${m.genuine_pairs} / ${m.impostor_pairs}`],
    ['best-threshold accuracy (FTA = error)', `${pct(m.accuracy)} at ${m.accuracy_threshold.toFixed(4)}`],
    ['ROC AUC', m.auc],
    ['EER', pct(m.eer)],
    ['TAR at FAR 1%', pct(m.tar_at_far['0.01'])],
    ['TAR at FAR 0.1%', pct(m.tar_at_far['0.001'])],
  );
  if (r.operating) {
    rows.push(
      [`operating threshold (calibrated for FMR ${r.operating.calibrated_fmr})`, r.operating.threshold],
      ['FMR / FNMR at operating threshold', `${pct(r.operating.fmr)} / ${pct(r.operating.fnmr)}`],
      ['accuracy at operating threshold', pct(r.operating.accuracy)],
    );
  }
  rows.push(['run time', `${r.seconds} s`]);
  return rows;
}
