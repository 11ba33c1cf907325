import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaceEngine, type Analysis, type FaceResult } from '../../src/face/engine.js';
import { QUALITY_GATES } from '../../src/face/quality.js';
import { FACE_API_DIR } from '../../src/face/runtime.js';
import type { Box } from '../../src/face/types.js';
import { createEmbedder } from '../../src/face/embedders/index.js';

/** Length of the default recogniser's embeddings. */
const DIMENSIONS = createEmbedder().dimensions;

const sample = (n: number): Buffer => readFileSync(path.join(FACE_API_DIR, 'demo', `sample${n}.jpg`));

/** One face of sample3 with some background, and no other face. */
const singleFace = (): Promise<Buffer> => sharp(sample(3)).extract({ left: 335, top: 115, width: 640, height: 720 }).jpeg({ quality: 92 }).toBuffer();

/** The leftmost face of sample1: another person than singleFace's. */
const otherFace = (): Promise<Buffer> => sharp(sample(1)).extract({ left: 270, top: 252, width: 480, height: 480 }).jpeg({ quality: 92 }).toBuffer();

const cosine = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => s + v * b[i]!, 0);
const norm = (a: Float32Array): number => Math.sqrt(cosine(a, a));
const inBox = (p: { x: number; y: number }, b: Box): boolean => p.x >= b.x && p.x <= b.x + b.width && p.y >= b.y && p.y <= b.y + b.height;

