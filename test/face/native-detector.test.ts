import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDetector, type Detector } from '../../src/face/detector.js';
import { decodeImage } from '../../src/face/image.js';
import { cropAndResize, resizeBilinear } from '../../src/face/resample.js';
import { FACE_API_DIR, HUMAN_DIR, initTf, WASM_RUNTIME } from '../../src/face/runtime.js';
import type { RgbImage } from '../../src/face/types.js';

/** A deterministic 8-bit RGB image with detail at every scale. */
function pattern(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + ((i / 3) | 0) * 31) % 256;
  return { data, width, height };
}

describe('resample: tfjs sampling kernels on 8-bit pixels', () => {
  it("resizes as tfjs's resizeBilinear does, down and up", async () => {
    const tf = await initTf();
    for (const [w, h, ow, oh] of [
      [97, 61, 32, 32],
      [20, 13, 40, 30],
    ] as const) {
      const image = pattern(w, h);
      const out = new Float32Array(ow * oh * 3);
      resizeBilinear(image, ow, oh, 1 / 127.5, -1, out);
      const want = tf.tidy(() => tf.sub(tf.div(tf.image.resizeBilinear(tf.tensor4d(image.data, [1, h, w, 3], 'float32'), [oh, ow]), 127.5), 1).dataSync());
      expect(Math.max(...out.map((v, i) => Math.abs(v - want[i]!)))).toBeLessThan(1e-5);
    }
  });

  it("crops as tfjs's cropAndResize does, mirrored and past the image's edge (zeros)", async () => {
    const tf = await initTf();
    const image = pattern(83, 71);
    const boxes: Array<[number, number, number, number]> = [
      [0.1, 0.2, 0.7, 0.9],
      [0.3, 0.8, 0.6, 0.4], // x1 > x2: mirrored
      [-0.2, -0.1, 0.5, 1.3], // partly outside
    ];
    for (const box of boxes) {
      const out = new Float32Array(24 * 24 * 3);
      cropAndResize(image, box, 24, 24, 1 / 255, out);
      const want = tf.tidy(() => tf.div(tf.image.cropAndResize(tf.tensor4d(image.data, [1, 71, 83, 3], 'float32'), [box], [0], [24, 24]), 255).dataSync());
      expect(Math.max(...out.map((v, i) => Math.abs(v - want[i]!)))).toBeLessThan(1e-5);
    }
  });
});

describe("the native detection pipeline against Human's", () => {
  // face-api's six group photos and Human's demo pictures: 1 to 8 faces each, 37 in all.
  const files = [1, 2, 3, 4, 5, 6]
    .map((n) => path.join(FACE_API_DIR, 'demo', `sample${n}.jpg`))
    .concat(['samples.jpg', 'screenshot-faceid.jpg', 'screenshot-facedetect.jpg', 'screenshot-facematch.jpg'].map((f) => path.join(HUMAN_DIR, 'assets', f)));
  let native: Detector;
  let human: Detector;

  beforeAll(async () => {
    native = await createDetector({ runtime: { kind: 'native', threads: 1 } });
    human = await createDetector({ runtime: WASM_RUNTIME });
  });

  it('finds the same faces: boxes and every mesh point within a pixel, the same scores and poses', async () => {
    let faces = 0;
    for (const file of files) {
      const image = await decodeImage(readFileSync(file));
      const [ours, theirs] = [await native.detect(image), await human.detect(image)];
      expect(ours.length, path.basename(file)).toBe(theirs.length);
      ours.forEach((face, i) => {
        const other = theirs[i]!;
        for (const key of ['x', 'y', 'width', 'height'] as const) expect(Math.abs(face.box[key] - other.box[key])).toBeLessThanOrEqual(1);
        expect(Math.abs(face.score - other.score)).toBeLessThanOrEqual(0.01);
        for (const key of ['yaw', 'pitch', 'roll'] as const) expect(Math.abs(face.pose[key] - other.pose[key])).toBeLessThan(0.5);
        // Human truncates mesh points to whole pixels (of the detection-sized image), so float rounding moves a
        // point by one at most; the z axis is in the same units.
        const worst = Math.max(...face.mesh.map((p, k) => Math.max(Math.abs(p.x - other.mesh[k]!.x), Math.abs(p.y - other.mesh[k]!.y), Math.abs(p.z - other.mesh[k]!.z))));
        expect(worst).toBeLessThanOrEqual(1.01);
        faces++;
      });
    }
    expect(faces).toBeGreaterThanOrEqual(35);
  }, 120_000);
});
