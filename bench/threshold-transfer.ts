/**
 * How one operating threshold transfers from set to set (docs/accuracy.md): FMR and FNMR over every within-set
 * pair of each labelled set, and over lfw-dev's `pairs.csv`, at the committed `match` threshold and at thresholds
 * calibrated (FMR 1e-3) on lfw-dev alone and on every set but lfw-dev.
 *
 *   npx tsx bench/threshold-transfer.ts [--embedder ID] [SETDIR ...]   (default: ../shared/eval/{lfw-dev,orl,yale,faceapi-bbt})
 *
 * Embeddings come from the same cache as `medface calibrate` and `medface evaluate` (.cache/embeddings); images
 * not yet in it are embedded through a face pool.
 */
import path from 'node:path';
import { EmbeddingCache } from '../src/evaluation/cache.js';
import { acquireImages } from '../src/evaluation/acquire.js';
import { allPairScores, concatScores, type PairScores } from '../src/evaluation/calibrate.js';
import { readDataset, readPairs } from '../src/evaluation/dataset.js';
import { errorRates, thresholdAtFmr } from '../src/evaluation/metrics.js';
import { DEFAULT_EMBEDDER_ID, FacePool } from '../src/face/index.js';
import { similarity } from '../src/identity/match.js';
import { thresholdsFor } from '../src/identity/thresholds.js';

const args = process.argv.slice(2);
const flag = args.indexOf('--embedder');
const model = flag >= 0 ? args.splice(flag, 2)[1]! : DEFAULT_EMBEDDER_ID;
const sets = args.length > 0 ? args : ['lfw-dev', 'orl', 'yale', 'faceapi-bbt'].map((s) => `../shared/eval/${s}`);
const cache = new EmbeddingCache('.cache', model);
let pool: Promise<FacePool> | undefined;
const lazyPool = (): Promise<FacePool> => (pool ??= FacePool.create({ embedderId: model }));

const scores = new Map<string, PairScores>();
const listed = { genuine: [] as number[], impostor: [] as number[] };
for (const dir of sets) {
  const set = readDataset(dir);
  const files = set.entries.map((e) => path.resolve(set.dir, e.path));
  const acquired = await acquireImages(lazyPool, files, cache);
  const embeddingOf = (file: string) => {
    const a = acquired.get(path.resolve(set.dir, file));
    return a && 'embedding' in a ? a.embedding : null;
  };
  scores.set(set.name, allPairScores(set.entries.map((e) => ({ identity: e.identity, embedding: embeddingOf(e.path) }))));
  for (const pair of readPairs(set) ?? []) {
    const a = embeddingOf(pair.file1),
      b = embeddingOf(pair.file2);
    if (a && b) (pair.same ? listed.genuine : listed.impostor).push(similarity(a, b));
  }
}
if (pool) await (await pool).close();

const others = [...scores].filter(([name]) => name !== 'lfw-dev').map(([, s]) => s);
const thresholds: Array<[string, number]> = [['committed match threshold', thresholdsFor(model).match]];
if (scores.has('lfw-dev')) thresholds.push(['lfw-dev only, FMR 1e-3', thresholdAtFmr(scores.get('lfw-dev')!.impostor, 1e-3)]);
if (others.length > 0) thresholds.push([`${[...scores.keys()].filter((n) => n !== 'lfw-dev').join(' + ')} only, FMR 1e-3`, thresholdAtFmr(concatScores(others).impostor, 1e-3)]);

const percent = (x: number, digits: number): string => `${(x * 100).toFixed(digits)}%`;
const columns = [...scores.keys()].map((n) => `${n} FMR / FNMR`);
if (listed.genuine.length > 0) columns.push('`pairs.csv` FMR / FNMR');
console.log(`| threshold | ${columns.join(' | ')} |`);
console.log(`|---|${columns.map(() => '---').join('|')}|`);
for (const [name, t] of thresholds) {
  const cells = [...scores.values()].map((s) => {
    const r = errorRates(s.genuine, s.impostor, t);
    return `${percent(r.fmr, 3)} / ${percent(r.fnmr, 2)}`;
  });
  if (listed.genuine.length > 0) {
    const r = errorRates(listed.genuine, listed.impostor, t);
    cells.push(`${percent(r.fmr, 2)} / ${percent(r.fnmr, 2)}`);
  }
  console.log(`| ${t.toFixed(4)} ${name} | ${cells.join(' | ')} |`);
}
