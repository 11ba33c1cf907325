import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDetector, type Detector } from '../../src/face/detector.js';
import { decodeImage } from '../../src/face/image.js';
import { QUALITY_GATES, assessCapture, type CaptureAssessment } from '../../src/face/quality.js';
import { FACE_API_DIR } from '../../src/face/runtime.js';
import type { Purpose, QualityReason } from '../../src/face/types.js';

const sample = (n: number): Buffer => readFileSync(path.join(FACE_API_DIR, 'demo', `sample${n}.jpg`));
const PURPOSES: Purpose[] = ['enrol', 'verify', 'identify'];

let detector: Detector;
/** One frontal, well lit face from a group photo, framed as a 480x480 portrait (face ~220 px, eyes ~64 px apart). */
let portrait: Buffer;

beforeAll(async () => {
  detector = await createDetector();
  portrait = await sharp(sample(3)).extract({ left: 335, top: 115, width: 720, height: 720 }).resize(480, 480).png().toBuffer();
});

/** Decodes what `make` draws, detects its faces for real and judges the capture for every purpose. */
async function assess(make: Sharp): Promise<Record<Purpose, CaptureAssessment>> {
  const image = await decodeImage(await make.png().toBuffer());
  const faces = await detector.detect(image);
  return {
    enrol: assessCapture(image, faces, 'enrol'),
    verify: assessCapture(image, faces, 'verify'),
    identify: assessCapture(image, faces, 'identify'),
  };
}

/** Every reason of a capture: image-level ones and the subject's. */
function reasonsOf(a: CaptureAssessment): QualityReason[] {
  return [...a.reasons, ...(a.subject >= 0 ? a.faces[a.subject]!.reasons : [])];
}

/** The portrait's pixels through a function, e.g. a darkening curve. */
async function mapPortrait(curve: (v: number) => number): Promise<Sharp> {
  const { data, info } = await sharp(portrait).raw().toBuffer({ resolveWithObject: true });
  return sharp(Buffer.from(data.map(curve)), { raw: info });
}

describe('quality gates', () => {
  it('enrol is at least as strict as verify and identify on every measure', () => {
    const enrol = QUALITY_GATES.enrol;
    for (const other of [QUALITY_GATES.verify, QUALITY_GATES.identify]) {
      expect(enrol.minInterEyeDistance).toBeGreaterThanOrEqual(other.minInterEyeDistance);
      expect(enrol.maxYaw).toBeLessThanOrEqual(other.maxYaw);
      expect(enrol.maxPitch).toBeLessThanOrEqual(other.maxPitch);
      expect(enrol.maxRoll).toBeLessThanOrEqual(other.maxRoll);
      expect(enrol.minSharpness).toBeGreaterThanOrEqual(other.minSharpness);
      expect(enrol.minBrightness).toBeGreaterThanOrEqual(other.minBrightness);
      expect(enrol.maxBrightness).toBeLessThanOrEqual(other.maxBrightness);
      expect(enrol.minContrast).toBeGreaterThanOrEqual(other.minContrast);
      expect(enrol.minInFrame).toBeGreaterThanOrEqual(other.minInFrame);
      expect(enrol.minDetectionScore).toBeGreaterThanOrEqual(other.minDetectionScore);
      expect(enrol.competingFaceRatio).toBeLessThanOrEqual(other.competingFaceRatio);
    }
  });
});

