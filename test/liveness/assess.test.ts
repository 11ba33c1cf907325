import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alignedTo,
  curledPrint,
  curledPrintAttack,
  encodeFrame,
  genuineProxy,
  NEUTRAL,
  photoAttack,
  photoMotion,
  renderingFor,
  renderPose,
  reordered,
  retimed,
  spliced,
  toFrames,
  warpImage,
  type SourceFace,
} from './pad-sequences.js';
import { decodeImage, FacePool, meshTriangulation, type Embedding, type FrameObservation, type Pose, type RgbImage } from '../../src/face/index.js';
import { FACE_API_DIR } from '../../src/face/runtime.js';
import { createEmbedder } from '../../src/face/embedders/index.js';
import { assessSequence, type FrameObserver } from '../../src/liveness/assess.js';
import { faceCrop, sheetResiduals, type FaceCrop } from '../../src/liveness/planarity.js';
import { ACTIVE_LIVENESS } from '../../src/liveness/sequence.js';
import { fitSheets } from '../../src/liveness/sheets.js';
import type { CapturedFrame, LivenessAction, LivenessChallenge } from '../../src/liveness/types.js';

/** Length of the default recogniser's embeddings. */
const DIMENSIONS = createEmbedder().dimensions;

const sample = (n: number): Buffer => readFileSync(path.join(FACE_API_DIR, 'demo', `sample${n}.jpg`));

/** Two different people, one face each, small enough to keep the test's CPU modest. */
const personA = (): Promise<Buffer> => sharp(sample(3)).extract({ left: 335, top: 115, width: 640, height: 720 }).resize(320).jpeg().toBuffer();
const personB = (): Promise<Buffer> => sharp(sample(1)).extract({ left: 270, top: 252, width: 480, height: 480 }).resize(320).jpeg().toBuffer();

function seeded(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647;
  };
}

/** Six frames an action (out, held, back, settled): about half the kiosk's, to keep the test's CPU modest. */
const COMPACT = { framesPerAction: 6 };

const ISSUED = Date.parse('2026-01-01T10:00:00Z');
const challenge = (actions: LivenessAction[]): LivenessChallenge => ({
  id: 'c1',
  nonce: 'n1',
  actions,
  issuedAt: new Date(ISSUED).toISOString(),
  deadline: new Date(ISSUED + 20_000).toISOString(),
});
/** When the frames reach the server: after the last one was captured, before the deadline. */
const NOW = new Date(ISSUED + 6_000);

/** The real pool, remembering each frame's answer: the replay attacks resend the same images. */
function remembering(pool: FacePool): FrameObserver {
  const seen = new Map<string, Promise<FrameObservation>>();
  // a frame's face is the one its remembered observation found, so its bytes name its embedding
  const embeddings = new Map<string, Promise<Embedding>>();
  return {
    observe(bytes: Uint8Array, embed: boolean) {
      const key = `${embed}:${createHash('sha256').update(bytes).digest('hex')}`;
      if (!seen.has(key)) seen.set(key, pool.observe(bytes, embed));
      return seen.get(key)!;
    },
    embedObserved(bytes, face) {
      const key = createHash('sha256').update(bytes).digest('hex');
      if (!embeddings.has(key)) embeddings.set(key, pool.embedObserved(bytes, face));
      return embeddings.get(key)!;
    },
  };
}

