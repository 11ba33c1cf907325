/**
 * Learned transforms and score normalisation for one recogniser, fitted on lfw-train only and measured on the
 * sets nothing was fitted to, from the embeddings `medface evaluate` cached (run it on every set first with
 * --out; `--cache DIR` holds `DIR/embeddings/<model>/`):
 *
 *   npx tsx bench/learned-normalisation.ts --cache DIR [--model ID] --fit LFW_TRAIN --dev LFW_DEV [--other SETDIR...]
 *
 * Methods (each maps an embedding x to normalise(W·(x − μ)) and scores by the cosine, or adds s-norm):
 * - `cosine`: the embedding as it is (today's default, the same-run baseline);
 * - `center`: μ = the fit set's mean embedding;
 * - `pca-white[α, k]`: PCA whitening of the fit set's images, eigenvalues shrunk by α·their mean, first k axes;
 * - `wccn[α]`: within-class whitening, W = (S_w + α·tr(S_w)/d·I)^(−1/2), S_w from identities with ≥ 2 images;
 * - `lda[k]`: W_wccn then the k axes of most between-class variance in the whitened space;
 * - `+snorm[K]`: symmetric score normalisation: each score minus the mean of each side's K highest cohort
 *   scores, divided by their deviation, averaged over both sides (adaptive s-norm; K = all is plain s-norm);
 *   the cohort is every fit image.
 *
 * Leakage: when lfw-train is both the fit set and the distractors, the distractors' own images shaped the
 * transform (and sit in the cohort), which biases 1:N towards the learned methods. So 1:N is reported two ways:
 * `cross-fit` (lfw-train's people split in two halves by manifest order; fit on one half, its other half the
 * distractors, then swapped; the two halves' searches pooled) is unbiased; `full` (fit on all of lfw-train, all
 * of it as distractors, gallery 3,095 as `evaluate --distractors` builds it) is biased and shown for reference.
 * 1:1 figures use the full fit: the threshold at FMR 1e-3 is calibrated on lfw-train's impostor pairs (all
 * pairs of different people), as `medface calibrate` does, and applied to ORL, Yale and BBT (all pairs); with
 * s-norm on the pairs of one half of lfw-train's people, the other half being the cohort.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EmbeddingCache } from '../src/evaluation/cache.js';
import { readDataset, readPairs, type Dataset } from '../src/evaluation/dataset.js';
import { bestAccuracy, errorCurve, errorRates, tarAtFar, thresholdAtFmr } from '../src/evaluation/metrics.js';
import { openSetMeasures, scoreMatrix, searchOutcomes, type GalleryIdentity, type SearchImage, type SearchOutcomes } from '../src/evaluation/open-set.js';
import { MOBILEFACENET_EMBEDDER_ID } from '../src/face/embedders/mobilefacenet.js';

interface Args {
  cache: string;
  model: string;
  fit: string;
  dev: string;
  other: string[];
  only?: RegExp;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { cache: '', model: MOBILEFACENET_EMBEDDER_ID, fit: '', dev: '', other: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--cache') args.cache = argv[++i]!;
    else if (arg === '--model') args.model = argv[++i]!;
    else if (arg === '--fit') args.fit = argv[++i]!;
    else if (arg === '--dev') args.dev = argv[++i]!;
    else if (arg === '--other') args.other.push(argv[++i]!);
    else if (arg === '--only') args.only = new RegExp(argv[++i]!);
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!args.cache || !args.fit || !args.dev) {
    throw new Error('usage: npx tsx bench/learned-normalisation.ts --cache DIR [--model ID] --fit LFW_TRAIN --dev LFW_DEV [--other SETDIR]... [--only REGEX]');
  }
  return args;
}

type Vec = Float64Array;
interface Image {
  path: string;
  identity: string;
  /** null: no face (a failure to acquire). */
  v: Vec | null;
}

/** The set's images; with `partial`, those the cache does not hold are left out instead of refused. */
function loadSet(dataset: Dataset, cache: EmbeddingCache, partial = false): Image[] {
  return dataset.entries.flatMap((e) => {
    const a = cache.get(EmbeddingCache.key(readFileSync(path.resolve(dataset.dir, e.path))));
    if (!a && partial) return [];
    if (!a) throw new Error(`${dataset.name}/${e.path} is not in the cache: run medface evaluate --out on it first`);
    return [{ path: e.path, identity: e.identity, v: 'embedding' in a ? Float64Array.from(a.embedding.vector) : null }];
  });
}