describe('assessCapture on real detections', () => {
  it('passes a good portrait for every purpose, with measures that describe it', async () => {
    const result = await assess(sharp(portrait));
    for (const p of PURPOSES) {
      expect(reasonsOf(result[p]), p).toEqual([]);
      expect(result[p].passed, p).toBe(true);
      expect(result[p].faces).toHaveLength(1);
      expect(result[p].subject).toBe(0);
    }
    const m = result.verify.faces[0]!.metrics;
    expect(m.interEyeDistance).toBeGreaterThan(50);
    expect(m.interEyeDistance).toBeLessThan(80);
    expect(m.faceSize).toBeGreaterThan(m.interEyeDistance);
    expect(m.inFrame).toBe(1);
    expect(m.detectionScore).toBeGreaterThan(0.9);
    expect(m.brightness).toBeGreaterThan(80);
    expect(m.brightness).toBeLessThan(180);
  });

  it('scales the size measures with the image but not sharpness, exposure or contrast', async () => {
    const full = (await assess(sharp(portrait))).verify.faces[0]!.metrics;
    const half = (await assess(sharp(portrait).resize(240, 240))).verify.faces[0]!.metrics;
    expect(half.interEyeDistance / full.interEyeDistance).toBeCloseTo(0.5, 1);
    expect(Math.abs(half.brightness - full.brightness)).toBeLessThan(5);
    expect(Math.abs(half.contrast - full.contrast)).toBeLessThan(0.05);
    expect(Math.abs(half.sharpness - full.sharpness) / full.sharpness).toBeLessThan(0.3);
  });

  it('reports TOO_BLURRY, and only that, for a blurred portrait (Gaussian sigma 4)', async () => {
    const result = await assess(sharp(portrait).blur(4));
    for (const p of PURPOSES) expect(reasonsOf(result[p]), p).toEqual(['TOO_BLURRY']);
  });

  it('reports TOO_DARK, and only that, for a linearly darkened portrait', async () => {
    const result = await assess(sharp(portrait).linear(0.2, 0));
    for (const p of PURPOSES) expect(reasonsOf(result[p]), p).toEqual(['TOO_DARK']);
  });

  it('reports TOO_DARK, and only that, for a portrait darkened by a gamma curve', async () => {
    const result = await assess(await mapPortrait((v) => Math.round(255 * (v / 255) ** 4)));
    for (const p of PURPOSES) expect(reasonsOf(result[p]), p).toEqual(['TOO_DARK']);
  });

  it('reports TOO_BRIGHT for an overexposed portrait', async () => {
    const result = await assess(sharp(portrait).linear(2.2, 0));
    expect(reasonsOf(result.verify)).toEqual(['TOO_BRIGHT']);
    expect(reasonsOf(result.identify)).toEqual(['TOO_BRIGHT']);
    expect(reasonsOf(result.enrol)).toContain('TOO_BRIGHT');
  });

  it('reports LOW_CONTRAST, and only that, for a washed-out portrait of normal brightness', async () => {
    const result = await assess(sharp(portrait).linear(0.15, 110));
    for (const p of PURPOSES) expect(reasonsOf(result[p]), p).toEqual(['LOW_CONTRAST']);
  });

  it('reports FACE_TOO_SMALL for a tiny face, and for a medium one only when enrolling', async () => {
    const tiny = await assess(sharp(portrait).resize(100, 100));
    for (const p of PURPOSES) expect(reasonsOf(tiny[p]), p).toEqual(['FACE_TOO_SMALL']);
    const medium = await assess(sharp(portrait).resize(260, 260));
    expect(reasonsOf(medium.enrol)).toEqual(['FACE_TOO_SMALL']);
    expect(reasonsOf(medium.verify)).toEqual([]);
    expect(reasonsOf(medium.identify)).toEqual([]);
  });

  it('reports FACE_NOT_IN_FRAME when a quarter of the face is cut off, and for a sliver only when enrolling', async () => {
    const cut = await assess(sharp(portrait).extract({ left: 210, top: 0, width: 270, height: 480 }));
    for (const p of PURPOSES) expect(reasonsOf(cut[p]), p).toEqual(['FACE_NOT_IN_FRAME']);
    expect(cut.verify.faces[0]!.metrics.inFrame).toBeLessThan(0.85);
    const sliver = await assess(sharp(portrait).extract({ left: 0, top: 170, width: 480, height: 310 }));
    expect(reasonsOf(sliver.enrol)).toEqual(['FACE_NOT_IN_FRAME']);
    expect(reasonsOf(sliver.verify)).toEqual([]);
    expect(sliver.verify.faces[0]!.metrics.inFrame).toBeLessThan(1);
  });

  it('reports POSE_TOO_LARGE for a head tilted by 28 degrees only when enrolling', async () => {
    const result = await assess(sharp(portrait).rotate(28, { background: '#808080' }));
    expect(Math.abs(result.verify.faces[0]!.metrics.roll)).toBeGreaterThan(22);
    expect(reasonsOf(result.enrol)).toEqual(['POSE_TOO_LARGE']);
    expect(reasonsOf(result.verify)).toEqual([]);
    expect(reasonsOf(result.identify)).toEqual([]);
  });

  it('reports NO_FACE for an image without one', async () => {
    const noise = sharp({ create: { width: 320, height: 240, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } });
    const result = await assess(noise);
    for (const p of PURPOSES) {
      expect(result[p]).toEqual({ passed: false, reasons: ['NO_FACE'], faces: [], subject: -1 });
    }
  });

  it('reports MULTIPLE_FACES for a group of equals when enrolling or verifying, never when identifying', async () => {
    const result = await assess(sharp(sample(3)));
    expect(result.enrol.faces.length).toBe(3);
    expect(result.enrol.reasons).toEqual(['MULTIPLE_FACES']);
    expect(result.verify.reasons).toEqual(['MULTIPLE_FACES']);
    expect(result.verify.passed).toBe(false);
    expect(result.identify.reasons).toEqual([]);
    // The subject's own report decides.
    expect(result.identify.passed).toBe(result.identify.faces[result.identify.subject]!.passed);
  });

  it('takes the centred face as the subject when a bystander at the side is larger', async () => {
    const bystander = await sharp(sample(3)).extract({ left: 900, top: 80, width: 560, height: 560 }).resize(440, 440).png().toBuffer();
    const scene = await sharp({ create: { width: 1600, height: 800, channels: 3, background: '#7f7f7f' } })
      .composite([
        { input: bystander, left: 0, top: 110 },
        { input: portrait, left: 560, top: 160 },
      ])
      .png()
      .toBuffer();
    const image = await decodeImage(scene);
    const faces = await detector.detect(image);
    expect(faces).toHaveLength(2);
    const area = (i: number): number => faces[i]!.box.width * faces[i]!.box.height;
    const centred = faces.findIndex((f) => f.box.x > 560);
    const side = 1 - centred;
    // Larger, yet under twice the centred face's area: both are candidates and the centre decides.
    expect(area(side)).toBeGreaterThan(area(centred));
    expect(area(side)).toBeLessThan(2 * area(centred));
    const identify = assessCapture(image, faces, 'identify');
    expect(identify.subject).toBe(centred);
    expect(identify.reasons).toEqual([]);
    expect(assessCapture(image, faces, 'verify').reasons).toEqual(['MULTIPLE_FACES']);
  });

  it('treats a clearly smaller second face as a rival when enrolling but as background when verifying', async () => {
    const other = await sharp(sample(3)).extract({ left: 900, top: 80, width: 560, height: 560 }).resize(240, 240).png().toBuffer();
    const scene = sharp({ create: { width: 900, height: 600, channels: 3, background: '#7f7f7f' } }).composite([
      { input: portrait, left: 40, top: 60 },
      { input: other, left: 620, top: 120 },
    ]);
    const result = await assess(scene);
    expect(result.verify.faces).toHaveLength(2);
    const [big, small] = result.verify.faces.map((f) => f.metrics.faceSize) as [number, number];
    expect(small / big).toBeGreaterThan(QUALITY_GATES.enrol.competingFaceRatio);
    expect(small / big).toBeLessThan(QUALITY_GATES.verify.competingFaceRatio);
    expect(result.enrol.reasons).toEqual(['MULTIPLE_FACES']);
    expect(result.verify.reasons).toEqual([]);
    expect(result.verify.passed).toBe(true);
  });

  it('reports LOW_DETECTION_SCORE for a doubtful face, which is neither the subject nor a rival, even when larger', async () => {
    // sample2 with its middle face painted over and its right-hand face shrunk: what is left is a doubtful
    // half-profile face and a smaller, clear one.
    const grey = (width: number, height: number): Promise<Buffer> =>
      sharp({ create: { width, height, channels: 3, background: '#808080' } })
        .png()
        .toBuffer();
    const right = await sharp(sample(2)).extract({ left: 1250, top: 0, width: 670, height: 700 }).resize(570).png().toBuffer();
    const scene = sharp(sample(2)).composite([
      { input: await grey(360, 360), left: 800, top: 185 },
      { input: await grey(670, 1367), left: 1250, top: 0 },
      { input: right, left: 1250, top: 60 },
    ]);
    const result = await assess(scene);
    const faces = result.verify.faces;
    expect(faces).toHaveLength(2);
    const doubtful = faces.find((f) => f.metrics.detectionScore < QUALITY_GATES.verify.minDetectionScore)!;
    const clear = faces.find((f) => f.metrics.detectionScore >= QUALITY_GATES.enrol.minDetectionScore)!;
    expect(doubtful.reasons).toContain('LOW_DETECTION_SCORE');
    expect(clear.reasons).not.toContain('LOW_DETECTION_SCORE');
    expect(doubtful.metrics.faceSize).toBeGreaterThan(clear.metrics.faceSize);
    expect(faces[result.verify.subject]).toBe(clear);
    expect(result.verify.reasons).toEqual([]);
    expect(result.verify.passed).toBe(true);
    expect(result.enrol.faces[result.enrol.subject]!.metrics).toEqual(clear.metrics);
    expect(result.enrol.reasons).toEqual([]);
  });
});
