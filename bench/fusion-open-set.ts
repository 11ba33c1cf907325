/**
 * Score-level fusion of two recognisers in open-set identification, on the embeddings `medface evaluate`
 * cached for each (run it on every set first, with each embedder and --out):
 *
 *   npx tsx bench/fusion-open-set.ts --fit LFW_TRAIN_DIR --cache-a DIR --cache-b DIR [--a ID] [--b ID] [--distractors SETDIR] SETDIR...
 *
 * The fused score of two faces is the mean of the two networks' cosines, each z-normalised by the mean and
 * standard deviation of its impostor cosines (every pair of different identities) on the --fit set only: the
 * sets reported are never used to fit anything. Only images of the fit set that both caches hold are used. The
 * plain mean of the two cosines, with nothing fitted, is reported beside it.
 * Each SETDIR is measured as `evaluate` measures open-set identification (first image per identity in the
 * gallery, leave-one-identity-out; src/evaluation/open-set.ts), for each network alone and for the fusions;
 * `--distractors SETDIR` (repeatable) adds the first image of every identity of another set to each gallery as
 * people never searched for, as `medface evaluate --distractors` does.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EmbeddingCache } from '../src/evaluation/cache.js';
import { readDataset, type Dataset } from '../src/evaluation/dataset.js';
import { openSetMeasures, scoreMatrix, searchOutcomes, type GalleryIdentity, type SearchImage } from '../src/evaluation/open-set.js';
import { DLIB_EMBEDDER_ID } from '../src/face/embedders/dlib.js';
import { MOBILEFACENET_EMBEDDER_ID } from '../src/face/embedders/mobilefacenet.js';
import { cosine } from '../src/identity/match.js';

interface Args {
  fit: string;
  cacheA: string;
  cacheB: string;
  a: string;
  b: string;
  sets: string[];
  distractors: string[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { fit: '', cacheA: '', cacheB: '', a: MOBILEFACENET_EMBEDDER_ID, b: DLIB_EMBEDDER_ID, sets: [], distractors: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--fit') args.fit = argv[++i]!;
    else if (arg === '--cache-a') args.cacheA = argv[++i]!;
    else if (arg === '--cache-b') args.cacheB = argv[++i]!;
    else if (arg === '--a') args.a = argv[++i]!;
    else if (arg === '--b') args.b = argv[++i]!;
    else if (arg === '--distractors') args.distractors.push(argv[++i]!);
    else if (!arg.startsWith('--')) args.sets.push(arg);
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!args.fit || !args.cacheA || !args.cacheB || args.sets.length === 0) {
    throw new Error('usage: npx tsx bench/fusion-open-set.ts --fit SETDIR --cache-a DIR --cache-b DIR [--a ID] [--b ID] SETDIR...');
  }
  return args;
}

/** Both networks' vectors of one image; null when either cache says no face (detection is shared). */
type Pair = { a: Float32Array; b: Float32Array } | null;

/** Every image of the set with both vectors; `undefined` for an image one of the caches does not hold. */
function vectors(dataset: Dataset, caches: [EmbeddingCache, EmbeddingCache]): Map<string, Pair | undefined> {
  const out = new Map<string, Pair | undefined>();
  for (const e of dataset.entries) {
    const key = EmbeddingCache.key(readFileSync(path.resolve(dataset.dir, e.path)));
    const [a, b] = caches.map((c) => c.get(key));
    if (!a || !b) out.set(e.path, undefined);
    else out.set(e.path, 'embedding' in a && 'embedding' in b ? { a: a.embedding.vector, b: b.embedding.vector } : null);
  }
  return out;
}

/** Mean and standard deviation of a network's impostor cosines on the fit set. */
function impostorStats(images: Array<{ identity: string; v: Float32Array }>): { mean: number; sd: number; pairs: number } {
  let n = 0;
  let sum = 0;
  let sq = 0;
  for (let i = 0; i < images.length; i++) {
    for (let j = i + 1; j < images.length; j++) {
      if (images[i]!.identity === images[j]!.identity) continue;
      const s = cosine(images[i]!.v, images[j]!.v);
      n++;
      sum += s;
      sq += s * s;
    }
  }
  const mean = sum / n;
  return { mean, sd: Math.sqrt(sq / n - mean * mean), pairs: n };
}