// ---- linear algebra (d ≤ 512: plain loops are fast enough) ----

type Matrix = Float64Array[]; // rows

function meanOf(xs: Vec[]): Vec {
  const m = new Float64Array(xs[0]!.length);
  for (const x of xs) for (let i = 0; i < m.length; i++) m[i]! += x[i]!;
  for (let i = 0; i < m.length; i++) m[i]! /= xs.length;
  return m;
}

/** Σ (x − m)(x − m)ᵀ / n over the given deviations. */
function covariance(deviations: Vec[], d: number): Matrix {
  const c: Matrix = Array.from({ length: d }, () => new Float64Array(d));
  for (const x of deviations) {
    for (let i = 0; i < d; i++) {
      const xi = x[i]!;
      const row = c[i]!;
      for (let j = i; j < d; j++) row[j]! += xi * x[j]!;
    }
  }
  for (let i = 0; i < d; i++) for (let j = i; j < d; j++) c[j]![i] = c[i]![j]! /= deviations.length;
  return c;
}

/** Eigen-decomposition of a symmetric matrix (cyclic Jacobi): eigenvalues descending, eigenvectors as rows. */
function eigh(a: Matrix): { values: Float64Array; vectors: Matrix } {
  const n = a.length;
  const m = a.map((r) => Float64Array.from(r));
  const v: Matrix = Array.from({ length: n }, (_, i) => {
    const r = new Float64Array(n);
    r[i] = 1;
    return r;
  });
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p]![q]! ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p]![q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q]![q]! - m[p]![p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k]![p]!;
          const mkq = m[k]![q]!;
          m[k]![p] = c * mkp - s * mkq;
          m[k]![q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p]![k]!;
          const mqk = m[q]![k]!;
          m[p]![k] = c * mpk - s * mqk;
          m[q]![k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vpk = v[p]![k]!;
          const vqk = v[q]![k]!;
          v[p]![k] = c * vpk - s * vqk;
          v[q]![k] = s * vpk + c * vqk;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => m[j]![j]! - m[i]![i]!);
  return { values: Float64Array.from(order.map((i) => m[i]![i]!)), vectors: order.map((i) => v[i]!) };
}

function apply(w: Matrix, x: Vec): Vec {
  const y = new Float64Array(w.length);
  for (let i = 0; i < w.length; i++) {
    const row = w[i]!;
    let s = 0;
    for (let j = 0; j < x.length; j++) s += row[j]! * x[j]!;
    y[i] = s;
  }
  return y;
}

function normalised(x: Vec): Vec {
  let n = 0;
  for (let i = 0; i < x.length; i++) n += x[i]! * x[i]!;
  n = Math.sqrt(n) || 1;
  return x.map((v) => v / n);
}

function dot(a: Vec, b: Vec): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Rows scaled: W = diag(scale)·V, first k rows. */
function scaledRows(vectors: Matrix, scale: (i: number) => number, k: number): Matrix {
  return vectors.slice(0, k).map((r, i) => r.map((x) => x * scale(i)));
}

// ---- methods ----

type Transform = (x: Vec) => Vec;
interface Fitted {
  map: Transform;
  /** Adaptive s-norm cohort size (0: none; Infinity: the whole cohort). */
  snorm: number;
}
interface Method {
  name: string;
  fit(train: Array<{ identity: string; v: Vec }>): Fitted;
}

const identity: Transform = (x) => x;

function linear(mu: Vec, w: Matrix | null): Transform {
  return (x) => {
    const centred = x.map((v, i) => v - mu[i]!);
    return normalised(w ? apply(w, centred) : centred);
  };
}

function withinClass(train: Array<{ identity: string; v: Vec }>, d: number): Matrix {
  const byId = new Map<string, Vec[]>();
  for (const t of train) byId.set(t.identity, [...(byId.get(t.identity) ?? []), t.v]);
  const deviations: Vec[] = [];
  for (const vs of byId.values()) {
    if (vs.length < 2) continue;
    const m = meanOf(vs);
    for (const v of vs) deviations.push(v.map((x, i) => x - m[i]!));
  }
  return covariance(deviations, d);
}

