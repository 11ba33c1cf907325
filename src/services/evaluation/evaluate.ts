import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MedfaceError, isMedfaceError } from '../../errors.js';
import { acquireImages } from '../../evaluation/acquire.js';
import { EmbeddingCache, type Acquired } from '../../evaluation/cache.js';
import { readDataset, readPairs, type Dataset, type Pair } from '../../evaluation/dataset.js';
import { groupRates, type FairnessReport, type ScoredPair } from '../../evaluation/fairness.js';
import { auc, bestAccuracy, eer, errorCurve, errorRates, tarAtFar, type ErrorCurve } from '../../evaluation/metrics.js';
import {
  extrapolate,
  fitImpostorTail,
  gallerySizeCurve,
  openSetCurve,
  openSetMeasures,
  openSetRatesAt,
  scoreMatrix,
  searchOutcomes,
  type ExtrapolatedPoint,
  type GalleryIdentity,
  type GallerySizePoint,
  type ImpostorTail,
  type OpenSetMeasures,
  type SearchImage,
} from '../../evaluation/open-set.js';
import { renderReport } from '../../evaluation/report.js';
import type { Embedding, FacePool } from '../../face/index.js';
import { fuseViews } from '../../identity/fusion.js';
import { similarity } from '../../identity/match.js';
import { thresholdsFor, type ModelThresholds } from '../../identity/thresholds.js';

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
  /** Gallery images per identity in open-set identification (the first ones in manifest order); default 1. */
  galleryImages?: number;
  /** Sets whose identities join the gallery as people never searched for (their first images only). */
  distractors?: string[];
  /**
   * Images fused into each open-set search (identity/fusion.ts), as a liveness sequence's frames are: an
   * identity's images k at a time in manifest order, gallery and other images never in one search; default 1.
   */
  probeImages?: number;
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

/** Gallery sizes the gallery-size curve is measured at (below the whole gallery, which is always measured). */
const GALLERY_SIZES = [100, 200, 500, 1000, 2000, 5000, 10_000];
/** Random sub-galleries per size: enough to average out which identities a small gallery happens to hold. */
const GALLERY_DRAWS = 5;

/** Open-set identification of the set's images (protocol in src/evaluation/open-set.ts). */
export interface OpenSetResult extends OpenSetMeasures {
  protocol: 'leave-one-identity-out';
  gallery_images_per_identity: number;
  /** Images fused into each search (an identity's incomplete last group is not searched). */
  probe_images_per_search: number;
  /** Gallery identities that came from --distractors sets. */
  distractor_identities: number;
  /** FPIR and FNIR when the 1:1 operating threshold decides the top candidate. */
  operating?: { threshold: number; fpir: number; fnir: number };
  /** The impostor score tail the extrapolation rests on (absent when fewer than 30 scores lie in it). */
  tail?: ImpostorTail;
  gallery_sizes: GallerySizePoint[];
  extrapolated?: ExtrapolatedPoint[];
}

interface Common {
  set: string;
  model: string;
  /** Images of the set without a usable face (or unreadable): every image is an open-set search. */
  fta: number;
  operating?: OperatingPoint;
  fairness?: FairnessReport;
  open_set: OpenSetResult;
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
  /** Identities of the set with a usable gallery image. */
  gallery: number;
  /** Every other image (the mated searches); a probe that failed to acquire counts as a miss. */
  probes: number;
  /** Closed-set rank-1 over the probes (open_set.rank1: with --distractors, against their identities too). */
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

  const galleryImages = options.galleryImages ?? 1;
  if (!Number.isInteger(galleryImages) || galleryImages < 1) {
    throw new MedfaceError('INVALID_ARGUMENT', `gallery images per identity must be a positive integer, not ${galleryImages}`);
  }
  const probeImages = options.probeImages ?? 1;
  if (!Number.isInteger(probeImages) || probeImages < 1) {
    throw new MedfaceError('INVALID_ARGUMENT', `images per search must be a positive integer, not ${probeImages}`);
  }
  const distractors = (options.distractors ?? []).map((d) => readDataset(d));
  const distractorGallery = distractors.flatMap((d) => firstImages(d, galleryImages).map((g) => ({ identity: `${d.name}/${g.identity}`, files: g.files.map((f) => path.resolve(d.dir, f)) })));

  // every image of the set is an open-set search, so all of them are needed whether or not there are pairs
  const needed = dataset.entries.map((e) => e.path);
  const cache = new EmbeddingCache(options.outDir ?? '.cache', model);
  const files = [...needed.map((f) => path.resolve(dataset.dir, f)), ...distractorGallery.flatMap((g) => g.files)];
  const byAbsolute = await acquireImages(pool, files, cache, options.onProgress);
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
  const fairness = options.groupBy !== undefined && thresholds ? groupRates(scored, groupLookup(dataset, options.groupBy), options.groupBy, thresholds.match) : undefined;

  const vectorOf = (file: string): Embedding | null => {
    const a = byAbsolute.get(file)!;
    return 'embedding' in a ? a.embedding : null;
  };
  const setGallery = firstImages(dataset, galleryImages);
  const inGallery = new Set(setGallery.flatMap((g) => g.files));
  const gallery: Array<GalleryIdentity<Embedding>> = [
    ...setGallery.map((g) => ({ identity: g.identity, vectors: g.files.map(embeddingOf).filter((v): v is Embedding => v !== null) })),
    ...distractorGallery.map((g) => ({ identity: g.identity, vectors: g.files.map(vectorOf).filter((v): v is Embedding => v !== null) })),
  ];
  const searches = fusedSearches(dataset, inGallery, embeddingOf, probeImages);
  const openSet = measureOpenSet(gallery, searches, thresholds?.match);
  const open_set: OpenSetResult = {
    ...openSet.result,
    gallery_images_per_identity: galleryImages,
    probe_images_per_search: probeImages,
    distractor_identities: distractorGallery.length,
  };

