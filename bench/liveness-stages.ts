/**
 * Where one liveness frame's time goes, stage by stage, on one thread (no pool): decode, detect (face box and
 * 468-point mesh, pose), eye openness (the iris model on both eyes), embedding, and the flatness test's crop.
 * Frames of a real clip as the kiosk page sends them (bench/clip-frames.ts: every 200 ms, ≤ 640 px, JPEG 0.85).
 *
 *   npx tsx bench/liveness-stages.ts [--clip ../shared/eval/video-real/AliaksandrSiarohin+first-order-model__10.mp4] [--frames 24]
 */
import { loadavg } from 'node:os';
import { decodeClip, KIOSK_FRAME_INTERVAL_MS, kioskFrame } from './clip-frames.js';
import { createDetector } from '../src/face/detector.js';
import { createEmbedder } from '../src/face/embedders/index.js';
import { eyeOpenness } from '../src/face/eyes.js';
import { decodeImage, IMAGE_LIMITS } from '../src/face/image.js';
import { faceCrop } from '../src/liveness/planarity.js';
import { stats } from './stats.js';
import { arg } from './options.js';

const clip = decodeClip(arg('clip', '../shared/eval/video-real/AliaksandrSiarohin+first-order-model__10.mp4'));
const detector = await createDetector({});
const embedder = createEmbedder();
await embedder.load();
const ms: Record<'decode' | 'detect' | 'eyes' | 'embed' | 'crop', number[]> = { decode: [], detect: [], eyes: [], embed: [], crop: [] };
const time = async <T>(stage: keyof typeof ms, work: () => Promise<T>): Promise<T> => {
  const start = performance.now();
  const result = await work();
  ms[stage].push(performance.now() - start);
  return result;
};
// the first two frames warm the models up and are left out
const count = Number(arg('frames', '24'));
let size = '';
for (let i = 0; i < count + 2; i++) {
  const bytes = await kioskFrame(clip, (i * KIOSK_FRAME_INTERVAL_MS) / 1000);
  if (!bytes) break;
  const image = await decodeImage(bytes, IMAGE_LIMITS.frame);
  size = `${image.width}×${image.height}`;
  if (i >= 2) await time('decode', () => decodeImage(bytes, IMAGE_LIMITS.frame));
  const face = (await (i >= 2 ? time('detect', () => detector.detect(image)) : detector.detect(image)))[0];
  if (!face) continue;
  if (i < 2) continue;
  await time('eyes', () => eyeOpenness(image, face.mesh));
  await time('embed', () => embedder.embed(image, face));
  await time('crop', () => faceCrop(bytes, face.mesh, image));
}
const round = (s: ReturnType<typeof stats>) => ({ n: s.n, min: +s.min.toFixed(1), median: +s.median.toFixed(1), max: +s.max.toFixed(1) });
console.log(JSON.stringify({ frameSize: size, loadAverage: loadavg().map((l) => +l.toFixed(1)), ms: Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, round(stats(v))])) }, null, 2));