function wccnMatrix(train: Array<{ identity: string; v: Vec }>, alpha: number): Matrix {
  const d = train[0]!.v.length;
  const sw = withinClass(train, d);
  let trace = 0;
  for (let i = 0; i < d; i++) trace += sw[i]![i]!;
  for (let i = 0; i < d; i++) sw[i]![i]! += (alpha * trace) / d;
  const { values, vectors } = eigh(sw);
  // Sw^(-1/2) = Vᵀ diag(λ^(-1/2)) V: keeping it symmetric leaves the axes where they were
  const half = scaledRows(vectors, (i) => 1 / Math.sqrt(values[i]!), d);
  const w: Matrix = Array.from({ length: d }, () => new Float64Array(d));
  for (let k = 0; k < d; k++) for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) w[i]![j]! += vectors[k]![i]! * half[k]![j]!;
  return w;
}

const methods: Method[] = [
  { name: 'cosine', fit: () => ({ map: identity, snorm: 0 }) },
  { name: 'center', fit: (train) => ({ map: linear(meanOf(train.map((t) => t.v)), null), snorm: 0 }) },
  ...[
    [0, 192],
    [0.1, 192],
    [1, 192],
    [0.1, 128],
    [0.1, 96],
    [0, 128],
  ].map(([alpha, k]): Method => ({
    name: `pca-white[α=${alpha},k=${k}]`,
    fit: (train) => {
      const mu = meanOf(train.map((t) => t.v));
      const { values, vectors } = eigh(
        covariance(
          train.map((t) => t.v.map((x, i) => x - mu[i]!)),
          mu.length,
        ),
      );
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      return {
        map: linear(
          mu,
          scaledRows(vectors, (i) => 1 / Math.sqrt(values[i]! + alpha! * mean), k!),
        ),
        snorm: 0,
      };
    },
  })),
  ...[0.01, 0.1, 1].map((alpha): Method => ({
    name: `wccn[α=${alpha}]`,
    fit: (train) => ({ map: linear(meanOf(train.map((t) => t.v)), wccnMatrix(train, alpha)), snorm: 0 }),
  })),
  ...[
    [0.1, 128],
    [0.1, 64],
  ].map(([alpha, k]): Method => ({
    name: `lda[α=${alpha},k=${k}]`,
    fit: (train) => {
      const mu = meanOf(train.map((t) => t.v));
      const w = wccnMatrix(train, alpha!);
      // between-class scatter of the identity means in the within-class-whitened space
      const byId = new Map<string, Vec[]>();
      for (const t of train)
        byId.set(t.identity, [
          ...(byId.get(t.identity) ?? []),
          apply(
            w,
            t.v.map((x, i) => x - mu[i]!),
          ),
        ]);
      const means = [...byId.values()].map(meanOf);
      const { vectors } = eigh(covariance(means, mu.length));
      const proj = vectors.slice(0, k!);
      const pw = proj.map((r) => {
        const out = new Float64Array(mu.length);
        for (let j = 0; j < mu.length; j++) for (let i = 0; i < mu.length; i++) out[j]! += r[i]! * w[i]![j]!;
        return out;
      });
      return { map: linear(mu, pw), snorm: 0 };
    },
  })),
];
// score normalisation on top of the plain cosine and of within-class whitening
for (const base of ['cosine', 'wccn[α=0.1]']) {
  const m = methods.find((x) => x.name === base)!;
  for (const k of [100, 400, Infinity]) {
    methods.push({ name: `${base}+snorm[K=${k === Infinity ? 'all' : k}]`, fit: (train) => ({ ...m.fit(train), snorm: k }) });
  }
}

// ---- scoring ----

interface Scored {
  v: Vec;
  mu: number;
  sd: number;
}

