/**
 * Baseline for docs/liveness.md: Human's bundled `antispoof` (face.real) and `liveness` (face.live) models on a
 * presentation-attack set, with no fitting of any kind, to compare with medface's passive score:
 *
 *   npx tsx bench/human-antispoof-baseline.ts ../shared/eval/pad-nuaa-dev
 *
 * The set is a manifest.csv with `label` (live | spoof). Human runs with the detector settings of
 * src/face/detector.ts plus those two models; an image where it finds no face (or gives no score) is left out
 * and counted. Reported per model: ROC AUC, EER, APCER at BPCER 5% and 10%.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config, Human } from '@vladmandic/human';
import { readDataset } from '../src/evaluation/dataset.js';
import { auc, eer, errorCurve, errorRates } from '../src/evaluation/metrics.js';
import { decodeImage } from '../src/face/image.js';
import { HUMAN_DIR, initTf } from '../src/face/runtime.js';

const require = createRequire(import.meta.url);

const setDir = process.argv[2];
if (!setDir) throw new Error('usage: npx tsx bench/human-antispoof-baseline.ts SETDIR');

const tf = await initTf();
const HumanClass = (require(path.join(HUMAN_DIR, 'dist', 'human.node-wasm.js')) as { Human: new (c: Partial<Config>) => Human }).Human;
const off = { enabled: false };
const human = new HumanClass({
  backend: 'wasm',
  modelBasePath: `file://${HUMAN_DIR}/models/`,
  cacheSensitivity: 0,
  warmup: 'none',
  debug: false,
  face: {
    enabled: true,
    detector: { rotation: false, maxDetected: 1, return: false },
    mesh: { enabled: true },
    iris: off,
    description: off,
    emotion: off,
    antispoof: { enabled: true },
    liveness: { enabled: true },
    attention: off,
    gear: off,
  },
  body: off,
  hand: off,
  object: off,
  gesture: off,
  segmentation: off,
  filter: off,
} as Partial<Config>);
await human.load();

const scores = { real: { live: [] as number[], spoof: [] as number[] }, live: { live: [] as number[], spoof: [] as number[] } };
let unscored = 0;
for (const entry of readDataset(setDir).entries) {
  const image = await decodeImage(readFileSync(path.join(setDir, entry.path)));
  const input = tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
  try {
    const face = (await human.detect(input as unknown as Parameters<Human['detect']>[0])).face[0];
    const label = entry.columns.label === 'live' ? 'live' : 'spoof';
    if (face?.real === undefined || face.live === undefined) unscored++;
    else {
      scores.real[label].push(face.real);
      scores.live[label].push(face.live);
    }
  } finally {
    input.dispose();
  }
}

const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;
const apcerAt = (live: number[], spoof: number[], bpcer: number): number => errorRates(live, spoof, [...live].sort((a, b) => a - b)[Math.floor(bpcer * live.length)]!).fmr;
console.log(`| Human model (score) | images | ROC AUC | EER | APCER at BPCER 5% | APCER at BPCER 10% |`);
console.log('|---|---|---|---|---|---|');
for (const [name, s] of [
  ['antispoof (face.real)', scores.real],
  ['liveness (face.live)', scores.live],
] as const) {
  const curve = errorCurve(s.live, s.spoof);
  console.log(
    `| ${name} | ${s.live.length} live, ${s.spoof.length} spoof | ${auc(curve).toFixed(3)} | ${pct(eer(curve))} | ` +
      `${pct(apcerAt(s.live, s.spoof, 0.05))} | ${pct(apcerAt(s.live, s.spoof, 0.1))} |`,
  );
}
console.log(`\nno face or no score: ${unscored}`);