describe('assessSequence (active liveness) on rendered genuine proxies and attacks', () => {
  let pool: FacePool;
  let faces: FrameObserver;
  let a: SourceFace;
  let b: SourceFace;
  let genuine: CapturedFrame[];
  const triangles = meshTriangulation();

  const source = async (bytes: Buffer): Promise<SourceFace> => {
    const observation = await pool.observe(bytes, false);
    return { image: await decodeImage(bytes), mesh: observation.subject!.mesh };
  };
  /** The face of a rendered frame, cropped for the flatness test. */
  const crop = async (image: RgbImage): Promise<FaceCrop> => {
    const bytes = await encodeFrame(image);
    const observation = await pool.observe(bytes, false);
    return (await faceCrop(bytes, observation.subject!.mesh, observation.image))!;
  };

  beforeAll(async () => {
    pool = await FacePool.create({ size: 1 });
    faces = remembering(pool);
    a = await source(await personA());
    b = await source(await personB());
    genuine = await toFrames(genuineProxy(a, triangles, ['turn-left', 'look-up'], seeded(11), COMPACT));
  }, 120_000);
  afterAll(() => pool.close());

  it('passes a genuine proxy (a head turn and look-up rendered from the 3-D mesh) and hands back a neutral frame embedding', async () => {
    const verdict = await assessSequence(faces, challenge(['turn-left', 'look-up']), genuine, NOW);
    expect(verdict).toMatchObject({ passed: true, reasons: [], observed: ['turn-left', 'look-up'] });
    expect(verdict.matchFrame).toBeGreaterThan(0);
    expect(verdict.matchFrame).toBeLessThan(genuine.length - 1);
    expect(verdict.embedding!.vector).toHaveLength(DIMENSIONS);
    // the identification probe's views: the match frame first, then the other neutral frames, the most frontal first
    expect(verdict.probeFrames[0]).toBe(verdict.matchFrame);
    expect(verdict.probeFrames.length).toBeGreaterThan(1);
    expect(new Set(verdict.probeFrames).size).toBe(verdict.probeFrames.length);
    expect(verdict.views).toHaveLength(verdict.probeFrames.length);
    expect(verdict.views[0]).toBe(verdict.embedding);
    const poses = await Promise.all(verdict.probeFrames.map(async (i) => (await faces.observe(genuine[i]!.image, true)).subject!.pose));
    const frontality = poses.slice(1).map((p) => Math.abs(p.yaw) + Math.abs(p.pitch));
    expect(frontality).toEqual([...frontality].sort((x, y) => x - y));
  }, 120_000);

  it('detects right turns, blinks and coming closer, in order', async () => {
    const frames = await toFrames(genuineProxy(a, triangles, ['blink', 'turn-right', 'come-closer'], seeded(5), COMPACT));
    const verdict = await assessSequence(faces, challenge(['blink', 'turn-right', 'come-closer']), frames, NOW);
    expect(verdict.observed).toEqual(['blink', 'turn-right', 'come-closer']);
    expect(verdict.passed).toBe(true);
  }, 120_000);

  it('refuses the same genuine frames against another challenge (a replay): wrong order, missing or extra actions', async () => {
    const reversed = await assessSequence(faces, challenge(['look-up', 'turn-left']), genuine, NOW);
    expect(reversed).toMatchObject({ passed: false, reasons: ['LIVENESS_WRONG_ORDER'], matchFrame: null, embedding: null });
    const more = await assessSequence(faces, challenge(['turn-left', 'look-up', 'blink']), genuine, NOW);
    expect(more.reasons).toEqual(['LIVENESS_ACTION_MISSING']);
    const fewer = await assessSequence(faces, challenge(['turn-left']), genuine, NOW);
    expect(fewer.reasons).toEqual(['LIVENESS_EXTRA_ACTION']);
  }, 120_000);

  it('refuses a photo moved, zoomed, rotated and perspective-tilted to fake the actions', async () => {
    const frames = await toFrames(photoAttack(a.image, ['turn-left', 'look-up'], seeded(3), COMPACT));
    const verdict = await assessSequence(faces, challenge(['turn-left', 'look-up']), frames, NOW);
    expect(verdict.passed).toBe(false);
    // its moves are not a head's: the check stops there, before any flatness fit or embedding
    expect(verdict.reasons).toContain('LIVENESS_ACTION_MISSING');
  }, 120_000);

  it('refuses a print tipped so steeply that its turn is read, by the pixels: one homography explains it', async () => {
    const frames = await toFrames(photoAttack(b.image, ['turn-left', 'come-closer'], seeded(4), { ...COMPACT, tilt: [1.9, 2] }));
    const verdict = await assessSequence(faces, challenge(['turn-left', 'come-closer']), frames, NOW);
    expect(verdict.observed).toEqual(['turn-left', 'come-closer']);
    expect(verdict).toMatchObject({ passed: false, reasons: ['LIVENESS_FLAT_FACE'] });
  }, 120_000);

  it('refuses a print held curled and turned, which no homography explains: a curled sheet does', async () => {
    // With minCurledResidual at 0 (no curled sheet) this sequence passed: checked when the test was written.
    const frames = await toFrames(curledPrintAttack(b.image, ['turn-right', 'come-closer'], seeded(8), { ...COMPACT, radius: 0.3 }));
    const verdict = await assessSequence(faces, challenge(['turn-right', 'come-closer']), frames, NOW);
    expect(verdict.observed).toEqual(['turn-right', 'come-closer']);
    expect(verdict).toMatchObject({ passed: false, reasons: ['LIVENESS_FLAT_FACE'] });
  }, 120_000);

  it('sheetResiduals: a print tipped, rotated, zoomed, shifted or held curled is explained by a sheet; a head that turns or looks up is not', async () => {
    const { width, height } = a.image;
    const first = await crop(a.image);
    expect(sheetResiduals(first, first).plane).toBeLessThan(0.001);
    for (const motion of [
      { angle: 4, scale: 0.92, dx: 20, dy: -6, tiltX: 1.5, tiltY: 0 },
      { angle: -3, scale: 1, dx: -10, dy: 5, tiltX: -1.2, tiltY: 0 },
      { angle: 0, scale: 1.1, dx: 0, dy: 0, tiltX: 0, tiltY: 1.3 },
    ]) {
      expect(sheetResiduals(first, await crop(warpImage(a.image, photoMotion(width, height, motion)))).plane).toBeLessThan(ACTIVE_LIVENESS.minPlaneResidual);
    }
    // Curled, turned or tipped back: out of one plane, onto one curled sheet.
    const curled = { radius: 0.3, yaw: 0, pitch: 0, scale: 1, dx: 0, dy: 0 };
    const front = await crop(curledPrint(b.image, curled));
    for (const pose of [{ yaw: -50 }, { pitch: -50 }]) {
      const sheet = sheetResiduals(front, await crop(curledPrint(b.image, { ...curled, ...pose })));
      expect(sheet.plane).toBeGreaterThan(ACTIVE_LIVENESS.minPlaneResidual);
      expect(sheet.curled).toBeLessThan(ACTIVE_LIVENESS.minCurledResidual);
    }
    for (const pose of [{ yaw: 30 }, { yaw: -30 }, { pitch: -25 }]) {
      const sheet = sheetResiduals(first, await crop(renderPose(a, triangles, { ...NEUTRAL, ...pose })));
      expect(sheet.plane).toBeGreaterThan(ACTIVE_LIVENESS.minPlaneResidual);
      expect(sheet.curled).toBeGreaterThan(ACTIVE_LIVENESS.minCurledResidual);
    }
  }, 120_000);

  it('fitSheets: the same residuals as sheetResiduals, fitted while the main thread goes on serving', async () => {
    const first = await crop(a.image);
    const pairs = [
      await crop(renderPose(a, triangles, { ...NEUTRAL, yaw: 30 })),
      await crop(warpImage(a.image, photoMotion(a.image.width, a.image.height, { angle: 4, scale: 0.92, dx: 20, dy: -6, tiltX: 1.5, tiltY: 0 }))),
    ];
    // A timer ticking every millisecond runs only while the main thread is free: a fit on it would starve it.
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    try {
      const offThread = await Promise.all(pairs.map((b) => fitSheets(first, b)));
      expect(ticks).toBeGreaterThan(10);
      expect(offThread).toEqual(pairs.map((b) => sheetResiduals(first, b)));
    } finally {
      clearInterval(ticker);
    }
  }, 120_000);

  it("faceCrop: the face and a margin, grey, its eyes about 48 px apart, with the mesh in the crop's pixels", async () => {
    const bytes = await encodeFrame(a.image);
    const observation = await pool.observe(bytes, false);
    const mesh = observation.subject!.mesh;
    const crop = (await faceCrop(bytes, mesh, observation.image))!;
    const eyes = (m: ReadonlyArray<{ x: number; y: number }>): number => Math.hypot(m[33]!.x - m[263]!.x, m[33]!.y - m[263]!.y);
    expect(eyes(mesh)).toBeGreaterThan(48);
    expect(eyes(crop.mesh)).toBeCloseTo(48, 0);
    expect(crop.pixels.data).toHaveLength(crop.pixels.width * crop.pixels.height);
    for (const p of crop.mesh) {
      expect(p.x).toBeGreaterThanOrEqual(0);
      expect(p.x).toBeLessThan(crop.pixels.width);
    }
  }, 120_000);

  it('embeds only the frames the decision needs: the key frames of a genuine sequence, none of one its motion refuses', async () => {
    const embedded: number[] = [];
    const counting: FrameObserver = {
      observe: (bytes, embed) => {
        if (embed) embedded.push(genuine.findIndex((f) => f.image === bytes));
        return faces.observe(bytes, embed);
      },
      embedObserved: (bytes, face) => {
        embedded.push(genuine.findIndex((f) => f.image === bytes));
        return faces.embedObserved(bytes, face);
      },
    };
    const verdict = await assessSequence(counting, challenge(['turn-left', 'look-up']), genuine, NOW);
    expect(verdict.passed).toBe(true);
    // the first frame, the match frame, each once; not the still moments after the first frame or at the end
    expect(embedded).toContain(0);
    expect(embedded).toContain(verdict.matchFrame);
    expect(new Set(embedded).size).toBe(embedded.length);
    expect(embedded).not.toContain(1);
    expect(embedded).not.toContain(genuine.length - 1);
    expect(embedded.length).toBeLessThan(genuine.length / 2);
    embedded.length = 0;
    const replayed = await assessSequence(counting, challenge(['look-up', 'turn-left']), genuine, NOW);
    expect(replayed.passed).toBe(false);
    expect(embedded).toEqual([]);
  }, 120_000);

  it('refuses reordered frames and frames re-timed past the deadline or impossibly fast', async () => {
    const shuffled = await assessSequence(faces, challenge(['turn-left', 'look-up']), reordered(genuine, seeded(2)), NOW);
    expect(shuffled.passed).toBe(false);
    expect(shuffled.reasons.some((r) => ['LIVENESS_ACTION_MISSING', 'LIVENESS_WRONG_ORDER', 'LIVENESS_EXTRA_ACTION'].includes(r))).toBe(true);
    const slow = await assessSequence(faces, challenge(['turn-left', 'look-up']), retimed(genuine, 15), new Date(ISSUED + 19_000));
    expect(slow.reasons).toContain('LIVENESS_EXPIRED');
    const fast = await assessSequence(faces, challenge(['turn-left', 'look-up']), retimed(genuine, 0.1), NOW);
    expect(fast.reasons).toEqual(['LIVENESS_TIMING']);
    const late = await assessSequence(faces, challenge(['turn-left', 'look-up']), genuine, new Date(ISSUED + 21_000));
    expect(late.reasons).toEqual(['LIVENESS_EXPIRED']);
  }, 120_000);

  it('refuses a different person spliced in where the decision rests, aligned to the first face and posed like it', async () => {
    const b2 = alignedTo(b, a);
    const readPose = async (image: RgbImage): Promise<Pose | null> => (await pool.observe(await encodeFrame(image), false)).subject?.pose ?? null;
    const base = await renderingFor(b2, triangles, (await readPose(a.image))!, readPose);
    const other = await toFrames(genuineProxy(b2, triangles, ['turn-left', 'look-up'], seeded(11), { ...COMPACT, base }));
    // The second person looks at the camera first, then the first performs the actions: the flatness test's
    // reference frame is not the matched face. (Frames that carry no evidence, the way between two actions, are
    // compared only when the key frames do not show one face: docs/liveness.md.)
    const verdict = await assessSequence(faces, challenge(['turn-left', 'look-up']), spliced(genuine, other, 0, 4), NOW);
    expect(verdict).toMatchObject({ passed: false, embedding: null });
    expect(verdict.reasons).toContain('LIVENESS_FACE_CHANGED');
  }, 120_000);

  it('compares the first frame and the heights whatever comes back first, an embedding or a crop', async () => {
    const b2 = alignedTo(b, a);
    const readPose = async (image: RgbImage): Promise<Pose | null> => (await pool.observe(await encodeFrame(image), false)).subject?.pose ?? null;
    const base = await renderingFor(b2, triangles, (await readPose(a.image))!, readPose);
    const other = await toFrames(genuineProxy(b2, triangles, ['turn-left', 'look-up'], seeded(12), { ...COMPACT, base }));
    const frames = spliced(genuine, other, 0, 1);
    // Every frame embedded once already: the remembering pool answers at once, before the first frame's crop is ready.
    await Promise.all(frames.map((f) => faces.observe(f.image, true)));
    const verdict = await assessSequence(faces, challenge(['turn-left', 'look-up']), frames, NOW);
    expect(verdict.reasons).toContain('LIVENESS_FACE_CHANGED');
  }, 120_000);

  it('refuses a single frame and too many frames before any analysis', async () => {
    expect(await assessSequence(faces, challenge(['turn-left', 'look-up']), genuine.slice(0, 1), NOW)).toMatchObject({
      passed: false,
      reasons: ['LIVENESS_TOO_FEW_FRAMES'],
    });
    const many = Array.from({ length: 41 }, (_, i) => ({ image: genuine[0]!.image, at: i * 100 }));
    expect((await assessSequence(faces, challenge(['turn-left', 'look-up']), many, NOW)).reasons).toEqual(['LIVENESS_TOO_MANY_FRAMES']);
  }, 120_000);
});
