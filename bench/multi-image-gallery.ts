/**
 * What enrolling several images per person buys in open-set identification, on the embeddings `medface
 * evaluate` cached (run it on the set first, with the same --out and embedder):
 *
 *   npx tsx bench/multi-image-gallery.ts SETDIR [SETDIR...] --cache reports/<set> [--embedder ID] [--max-images 3]
 *
 * Several sets make one larger gallery (e.g. lfw-dev and lfw-train, whose people are disjoint): identities are
 * named by set and identity, and every set's people with more than `max` images are subjects.
 *
 * The people with more than `max` images are the subjects: each is enrolled with its first k images (k = 1 …
 * max) and searched with its images after the max-th, so every k is measured on the same mated searches.
 * Everyone else in the set is enrolled with their first image, as distractors. Two ways of fusing k images:
 * the best of the k scores (the gallery keeps every image) and one template, the normalised mean of the k
 * embeddings. Non-mated searches follow `evaluate`'s leave-one-identity-out protocol (every image against the
 * gallery without its identity; src/evaluation/open-set.ts).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EmbeddingCache } from '../src/evaluation/cache.js';
import { readDataset } from '../src/evaluation/dataset.js';
import { openSetMeasures, scoreMatrix, searchOutcomes, type GalleryIdentity } from '../src/evaluation/open-set.js';
import { DEFAULT_EMBEDDER_ID } from '../src/face/embedders/index.js';
import { cosine } from '../src/identity/match.js';

function parseArgs(argv: string[]): { setDirs: string[]; cache: string; model: string; max: number } {
  const args = { setDirs: [] as string[], cache: '', model: DEFAULT_EMBEDDER_ID, max: 3 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--cache') args.cache = argv[++i]!;
    else if (a === '--embedder') args.model = argv[++i]!;
    else if (a === '--max-images') args.max = Number(argv[++i]);
    else if (!a.startsWith('--')) args.setDirs.push(a);
    else throw new Error(`unknown argument ${a}`);
  }
  if (args.setDirs.length === 0 || !args.cache) throw new Error('usage: npx tsx bench/multi-image-gallery.ts SETDIR [SETDIR...] --cache DIR [--embedder ID] [--max-images K]');
  return args;
}

const { setDirs, cache: cacheRoot, model, max } = parseArgs(process.argv.slice(2));
const datasets = setDirs.map((dir) => readDataset(dir));
const cache = new EmbeddingCache(cacheRoot, model);
/** Every image of every set, named by set so that two sets' paths and identities never collide. */
const entries = datasets.flatMap((d) => d.entries.map((e) => ({ file: path.resolve(d.dir, e.path), identity: `${d.name}/${e.identity}` })));
let missing = 0;
const vectorOf = new Map<string, Float32Array | null>();
for (const e of entries) {
  const hit = cache.get(EmbeddingCache.key(readFileSync(e.file)));
  if (!hit) missing++;
  vectorOf.set(e.file, hit && 'embedding' in hit ? hit.embedding.vector : null);
}
const name = datasets.map((d) => d.name).join(' + ');
if (missing) throw new Error(`${missing} images of ${name} are not in the ${model} cache under ${cacheRoot}: run medface evaluate --out ${cacheRoot} first`);

const byIdentity = new Map<string, string[]>();
for (const e of entries) byIdentity.set(e.identity, [...(byIdentity.get(e.identity) ?? []), e.file]);
const subjects = [...byIdentity].filter(([, files]) => files.length > max);
const others = [...byIdentity].filter(([, files]) => files.length <= max);

const acquired = (files: string[]) => files.map((f) => vectorOf.get(f)!).filter((v): v is Float32Array => v !== null);
function meanTemplate(vectors: Float32Array[]): Float32Array[] {
  if (vectors.length === 0) return [];
  const mean = new Float32Array(vectors[0]!.length);
  for (const v of vectors) {
    const norm = Math.hypot(...v);
    for (let i = 0; i < v.length; i++) mean[i]! += v[i]! / norm;
  }
  const norm = Math.hypot(...mean);
  return [mean.map((x) => x / norm)];
}

const searches = entries.map((e) => {
  const files = byIdentity.get(e.identity)!;
  return { identity: e.identity, vector: vectorOf.get(e.file)!, mated: files.length > max && files.indexOf(e.file) >= max };
});
const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
console.log(`${name}, ${model}: ${subjects.length} people with more than ${max} images (searched with their images after the first ${max}), ${others.length} others enrolled with one image\n`);
console.log('| gallery images per subject | fusion | gallery | mated / non-mated searches | rank-1 | FNIR @ FPIR 1% | FNIR @ FPIR 0.1% |');
console.log('|---|---|---|---|---|---|---|');
for (let k = 1; k <= max; k++) {
  for (const fusion of k === 1 ? ['—'] : ['best score', 'mean template']) {
    const gallery: Array<GalleryIdentity<Float32Array>> = [
      ...subjects.map(([identity, files]) => {
        const vectors = acquired(files.slice(0, k));
        return { identity, vectors: fusion === 'mean template' ? meanTemplate(vectors) : vectors };
      }),
      ...others.map(([identity, files]) => ({ identity, vectors: acquired(files.slice(0, 1)) })),
    ];
    const m = openSetMeasures(searchOutcomes(scoreMatrix(gallery, searches, cosine)));
    console.log(`| ${k} | ${fusion} | ${m.gallery} | ${m.mated} / ${m.nonmated} | ${pct(m.rank1)} | ${pct(m.fnir_at_fpir['0.01'])} | ${pct(m.fnir_at_fpir['0.001'])} |`);
  }
}
