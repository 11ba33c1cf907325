/**
 * Compares every recogniser medface can run on a verification set (manifest.csv + pairs.csv, the layout of
 * ../shared/eval), each with its own alignment and preprocessing, and prints one markdown table:
 *
 *   npx tsx bench/compare-embedders.ts ../shared/eval/lfw-dev [--embedders id,id] [--timing-sample 30]
 *
 * Every image is decoded and detected once (Human's detector and mesh as the engine runs them; the subject
 * face as the engine chooses it); detections and embeddings are cached under .cache/compare-embedders/, so a
 * rerun only pays for what changed. Registered embedders run as registered (mirrored test-time augmentation
 * included); the graph-model recognisers also run without it, to show what the augmentation buys.
 *
 * Columns: accuracy with the threshold chosen by 10-fold cross-validation (picked on nine folds, counted on
 * the tenth; folds interleave the pair list) and a failure to acquire counted as an error; the same with the
 * one threshold best on all pairs (how docs/accuracy.md reports a set); ROC AUC, EER and
 * TAR at FAR 1% over the pairs both of whose images gave a face; FTA pairs; the median time of one `embed`
 * call (alignment, preprocessing, forward passes) over a fixed sample of images, measured on every run.
 * The last row fuses the two most accurate networks at score level: each one's cosine scores z-normalised
 * (mean and deviation of the scores of the training folds, or of all pairs for AUC/EER/TAR), then summed.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { EmbeddingCache } from '../src/evaluation/cache.js';
import { readDataset, readPairs, type Pair } from '../src/evaluation/dataset.js';
import { auc, bestAccuracy, eer, errorCurve, tarAtFar } from '../src/evaluation/metrics.js';
import { createDetector, type Detector } from '../src/face/detector.js';
import { createFaceResDeepEmbedder, createFaceResEmbedder } from '../src/face/embedders/faceres.js';
import { createEmbedder, EMBEDDER_IDS } from '../src/face/embedders/index.js';
import { createMobileFaceEmbedder } from '../src/face/embedders/mobileface.js';
import { createMobileFaceNetEmbedder } from '../src/face/embedders/mobilefacenet.js';
import type { Embedder } from '../src/face/embedders/types.js';
import { decodeImage } from '../src/face/image.js';
import { assessCapture } from '../src/face/quality.js';
import type { DetectedFace, RgbImage } from '../src/face/types.js';

const CACHE_ROOT = path.resolve('.cache', 'compare-embedders');
const FOLDS = 10;

/** The graph-model recognisers without mirrored augmentation: not registered, measured for comparison. */
const UNFLIPPED: Array<() => Embedder> = [() => createFaceResEmbedder(false), () => createFaceResDeepEmbedder(false), () => createMobileFaceEmbedder(false), () => createMobileFaceNetEmbedder(false)];

interface Args {
  setDir: string;
  embedders: string[] | undefined;
  timingSample: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { setDir: '', embedders: undefined, timingSample: 30 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--embedders') args.embedders = argv[++i]!.split(',');
    else if (a === '--timing-sample') args.timingSample = Number(argv[++i]);
    else if (!a.startsWith('--') && !args.setDir) args.setDir = a;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!args.setDir) throw new Error('usage: npx tsx bench/compare-embedders.ts SETDIR [--embedders id,id] [--timing-sample N]');
  return args;
}

interface Image {
  file: string;
  key: string;
}

/** The subject face of each image, detected once and cached by the image's SHA-256. */
async function detectAll(images: Image[]): Promise<Map<string, DetectedFace | null>> {
  const dir = path.join(CACHE_ROOT, 'detections');
  mkdirSync(dir, { recursive: true });
  const result = new Map<string, DetectedFace | null>();
  let detector: Detector | undefined;
  let done = 0;
  for (const { file, key } of images) {
    const cacheFile = path.join(dir, `${key}.json`);
    let face: DetectedFace | null | undefined;
    try {
      face = (JSON.parse(readFileSync(cacheFile, 'utf8')) as { face: DetectedFace | null }).face;
    } catch {
      detector ??= await createDetector();
      const image = await decodeImage(readFileSync(file));
      const faces = await detector.detect(image);
      const { subject } = assessCapture(image, faces, 'verify');
      face = subject >= 0 ? faces[subject]! : null;
      writeAtomically(cacheFile, JSON.stringify({ face }));
    }
    result.set(key, face);
    if (++done % 100 === 0) progress(`detected ${done}/${images.length}`);
  }
  return result;
}

