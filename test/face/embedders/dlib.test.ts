import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyAffine } from '../../../src/face/align.js';
import { createDetector, type Detector } from '../../../src/face/detector.js';
import { DlibEmbedder, dlibChip, dlibChipTransform } from '../../../src/face/embedders/dlib.js';
import { decodeImage } from '../../../src/face/image.js';
import { FACE_API_DIR, initTf } from '../../../src/face/runtime.js';
import type { DetectedFace, RgbImage } from '../../../src/face/types.js';

const samplePath = (n: number): string => path.join(FACE_API_DIR, 'demo', `sample${n}.jpg`);

const cosine = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => s + v * b[i]!, 0);

async function decode(image: Sharp): Promise<RgbImage> {
  return decodeImage(await image.jpeg({ quality: 95 }).toBuffer());
}

/** The one face of a single-face image. */
async function onlyFace(detector: Detector, image: RgbImage): Promise<DetectedFace> {
  const faces = await detector.detect(image);
  expect(faces).toHaveLength(1);
  return faces[0]!;
}

describe('DlibEmbedder', () => {
  const embedder = new DlibEmbedder();
  let detector: Detector;
  /** Every face of two group photos (all different people), with the image it came from. */
  const people: Array<{ sample: number; image: RgbImage; face: DetectedFace; vector: Float32Array }> = [];

  beforeAll(async () => {
    detector = await createDetector();
    await embedder.load();
    for (const sample of [1, 2]) {
      const image = await decodeImage(readFileSync(samplePath(sample)));
      for (const face of await detector.detect(image)) {
        people.push({ sample, image, face, vector: await embedder.embed(image, face) });
      }
    }
  });

  afterAll(() => embedder.dispose());

  it('returns a unit-length 128-D vector tagged with its model id', () => {
    expect(embedder.id).toBe('dlib-resnet@1+flip');
    expect(embedder.dimensions).toBe(128);
    expect(people.length).toBeGreaterThanOrEqual(6);
    for (const { vector } of people) {
      expect(vector).toBeInstanceOf(Float32Array);
      expect(vector).toHaveLength(128);
      expect(Math.hypot(...vector)).toBeCloseTo(1, 5);
    }
  });

  it("reproduces face-api's FaceRecognitionNet on a fixed chip", async () => {
    // Reference: face-api's layer sequence run op by op (conv, bias, scale layer, no folding), input
    // (x - mean RGB) / 256, chip and mirror averaged, L2-normalised. Catches folding, padding or
    // normalisation slips that a similarity ordering would forgive.
    const { data } = await sharp(samplePath(1)).extract({ left: 290, top: 170, width: 440, height: 440 }).resize(150, 150).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const vector = await embedder.embedChip({ data: new Uint8Array(data), width: 150, height: 150 });
    const reference = [-0.0445, 0.0565, 0.0829, 0.0022, -0.0137, -0.0067, -0.0695, -0.0196];
    reference.forEach((v, i) => expect(vector[i]).toBeCloseTo(v, 3));
  });

  it('places the eyes, nose and mouth where dlib puts them on its 150x150 chip', () => {
    // Turned heads foreshorten one eye; dlib's mean face describes a frontal one.
    const frontal = people.filter(({ face }) => Math.abs(face.pose.yaw) < 20);
    expect(frontal.length).toBeGreaterThanOrEqual(4);
    for (const { face } of frontal) {
      const m = dlibChipTransform(face);
      const at = (vertex: number) => applyAffine(m, face.mesh[vertex]!);
      // dlib's mean face with padding 0.25: outer eye corners at (37, 47) and (111, 47), nose base at (74, 88).
      const rightOuter = at(33),
        leftOuter = at(263),
        noseBase = at(2),
        mouth = at(13);
      expect(Math.abs(rightOuter.x - 37)).toBeLessThan(10);
      expect(Math.abs(leftOuter.x - 111)).toBeLessThan(10);
      for (const eye of [rightOuter, leftOuter]) expect(Math.abs(eye.y - 47)).toBeLessThan(10);
      expect(Math.abs(noseBase.x - 74)).toBeLessThan(8);
      expect(Math.abs(noseBase.y - 88)).toBeLessThan(6);
      expect(mouth.y).toBeGreaterThan(noseBase.y);
    }
    const chip = dlibChip(frontal[0]!.image, frontal[0]!.face);
    expect([chip.width, chip.height, chip.data.length]).toEqual([150, 150, 150 * 150 * 3]);
  });

  it('scores the same face in a mirrored, rescaled copy far above different people of the same photo', async () => {
    let worstGenuine = 1;
    let bestImpostor = -1;
    for (const person of people) {
      const { sample, face, vector } = person;
      // The face with a margin, cut from the original file, mirrored and shrunk to 80%.
      const margin = face.box.width * 0.6;
      const left = Math.max(0, Math.round(face.box.x - margin));
      const top = Math.max(0, Math.round(face.box.y - margin));
      const width = Math.min(person.image.width - left, Math.round(face.box.width + 2 * margin));
      const height = Math.min(person.image.height - top, Math.round(face.box.height + 2 * margin));
      const crop = await sharp(samplePath(sample)).extract({ left, top, width, height }).toBuffer();
      const copy = await decode(
        sharp(crop)
          .flop()
          .resize(Math.round(width * 0.8)),
      );
      const genuine = cosine(vector, await embedder.embed(copy, await onlyFace(detector, copy)));
      // Everybody in one group photo is a different person (across photos some people recur).
      const impostors = people.filter((p) => p.sample === sample && p !== person).map((p) => cosine(vector, p.vector));
      const impostor = Math.max(...impostors);
      // Each face must stand clear of its neighbours, whatever its pose: a scrambled network or a
      // misaligned chip collapses this gap.
      expect(genuine - impostor).toBeGreaterThan(0.04);
      worstGenuine = Math.min(worstGenuine, genuine);
      bestImpostor = Math.max(bestImpostor, impostor);
    }
    // One decision threshold separates all of them.
    expect(worstGenuine).toBeGreaterThan(0.95);
    expect(bestImpostor).toBeLessThan(worstGenuine);
  });

  it('embeds without leaking tensors', async () => {
    const tf = await initTf();
    const { image, face } = people[0]!;
    await embedder.embed(image, face);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await embedder.embed(image, face);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses to embed before load, and loads again after dispose', async () => {
    const fresh = new DlibEmbedder();
    const { image, face, vector } = people[0]!;
    await expect(fresh.embed(image, face)).rejects.toThrow(/load/);
    await fresh.load();
    fresh.dispose();
    await fresh.load();
    expect(cosine(await fresh.embed(image, face), vector)).toBeCloseTo(1, 5);
    fresh.dispose();
  });
});