function prepare(fitted: Fitted, cohort: Vec[]): (v: Vec | null) => Scored | null {
  return (v) => {
    if (!v) return null;
    const x = fitted.map(v);
    if (fitted.snorm === 0) return { v: x, mu: 0, sd: 1 };
    const scores = cohort.map((c) => dot(x, c));
    const k = Math.min(fitted.snorm, scores.length);
    const top =
      k < scores.length
        ? Float64Array.from(scores)
            .sort()
            .subarray(scores.length - k)
        : scores;
    let s = 0;
    let sq = 0;
    for (const t of top) {
      s += t;
      sq += t * t;
    }
    const mu = s / top.length;
    return { v: x, mu, sd: Math.sqrt(Math.max(sq / top.length - mu * mu, 1e-12)) };
  };
}

function score(a: Scored, b: Scored, snorm: boolean): number {
  const s = dot(a.v, b.v);
  return snorm ? ((s - a.mu) / a.sd + (s - b.mu) / b.sd) / 2 : s;
}

/** lfw-dev's open-set protocol (first image per identity; leave one identity out) with extra gallery identities. */
function openSet(dev: Image[], distractors: Image[], prep: (v: Vec | null) => Scored | null, snorm: boolean): SearchOutcomes {
  const first = (images: Image[], prefix: string) => {
    const seen = new Map<string, Image>();
    for (const i of images) if (!seen.has(i.identity)) seen.set(i.identity, i);
    return [...seen.values()].map((i) => ({ identity: prefix + i.identity, path: i.path, v: i.v }));
  };
  const devGallery = first(dev, '');
  const inGallery = new Set(devGallery.map((g) => g.path));
  const gallery: Array<GalleryIdentity<Scored>> = [...devGallery, ...first(distractors, 'distractor/')].map((g) => {
    const p = prep(g.v);
    return { identity: g.identity, vectors: p ? [p] : [] };
  });
  const searches: Array<SearchImage<Scored>> = dev.map((i) => ({ identity: i.identity, vector: prep(i.v), mated: !inGallery.has(i.path) }));
  return searchOutcomes(scoreMatrix(gallery, searches, (a, b) => score(a, b, snorm)));
}

function pooled(a: SearchOutcomes, b: SearchOutcomes): SearchOutcomes {
  return { gallery: Math.round((a.gallery + b.gallery) / 2), mated: [...a.mated, ...b.mated], nonmated: [...a.nonmated, ...b.nonmated] };
}

/** All pairs of different identities' acquired images (impostors) and of the same identity's (genuines). */
function allPairScores(images: Array<Scored | null>, ids: string[], snorm: boolean): { genuine: Float64Array; impostor: Float64Array; unscored: number } {
  const genuine: number[] = [];
  const impostor = new Float64Array((images.length * (images.length - 1)) / 2);
  let n = 0;
  let unscored = 0;
  for (let i = 0; i < images.length; i++) {
    for (let j = i + 1; j < images.length; j++) {
      const a = images[i];
      const b = images[j];
      if (!a || !b) {
        unscored++;
        continue;
      }
      const s = score(a, b, snorm);
      if (ids[i] === ids[j]) genuine.push(s);
      else impostor[n++] = s;
    }
  }
  return { genuine: Float64Array.from(genuine), impostor: impostor.slice(0, n), unscored };
}

// ---- run ----

const args = parseArgs(process.argv.slice(2));
const cache = new EmbeddingCache(args.cache, args.model);
const fitSet = readDataset(args.fit);
const devSet = readDataset(args.dev);
const fitImages = loadSet(fitSet, cache, true);
const devImages = loadSet(devSet, cache);
const devPairs = readPairs(devSet)!;
const others = args.other.map((dir) => {
  const d = readDataset(dir);
  return { name: d.name, images: loadSet(d, cache) };
});

