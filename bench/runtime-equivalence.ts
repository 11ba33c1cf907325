/**
 * Compares the embeddings two runs of `medface evaluate` cached for the same set with the same embedder, e.g. one
 * on the native runtime and one on tfjs-wasm (docs/models.md, "Runtime"):
 *
 *   npx tsx bench/runtime-equivalence.ts SETDIR CACHE_A CACHE_B --embedder mobilefacenet@1+flip
 *
 * CACHE_A and CACHE_B are the folders given to `evaluate --out`. For every image of SETDIR's manifest it reads
 * both runs' results and prints: images in both, failures to acquire in each and whether they agree, and the
 * distribution of the cosine between the two embeddings of each image (minimum, 1st percentile, median).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EmbeddingCache } from '../src/evaluation/cache.js';
import { readDataset } from '../src/evaluation/dataset.js';

const [setDir, cacheA, cacheB] = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && all[i - 1] !== '--embedder');
const embedderAt = process.argv.indexOf('--embedder');
const model = embedderAt > 0 ? process.argv[embedderAt + 1] : undefined;
if (!setDir || !cacheA || !cacheB || !model) {
  console.error('usage: npx tsx bench/runtime-equivalence.ts SETDIR CACHE_A CACHE_B --embedder ID');
  process.exit(2);
}
const a = new EmbeddingCache(cacheA, model);
const b = new EmbeddingCache(cacheB, model);
const cosines: number[] = [];
let both = 0;
let missing = 0;
let ftaA = 0;
let ftaB = 0;
let ftaDisagree = 0;
for (const entry of readDataset(setDir).entries) {
  const key = EmbeddingCache.key(readFileSync(path.join(setDir, entry.path)));
  const x = a.get(key);
  const y = b.get(key);
  if (!x || !y) {
    missing++;
    continue;
  }
  both++;
  const failedA = 'failure' in x;
  const failedB = 'failure' in y;
  if (failedA) ftaA++;
  if (failedB) ftaB++;
  if (failedA !== failedB) ftaDisagree++;
  if ('embedding' in x && 'embedding' in y) {
    const u = x.embedding.vector;
    const v = y.embedding.vector;
    cosines.push(u.reduce((s, value, i) => s + value * v[i]!, 0));
  }
}
cosines.sort((p, q) => p - q);
const at = (q: number) => cosines[Math.min(cosines.length - 1, Math.floor(q * cosines.length))]!;
console.log(
  JSON.stringify(
    {
      set: setDir,
      model,
      images_in_both: both,
      missing_in_either: missing,
      fta: { a: ftaA, b: ftaB, disagreeing: ftaDisagree },
      cosine: { pairs: cosines.length, min: at(0), p01: at(0.01), median: at(0.5), below_0_999: cosines.filter((c) => c < 0.999).length },
    },
    null,
    2,
  ),
);