interface Measured {
  id: string;
  dimensions: number;
  vectors: Map<string, Float32Array>;
  msPerEmbed: number;
}

async function embedAll(embedder: Embedder, images: Image[], faces: Map<string, DetectedFace | null>, timingSample: number): Promise<Measured> {
  await embedder.load();
  const cache = new EmbeddingCache(CACHE_ROOT, embedder.id);
  const vectors = new Map<string, Float32Array>();
  const withFace = images.filter((im) => faces.get(im.key));
  const decode = async (im: Image): Promise<RgbImage> => decodeImage(readFileSync(im.file));
  let done = 0;
  for (const im of withFace) {
    const cached = cache.get(im.key);
    let vector: Float32Array;
    if (cached && 'embedding' in cached) vector = cached.embedding.vector;
    else {
      vector = await embedder.embed(await decode(im), faces.get(im.key)!);
      cache.put(im.key, { embedding: { model: embedder.id, vector } });
    }
    vectors.set(im.key, vector);
    if (++done % 200 === 0) progress(`${embedder.id}: ${done}/${withFace.length}`);
  }
  // Timing on a fixed sample every run (cached vectors carry no time); the first call warms the backend up.
  const sample = withFace.slice(0, timingSample + 1);
  const times: number[] = [];
  for (const [i, im] of sample.entries()) {
    const image = await decode(im);
    const t0 = performance.now();
    await embedder.embed(image, faces.get(im.key)!);
    if (i > 0) times.push(performance.now() - t0);
  }
  embedder.dispose();
  return { id: embedder.id, dimensions: embedder.dimensions, vectors, msPerEmbed: median(times) };
}

/** Similarity per pair; NaN when either image gave no face (a failure to acquire). */
type Scores = Float64Array;

function pairScores(m: Measured, pairs: Pair[], keyOf: Map<string, string>): Scores {
  return Float64Array.from(pairs, (p) => {
    const a = m.vectors.get(keyOf.get(p.file1)!);
    const b = m.vectors.get(keyOf.get(p.file2)!);
    if (!a || !b) return NaN;
    let dot = 0;
    for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
    return dot;
  });
}

interface Row {
  name: string;
  dims: string;
  cvAccuracy: number;
  bestAccuracy: number;
  auc: number;
  eer: number;
  tar1: number;
  ftaPairs: number;
  ms: string;
}

/**
 * Summary of one score set. `transform` maps raw scores given the indices of the pairs whose statistics it
 * may use (fusion z-normalises with the training folds only); plain recognisers pass scores through.
 */
function summarise(name: string, dims: string, ms: string, pairs: Pair[], score: (fit: number[]) => Scores): Row {
  const all = pairs.map((_, i) => i);
  const scoredOver = (s: Scores, idx: number[]) => {
    const genuine: number[] = [];
    const impostor: number[] = [];
    let unscored = 0;
    for (const i of idx) {
      if (Number.isNaN(s[i]!)) unscored++;
      else (pairs[i]!.same ? genuine : impostor).push(s[i]!);
    }
    return { genuine, impostor, unscored };
  };
  let correct = 0;
  for (let f = 0; f < FOLDS; f++) {
    const train = all.filter((i) => i % FOLDS !== f);
    const test = all.filter((i) => i % FOLDS === f);
    const s = score(train);
    const t = scoredOver(s, train);
    const threshold = midpointBelow(bestAccuracy(errorCurve(t.genuine, t.impostor)).threshold, [...t.genuine, ...t.impostor]);
    for (const i of test) if (!Number.isNaN(s[i]!) && s[i]! >= threshold === pairs[i]!.same) correct++;
  }
  const whole = scoredOver(score(all), all);
  const curve = errorCurve(whole.genuine, whole.impostor);
  return {
    name,
    dims,
    cvAccuracy: correct / pairs.length,
    bestAccuracy: bestAccuracy(curve, whole.unscored).accuracy,
    auc: auc(curve),
    eer: eer(curve),
    tar1: tarAtFar(curve, 0.01),
    ftaPairs: whole.unscored,
    ms,
  };
}