describe('FaceEngine', () => {
  let engine: FaceEngine;

  beforeAll(async () => {
    engine = await FaceEngine.create();
  });
  afterAll(() => engine.dispose());

  it('warms up on a drawn face, running every stage', async () => {
    const run = await engine.warmup();
    expect(run.faces).toHaveLength(1);
    expect(run.faces[0]!.embedding?.vector).toHaveLength(DIMENSIONS);
    expect(run.timings.align_embed).toBeGreaterThan(0);
  });

  it('analyzes a group photo: every face with landmarks and quality, and MULTIPLE_FACES for enrolment', async () => {
    const run = await engine.analyze(sample(1), { purpose: 'enrol', embed: 'all' });
    expect(run.image).toEqual({ width: 1920, height: 1280, format: 'jpeg' });
    expect(run.faces).toHaveLength(3);
    expect(run.reasons).toContain('MULTIPLE_FACES');
    expect(run.subject).toBe(centredSubject(run));
    for (const face of run.faces) {
      const { leftEye, rightEye, nose, mouthLeft, mouthRight } = face.landmarks;
      for (const p of [leftEye, rightEye, nose, mouthLeft, mouthRight]) expect(inBox(p, face.box)).toBe(true);
      // The subject's left eye and mouth corner are on the image's right.
      expect(leftEye.x).toBeGreaterThan(rightEye.x);
      expect(mouthLeft.x).toBeGreaterThan(mouthRight.x);
      expect(face.quality.metrics.interEyeDistance).toBeGreaterThan(0);
      expect(face.embedding!.model).toBe(engine.embedderId);
      expect(norm(face.embedding!.vector)).toBeCloseTo(1, 4);
    }
    const [a, b, c] = run.faces.map((f) => f.embedding!.vector) as [Float32Array, Float32Array, Float32Array];
    expect(cosine(a, b)).toBeLessThan(0.99);
    expect(cosine(a, c)).toBeLessThan(0.99);
    for (const ms of Object.values(run.timings)) expect(ms).toBeGreaterThanOrEqual(0);
  });

  it('embeds no face, the subject only, or every face, as asked', async () => {
    const none = await engine.analyze(sample(1));
    expect(none.faces.every((f) => f.embedding === undefined)).toBe(true);
    expect(none.timings.align_embed).toBeLessThan(none.timings.detect);
    const primary = await engine.analyze(sample(1), { embed: 'primary' });
    expect(primary.faces.map((f) => f.embedding !== undefined)).toEqual(primary.faces.map((_, i) => i === centredSubject(primary)));
  });

  it('embeds the one face of a portrait, consistently with the same face in its group photo', async () => {
    const single = await engine.embedSingle(await singleFace(), 'verify');
    expect(single.embedding.vector).toHaveLength(DIMENSIONS);
    expect(single.quality.passed).toBe(true);
    const group = await engine.analyze(sample(3), { embed: 'all' });
    const similarities = group.faces.map((f) => cosine(single.embedding.vector, f.embedding!.vector));
    const best = Math.max(...similarities);
    // The portrait is a crop of the group photo's face at 515,295: same pixels, nearly the same vector.
    const same = group.faces[similarities.indexOf(best)]!;
    expect(Math.abs(same.box.x - 515)).toBeLessThan(40);
    expect(best).toBeGreaterThan(0.95);
    for (const s of similarities) if (s !== best) expect(s).toBeLessThan(best - 0.1);
  });

  it('refuses an image without a face (NO_FACE) and passes image errors through', async () => {
    const blank = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#b0b0b0' } })
      .png()
      .toBuffer();
    const run = await engine.analyze(blank);
    expect(run.faces).toEqual([]);
    expect(run.reasons).toEqual(['NO_FACE']);
    expect(run.subject).toBe(-1);
    await expect(engine.embedSingle(blank, 'verify')).rejects.toMatchObject({
      code: 'NO_FACE',
      details: { reasons: ['NO_FACE'] },
    });
    const portrait = await singleFace();
    await expect(engine.analyze(portrait.subarray(0, portrait.length / 2))).rejects.toMatchObject({ code: 'CORRUPT_IMAGE' });
    await expect(engine.embedSingle(new Uint8Array(0), 'verify')).rejects.toMatchObject({ code: 'EMPTY_IMAGE' });
    await expect(engine.analyze(portrait, { imageLimits: { maxBytes: 1000 } })).rejects.toMatchObject({
      code: 'IMAGE_TOO_LARGE',
    });
  });

  it('takes the patient with a smaller bystander behind them for verification, but refuses it for enrolment', async () => {
    const patient = await singleFace();
    const bystander = await otherFace();
    const patientSize = (await engine.analyze(patient)).faces[0]!.box.width;
    const bystanderSize = (await engine.analyze(bystander)).faces[0]!.box.width;
    // A bystander sized between the enrolment and the verification limits of quality.ts's one rule.
    const ratio = (QUALITY_GATES.enrol.competingFaceRatio + QUALITY_GATES.verify.competingFaceRatio) / 2;
    const scale = (ratio * patientSize) / bystanderSize;
    const side = Math.round(480 * scale);
    const small = await sharp(bystander).resize(side, side).toBuffer();
    const scene = await sharp({ create: { width: 640 + side + 40, height: 720, channels: 3, background: '#9a9a9a' } })
      .composite([
        { input: patient, left: 0, top: 0 },
        { input: small, left: 640 + 20, top: 40 },
      ])
      .jpeg({ quality: 92 })
      .toBuffer();

    const run = await engine.analyze(scene, { purpose: 'verify' });
    expect(run.faces).toHaveLength(2);
    const measured = run.faces[1]!.quality.metrics.faceSize / run.faces[0]!.quality.metrics.faceSize;
    expect(measured).toBeGreaterThan(QUALITY_GATES.enrol.competingFaceRatio);
    expect(measured).toBeLessThan(QUALITY_GATES.verify.competingFaceRatio);

    const verified = await engine.embedSingle(scene, 'verify');
    const alone = await engine.embedSingle(patient, 'verify');
    expect(cosine(verified.embedding.vector, alone.embedding.vector)).toBeGreaterThan(0.95);
    await expect(engine.embedSingle(scene, 'enrol')).rejects.toMatchObject({
      code: 'MULTIPLE_FACES',
      details: { reasons: ['MULTIPLE_FACES'], faces: 2 },
    });
  });

  it('refuses a face too small to enrol with QUALITY_REJECTED and its reason, yet verifies it', async () => {
    const portrait = await singleFace();
    const eyes = (await engine.analyze(portrait)).faces[0]!.quality.metrics.interEyeDistance;
    const target = (QUALITY_GATES.enrol.minInterEyeDistance + QUALITY_GATES.verify.minInterEyeDistance) / 2;
    const small = await sharp(portrait)
      .resize(Math.round((640 * target) / eyes))
      .jpeg({ quality: 92 })
      .toBuffer();
    await expect(engine.embedSingle(small, 'enrol')).rejects.toMatchObject({
      code: 'QUALITY_REJECTED',
      details: { reasons: ['FACE_TOO_SMALL'] },
    });
    expect((await engine.embedSingle(small, 'verify')).embedding.vector).toHaveLength(DIMENSIONS);
  });
});

/** The face nearest the image centre among those at least half as large (by area) as the largest. */
function centredSubject(run: Analysis): number {
  const area = (f: FaceResult): number => f.box.width * f.box.height;
  const largest = Math.max(...run.faces.map(area));
  const offCentre = (f: FaceResult): number => Math.hypot(f.box.x + f.box.width / 2 - run.image.width / 2, f.box.y + f.box.height / 2 - run.image.height / 2);
  const candidates = run.faces.filter((f) => area(f) >= largest / 2).sort((a, b) => offCentre(a) - offCentre(b));
  return run.faces.indexOf(candidates[0]!);
}
