/**
 * Writes the evaluation cache of `mobilefacenet+faceplugin@1` from its two parts' caches, so that measuring the
 * fusion does not run both networks again over images each part has already embedded: the fused vector is by
 * construction the parts' vectors concatenated and divided by √2 (src/face/embedders/fused.ts), on the same
 * detection (the detector is deterministic, and a failure to acquire is the detector's, so both parts agree on it).
 * To show the composition is what the embedder computes, `--check N` embeds N images of the sets given with the
 * real fused embedder and compares.
 *
 *   npx tsx bench/fused-cache.ts --cache-a DIR --cache-b DIR --out DIR [--check N SETDIR...]
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { EmbeddingCache } from '../src/evaluation/cache.js';
import { readDataset } from '../src/evaluation/dataset.js';
import { FACEPLUGIN_EMBEDDER_ID } from '../src/face/embedders/faceplugin.js';
import { MOBILEFACENET_FACEPLUGIN_EMBEDDER_ID } from '../src/face/embedders/fused.js';
import { MOBILEFACENET_EMBEDDER_ID } from '../src/face/embedders/mobilefacenet.js';
import { FaceEngine } from '../src/face/engine.js';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const cacheA = option('--cache-a');
const cacheB = option('--cache-b');
const out = option('--out');
if (!cacheA || !cacheB || !out) throw new Error('usage: --cache-a DIR --cache-b DIR --out DIR [--check N SETDIR...]');
const check = Number(option('--check') ?? 0);
const sets = check > 0 ? args.slice(args.indexOf('--check') + 2) : [];

const a = new EmbeddingCache(cacheA, MOBILEFACENET_EMBEDDER_ID);
const b = new EmbeddingCache(cacheB, FACEPLUGIN_EMBEDDER_ID);
const fused = new EmbeddingCache(out, MOBILEFACENET_FACEPLUGIN_EMBEDDER_ID);
const weight = 1 / Math.SQRT2;

let written = 0;
let onlyOne = 0;
for (const key of readdirSync(path.join(cacheA, 'embeddings', MOBILEFACENET_EMBEDDER_ID))) {
  const x = a.get(key);
  const y = b.get(key);
  if (!x || !y) {
    if (x || y) onlyOne++;
    continue;
  }
  if ('failure' in x || 'failure' in y) {
    if (!('failure' in x && 'failure' in y)) throw new Error(`${key}: one part acquired the face and the other did not`);
    fused.put(key, { failure: x.failure });
  } else {
    const vector = new Float32Array(x.embedding.vector.length + y.embedding.vector.length);
    x.embedding.vector.forEach((v, i) => (vector[i] = v * weight));
    y.embedding.vector.forEach((v, i) => (vector[x.embedding.vector.length + i] = v * weight));
    fused.put(key, { embedding: { model: MOBILEFACENET_FACEPLUGIN_EMBEDDER_ID, vector } });
  }
  written++;
}
console.log(`${written} fused entries written; ${onlyOne} images in one part's cache only`);

if (check > 0) {
  const files = sets.flatMap((s) => {
    const d = readDataset(s);
    return d.entries.map((e) => path.resolve(d.dir, e.path));
  });
  const engine = await FaceEngine.create({ embedderId: MOBILEFACENET_FACEPLUGIN_EMBEDDER_ID, runtime: 'native' });
  let worst = 1;
  let compared = 0;
  for (let i = 0; i < files.length && compared < check; i += Math.max(1, Math.floor(files.length / check))) {
    const bytes = readFileSync(files[i]!);
    const cached = fused.get(EmbeddingCache.key(bytes));
    if (!cached || 'failure' in cached) continue;
    const analysis = await engine.analyze(bytes, { purpose: 'verify', embed: true });
    const v = analysis.faces[analysis.subject]?.embedding?.vector;
    if (!v) throw new Error(`${files[i]}: the fused embedder found no face where both parts did`);
    worst = Math.min(
      worst,
      v.reduce((s, value, j) => s + value * cached.embedding.vector[j]!, 0),
    );
    compared++;
  }
  console.log(`checked ${compared} images against the real fused embedder: lowest cosine ${worst.toFixed(6)}`);
}