  const common = { set: dataset.name, model, fta, operating, fairness, open_set };
  let result: EvaluationResult;
  if (pairs) {
    result = { mode: 'verification', ...common, pairs: pairs.length, fta_pairs: unscored, ...measures, seconds: 0 };
  } else {
    const enrolled = gallery.slice(0, setGallery.length).filter((g) => g.vectors.length > 0).length;
    const identification = { identities: setGallery.length, gallery: enrolled, probes: open_set.mated, rank1: open_set.rank1 };
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
        openSet: { curve: openSet.curve, summary: openSetRows(open_set), gallerySizes: open_set.gallery_sizes },
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

/** The first `k` images of each identity, in manifest order. */
function firstImages(dataset: Dataset, k: number): Array<{ identity: string; files: string[] }> {
  const byIdentity = new Map<string, string[]>();
  for (const e of dataset.entries) {
    const files = byIdentity.get(e.identity) ?? [];
    if (files.length < k) files.push(e.path);
    byIdentity.set(e.identity, files);
  }
  return [...byIdentity].map(([identity, files]) => ({ identity, files }));
}

/**
 * The open-set searches: each identity's images in manifest order, `k` at a time, each group fused into one
 * probe (the mean of its normalised embeddings, as a liveness sequence's views are fused; images without a
 * face left out of it, a group without any is a search without a face). A gallery image is only ever grouped
 * with gallery images (those are non-mated searches only); a last group with fewer than `k` images is left out.
 */
function fusedSearches(dataset: Dataset, inGallery: ReadonlySet<string>, embeddingOf: (file: string) => Embedding | null, k: number): Array<SearchImage<Embedding>> {
  const searches: Array<SearchImage<Embedding>> = [];
  const open = new Map<string, string[]>();
  for (const e of dataset.entries) {
    const mated = !inGallery.has(e.path);
    const key = `${mated ? 'search' : 'gallery'}\0${e.identity}`;
    const group = [...(open.get(key) ?? []), e.path];
    if (group.length < k) {
      open.set(key, group);
      continue;
    }
    open.delete(key);
    const views = group.map(embeddingOf).filter((v): v is Embedding => v !== null);
    searches.push({ identity: e.identity, vector: views.length > 0 ? fuseViews(views, views.length) : null, mated });
  }
  return searches;
}

function measureOpenSet(
  gallery: Array<GalleryIdentity<Embedding>>,
  searches: Array<SearchImage<Embedding>>,
  operatingThreshold: number | undefined,
): { result: Omit<OpenSetResult, 'gallery_images_per_identity' | 'probe_images_per_search' | 'distractor_identities'>; curve: ErrorCurve } {
  const matrix = scoreMatrix(gallery, searches, similarity);
  const outcomes = searchOutcomes(matrix);
  const curve = openSetCurve(outcomes);
  const tail = fitImpostorTail(matrix);
  return {
    curve,
    result: {
      protocol: 'leave-one-identity-out',
      ...openSetMeasures(outcomes, curve),
      operating: operatingThreshold === undefined ? undefined : { threshold: operatingThreshold, ...openSetRatesAt(outcomes, operatingThreshold) },
      tail,
      gallery_sizes: gallerySizeCurve(matrix, GALLERY_SIZES, GALLERY_DRAWS, tail),
      extrapolated: tail && extrapolate(tail, outcomes),
    },
  };
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

function openSetRows(o: OpenSetResult): Array<[string, string | number]> {
  const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(2)}%`);
  const rows: Array<[string, string | number]> = [
    [
      'protocol',
      `${o.protocol}: every image searched as non-mated against the gallery without its identity; images after the first ${o.gallery_images_per_identity} of an identity also as mated searches`,
    ],
    ['images fused per search', o.probe_images_per_search],
    ['gallery identities (of which distractors)', `${o.gallery} (${o.distractor_identities})`],
    ['mated / non-mated searches', `${o.mated} / ${o.nonmated}`],
    ['rank-1 / rank-5 / rank-10 / rank-20', [1, 5, 10, 20].map((k) => pct(o.cmc[String(k)] ?? null)).join(' / ')],
    ['FNIR at FPIR 1% (threshold)', `${pct(o.fnir_at_fpir['0.01'])} (${o.threshold_at_fpir['0.01']?.toFixed(4) ?? 'none'})`],
    ['FNIR at FPIR 0.1% (threshold)', `${pct(o.fnir_at_fpir['0.001'])} (${o.threshold_at_fpir['0.001']?.toFixed(4) ?? 'none'})`],
  ];
  if (o.operating) rows.push([`FPIR / FNIR at the 1:1 operating threshold ${o.operating.threshold.toFixed(4)}`, `${pct(o.operating.fpir)} / ${pct(o.operating.fnir)}`]);
  if (o.tail) {
    rows.push(['impostor tail (exponential above u)', `u ${o.tail.u.toFixed(4)}, σ ${o.tail.sigma.toFixed(5)}, ${o.tail.exceedances} of ${o.tail.comparisons} comparisons above u`]);
    for (const e of o.extrapolated ?? []) {
      rows.push([
        `modelled for N = ${e.gallery.toLocaleString('en')}: threshold at FPIR 1% (FNIR of the mated searches there)`,
        `${e.threshold_at_fpir['0.01']?.toFixed(4) ?? 'n/a'} (${pct(e.fnir_at_threshold['0.01'])})`,
      ]);
    }
  }
  return rows;
}