// halves of lfw-train by identity, in manifest order (alternate identities)
const fitIds = [...new Set(fitImages.map((i) => i.identity))];
const half = new Map(fitIds.map((id, i) => [id, i % 2]));
const halves = [0, 1].map((h) => fitImages.filter((i) => half.get(i.identity) === h));
const acquired = (images: Image[]) => images.filter((i): i is Image & { v: Vec } => i.v !== null);

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const fmt = (v: number) => `${(v * 100).toFixed(3)}%`;
console.log(
  `model ${args.model}; fit ${fitSet.name}: ${fitImages.length} of its ${fitSet.entries.length} images cached, ${acquired(fitImages).length} acquired, ${fitIds.length} identities ` +
    `(${new Set(acquired(fitImages).map((i) => i.identity)).size} acquired; halves ${halves.map((h) => new Set(h.map((i) => i.identity)).size).join(' / ')})`,
);
console.log(
  '| method | 1:N cross-fit: gallery, rank-1, FNIR@FPIR1%, @0.1% | 1:N full (biased): gallery, rank-1, FNIR@FPIR1% | lfw-dev 1:1 acc (FTA errors), TAR@FAR0.1% | threshold @FMR1e-3 (lfw-train) | ' +
    others.map((o) => `${o.name}: FMR, FNMR @thr; 1:N rank-1, FNIR@1%`).join(' | ') +
    ' |',
);
console.log(`|${'---|'.repeat(5 + others.length)}`);
for (const method of methods) {
  if (args.only && !args.only.test(method.name)) continue;
  const started = performance.now();
  // cross-fit 1:N
  const outcomes = [0, 1].map((h) => {
    const train = acquired(halves[h]!);
    const fitted = method.fit(train);
    const prep = prepare(
      fitted,
      train.map((t) => fitted.map(t.v)),
    );
    return openSet(devImages, halves[1 - h]!, prep, fitted.snorm > 0);
  });
  const cross = openSetMeasures(pooled(outcomes[0]!, outcomes[1]!));
  // full fit: 1:N with all of lfw-train as distractors (biased), 1:1 and the other sets
  const train = acquired(fitImages);
  const fitted = method.fit(train);
  const snorm = fitted.snorm > 0;
  const prep = prepare(
    fitted,
    train.map((t) => fitted.map(t.v)),
  );
  const full = openSetMeasures(openSet(devImages, fitImages, prep, snorm));
  const devPrepared = new Map(devImages.map((i) => [i.path, prep(i.v)]));
  const genuine: number[] = [];
  const impostor: number[] = [];
  let unscoredPairs = 0;
  for (const p of devPairs) {
    const a = devPrepared.get(p.file1);
    const b = devPrepared.get(p.file2);
    if (!a || !b) unscoredPairs++;
    else (p.same ? genuine : impostor).push(score(a, b, snorm));
  }
  const devCurve = errorCurve(genuine, impostor);
  const acc = bestAccuracy(devCurve, unscoredPairs).accuracy;
  const tar = tarAtFar(devCurve, 0.001);
  // With s-norm an lfw-train image would sit in its own cohort (with its own identity's other images), so
  // its threshold is calibrated on one half's pairs with the other half as the cohort.
  const thresholdImages = snorm ? halves[1]! : fitImages;
  const thresholdPrep = snorm
    ? prepare(
        fitted,
        acquired(halves[0]!).map((t) => fitted.map(t.v)),
      )
    : prep;
  const fitScores = allPairScores(
    thresholdImages.map((i) => thresholdPrep(i.v)),
    thresholdImages.map((i) => i.identity),
    snorm,
  );
  const threshold = thresholdAtFmr(fitScores.impostor, 0.001);
  const otherCells = others.map((o) => {
    const prepared = o.images.map((i) => prep(i.v));
    const s = allPairScores(
      prepared,
      o.images.map((i) => i.identity),
      snorm,
    );
    const { fmr, fnmr } = errorRates(s.genuine, s.impostor, threshold);
    const os = openSetMeasures(openSet(o.images, [], prep, snorm));
    return `${fmt(fmr)}, ${pct(fnmr)}; ${pct(os.rank1)}, ${pct(os.fnir_at_fpir['0.01'])}`;
  });
  console.log(
    `| ${method.name} | ${cross.gallery}, ${pct(cross.rank1)}, **${pct(cross.fnir_at_fpir['0.01'])}**, ${pct(cross.fnir_at_fpir['0.001'])} | ` +
      `${full.gallery}, ${pct(full.rank1)}, ${pct(full.fnir_at_fpir['0.01'])} | ${pct(acc)}, ${pct(tar)} | ${threshold.toFixed(4)} | ${otherCells.join(' | ')} |`,
  );
  console.error(`  (${method.name}: ${((performance.now() - started) / 1000).toFixed(0)} s)`);
}