/**
 * The best training threshold is the lowest accepted training score; halfway down to the next lower training
 * score leaves the unseen fold a margin on both sides instead of none below.
 */
function midpointBelow(threshold: number, scores: number[]): number {
  let below = -Infinity;
  for (const v of scores) if (v < threshold && v > below) below = v;
  if (!Number.isFinite(threshold)) return threshold;
  return Number.isFinite(below) ? (threshold + below) / 2 : threshold;
}

/** Scores z-normalised by the mean and deviation of the scored pairs among `fit`. */
function zNormalised(s: Scores, fit: number[]): Scores {
  const vals = fit.map((i) => s[i]!).filter((v) => !Number.isNaN(v));
  const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
  const sd = Math.sqrt(vals.reduce((a, b) => a + (b - mean) ** 2, 0) / vals.length);
  return s.map((v) => (v - mean) / sd);
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

const pct = (x: number): string => (100 * x).toFixed(1) + '%';

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const dataset = readDataset(args.setDir);
  const pairs = readPairs(dataset);
  if (!pairs) throw new Error(`${dataset.dir} has no pairs.csv`);

  const files = [...new Set(pairs.flatMap((p) => [p.file1, p.file2]))];
  const keyOf = new Map<string, string>();
  const images: Image[] = files.map((f) => {
    const file = path.resolve(dataset.dir, f);
    const key = createHash('sha256').update(readFileSync(file)).digest('hex');
    keyOf.set(f, key);
    return { file, key };
  });
  const faces = await detectAll(images);

  const makers = (args.embedders ?? EMBEDDER_IDS).map((id) => () => createEmbedder(id));
  if (!args.embedders) makers.push(...UNFLIPPED);
  const measured: Measured[] = [];
  for (const make of makers) {
    const embedder = make();
    progress(`embedding with ${embedder.id}`);
    measured.push(await embedAll(embedder, images, faces, args.timingSample));
  }

  const scores = new Map(measured.map((m) => [m.id, pairScores(m, pairs, keyOf)]));
  const rows = measured.map((m) => summarise(m.id, String(m.dimensions), m.msPerEmbed.toFixed(0), pairs, () => scores.get(m.id)!));
  rows.sort((a, b) => b.cvAccuracy - a.cvAccuracy || b.auc - a.auc);
  // The two most accurate distinct networks (a network with and without mirroring is one network).
  const network = (id: string): string => id.replace(/\+flip$/, '');
  const first = rows[0];
  const second = rows.find((r) => first && network(r.name) !== network(first.name));
  if (first && second) {
    const a = scores.get(first.name)!;
    const b = scores.get(second.name)!;
    rows.push(
      summarise(`fusion: ${first.name} + ${second.name}`, `${first.dims}+${second.dims}`, `${first.ms}+${second.ms}`, pairs, (fit) => {
        const za = zNormalised(a, fit);
        const zb = zNormalised(b, fit);
        return za.map((v, i) => v + zb[i]!);
      }),
    );
  }

  const noFace = [...faces.values()].filter((f) => !f).length;
  console.log(`set: ${dataset.name}, ${pairs.length} pairs, ${images.length} images, ${noFace} without a detected face`);
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.versions.node}, tfjs-wasm, load average ${os.loadavg()[0]!.toFixed(1)}`);
  console.log('');
  console.log('| model | dims | accuracy (10-fold CV) | accuracy (best threshold) | AUC | EER | TAR@FAR 1% | FTA pairs | ms / embed |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.name} | ${r.dims} | ${pct(r.cvAccuracy)} | ${pct(r.bestAccuracy)} | ${r.auc.toFixed(4)} | ${pct(r.eer)} | ${pct(r.tar1)} | ${r.ftaPairs} | ${r.ms} |`);
  }
}

await main();