const args = parseArgs(process.argv.slice(2));
const caches: [EmbeddingCache, EmbeddingCache] = [new EmbeddingCache(args.cacheA, args.a), new EmbeddingCache(args.cacheB, args.b)];

const fitSet = readDataset(args.fit);
const fitVectors = vectors(fitSet, caches);
const fitImages = fitSet.entries.flatMap((e) => {
  const p = fitVectors.get(e.path);
  return p ? [{ identity: e.identity, a: p.a, b: p.b }] : [];
});
const statsA = impostorStats(fitImages.map((i) => ({ identity: i.identity, v: i.a })));
const statsB = impostorStats(fitImages.map((i) => ({ identity: i.identity, v: i.b })));
console.log(
  `fit on ${fitSet.name}: ${fitImages.length} images held by both caches (of ${fitSet.entries.length}), ${statsA.pairs} impostor pairs; ` +
    `${args.a} mean ${statsA.mean.toFixed(4)} sd ${statsA.sd.toFixed(4)}; ${args.b} mean ${statsB.mean.toFixed(4)} sd ${statsB.sd.toFixed(4)}`,
);

const scorers: Record<string, (x: NonNullable<Pair>, y: NonNullable<Pair>) => number> = {
  [args.a]: (x, y) => cosine(x.a, y.a),
  [args.b]: (x, y) => cosine(x.b, y.b),
  fusion: (x, y) => ((cosine(x.a, y.a) - statsA.mean) / statsA.sd + (cosine(x.b, y.b) - statsB.mean) / statsB.sd) / 2,
  'mean of cosines (nothing fitted)': (x, y) => (cosine(x.a, y.a) + cosine(x.b, y.b)) / 2,
};

/** The first image of every identity of the --distractors sets: people in the gallery never searched for. */
const distractors: Array<GalleryIdentity<NonNullable<Pair>>> = args.distractors.flatMap((dir) => {
  const dataset = readDataset(dir);
  const byPath = vectors(dataset, caches);
  const first = new Map<string, string>();
  for (const e of dataset.entries) if (!first.has(e.identity)) first.set(e.identity, e.path);
  return [...first].map(([identity, file]) => ({ identity: `${dataset.name}/${identity}`, vectors: byPath.get(file) ? [byPath.get(file)!] : [] }));
});

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
console.log('| set | scorer | gallery | mated / non-mated | rank-1 | FNIR @ FPIR 1% | FNIR @ FPIR 0.1% |');
console.log('|---|---|---|---|---|---|---|');
for (const dir of args.sets) {
  const dataset = readDataset(dir);
  const byPath = vectors(dataset, caches);
  const missing = [...byPath.values()].filter((v) => v === undefined).length;
  if (missing) throw new Error(`${missing} images of ${dataset.name} are not in both caches: run medface evaluate --out on it with both embedders first`);
  const first = new Map<string, string>();
  for (const e of dataset.entries) if (!first.has(e.identity)) first.set(e.identity, e.path);
  const inGallery = new Set(first.values());
  const gallery: Array<GalleryIdentity<NonNullable<Pair>>> = [...[...first].map(([identity, file]) => ({ identity, vectors: byPath.get(file) ? [byPath.get(file)!] : [] })), ...distractors];
  const searches: Array<SearchImage<NonNullable<Pair>>> = dataset.entries.map((e) => ({ identity: e.identity, vector: byPath.get(e.path) ?? null, mated: !inGallery.has(e.path) }));
  for (const [name, score] of Object.entries(scorers)) {
    const m = openSetMeasures(searchOutcomes(scoreMatrix(gallery, searches, score)));
    console.log(`| ${dataset.name} | ${name} | ${m.gallery} | ${m.mated} / ${m.nonmated} | ${pct(m.rank1)} | ${pct(m.fnir_at_fpir['0.01'])} | ${pct(m.fnir_at_fpir['0.001'])} |`);
  }
}
