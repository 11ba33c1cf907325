import path from 'node:path';
import { acquireImages } from '../../evaluation/acquire.js';
import { EmbeddingCache } from '../../evaluation/cache.js';
import { allPairScores, calibrateThresholds, concatScores, DEFAULT_OPERATING_FMR, type PairScores } from '../../evaluation/calibrate.js';
import { readDataset } from '../../evaluation/dataset.js';
import type { FacePool } from '../../face/index.js';
import { DEFAULT_THRESHOLDS_PATH, writeModelThresholds, type ModelThresholds } from '../../identity/thresholds.js';

export interface CalibrateOptions {
  /** Id of the embedder the pool runs. */
  model: string;
  /** Operating false-match rate (default 1e-3). */
  fmr?: number;
  /** Operating false-positive identification rate per 1:N search (default: the same as `fmr`). */
  fpir?: number;
  /** File to write; default config/thresholds.json. */
  thresholdsFile?: string;
  /** Embedding cache root (default `.cache`). */
  cacheDir?: string;
  /** How the run was started, stored as provenance. */
  command: string;
  onProgress?: (set: string, done: number, total: number) => void;
}

export interface CalibrationResult {
  model: string;
  file: string;
  thresholds: ModelThresholds;
}

/**
 * Calibrates the pool's embedder on one or more labelled sets: every image of every set is embedded,
 * every within-set pair scored, and the thresholds are the impostor-score quantiles of the target rates.
 * Several sets of different capture conditions make the thresholds less specific to any one of them. The
 * same impostor scores give the identification section: the target rate per search and the score tail
 * that sizes the 1:N thresholds to any gallery.
 */
export async function calibrateSets(pool: () => Promise<FacePool>, setDirs: readonly string[], options: CalibrateOptions): Promise<CalibrationResult> {
  const { model } = options;
  const cache = new EmbeddingCache(options.cacheDir ?? '.cache', model);
  const datasets = setDirs.map(readDataset);
  const parts: PairScores[] = [];
  let failuresToAcquire = 0;
  for (const set of datasets) {
    const files = set.entries.map((e) => path.resolve(set.dir, e.path));
    const acquired = await acquireImages(pool, files, cache, options.onProgress && ((d, t) => options.onProgress!(set.name, d, t)));
    const images = set.entries.map((e, i) => {
      const a = acquired.get(files[i]!)!;
      if ('failure' in a) failuresToAcquire++;
      return { identity: e.identity, embedding: 'embedding' in a ? a.embedding : null };
    });
    parts.push(allPairScores(images));
  }
  const thresholds = calibrateThresholds({
    scores: concatScores(parts),
    fmr: options.fmr ?? DEFAULT_OPERATING_FMR,
    ...(options.fpir !== undefined && { fpir: options.fpir }),
    sets: datasets.map((d) => d.name),
    failuresToAcquire,
    command: options.command,
  });
  const file = options.thresholdsFile ?? DEFAULT_THRESHOLDS_PATH;
  writeModelThresholds(model, thresholds, file);
  return { model, file, thresholds };
}
