import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMedfaceError } from '../../../src/errors.js';
import { createDetector } from '../../../src/face/detector.js';
import { arcfaceChip } from '../../../src/face/embedders/arcface-chip.js';
import { FACEPLUGIN_MODEL_FILE, FacepluginEmbedder } from '../../../src/face/embedders/faceplugin.js';
import { createFaceResEmbedder } from '../../../src/face/embedders/faceres.js';
import { createMobileFaceNetFacepluginEmbedder, FusedEmbedder, MOBILEFACENET_FACEPLUGIN_EMBEDDER_ID } from '../../../src/face/embedders/fused.js';
import { createEmbedder } from '../../../src/face/embedders/index.js';
import { createMobileFaceNetEmbedder } from '../../../src/face/embedders/mobilefacenet.js';
import { decodeImage } from '../../../src/face/image.js';
import { FACE_API_DIR, WASM_RUNTIME, type RuntimeSettings } from '../../../src/face/runtime.js';
import type { DetectedFace, RgbImage } from '../../../src/face/types.js';

const NATIVE: RuntimeSettings = { kind: 'native', threads: 1 };
const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => s + v * b[i]!, 0);
const norm = (a: Float32Array): number => Math.sqrt(dot(a, a));

let image: RgbImage;
let faces: DetectedFace[];

beforeAll(async () => {
  // face-api's demo photo of several actors: different people, shipped in an npm package.
  image = await decodeImage(readFileSync(path.join(FACE_API_DIR, 'demo', 'sample1.jpg')));
  const detector = await createDetector();
  faces = await detector.detect(image);
  expect(faces.length).toBeGreaterThanOrEqual(3);
});

describe('vendored faceplugin model', () => {
  it('is the file extract.sh takes from the npm tarball (sha256 recorded there)', () => {
    const script = readFileSync(path.join(path.dirname(FACEPLUGIN_MODEL_FILE), 'extract.sh'), 'utf8');
    const recorded = /^MODEL_SHA256=([0-9a-f]{64})$/m.exec(script)?.[1];
    expect(recorded).toMatch(/^[0-9a-f]{64}$/);
    expect(createHash('sha256').update(readFileSync(FACEPLUGIN_MODEL_FILE)).digest('hex')).toBe(recorded);
  });
});

describe('faceplugin@1', () => {
  const embedder = new FacepluginEmbedder();
  let reference: ort.InferenceSession;

  beforeAll(async () => {
    await embedder.load(NATIVE);
    reference = await ort.InferenceSession.create(FACEPLUGIN_MODEL_FILE, { intraOpNumThreads: 1 });
  });
  afterAll(async () => {
    embedder.dispose();
    await reference.release();
  });

  it('gives 512 unit-length values, equal to the package preprocessing run through onnxruntime public API', async () => {
    for (const face of faces) {
      const vector = await embedder.embed(image, face);
      expect(vector).toHaveLength(512);
      expect(norm(vector)).toBeCloseTo(1, 5);
      // The package's lib/fr_feature.js: RGB pixel p of row y, column x to plane c at y·112 + x as (p − 127) / 128.
      const chip = arcfaceChip(image, face);
      const input = new Float32Array(3 * 112 * 112);
      for (let y = 0; y < 112; y++) for (let x = 0; x < 112; x++) for (let c = 0; c < 3; c++) input[c * 112 * 112 + y * 112 + x] = (chip.data[(y * 112 + x) * 3 + c]! - 127) / 128;
      const out = await reference.run({ input: new ort.Tensor('float32', input, [1, 3, 112, 112]) });
      const raw = out.output!.data as Float32Array;
      const expected = raw.map((v) => v / norm(raw));
      for (let i = 0; i < 512; i++) expect(Math.abs(vector[i]! - expected[i]!)).toBeLessThan(1e-5);
    }
  });

  it('tells the people of the photo apart: every different-person cosine is well below 1', async () => {
    const vectors = await Promise.all(faces.map((f) => embedder.embed(image, f)));
    for (let i = 0; i < vectors.length; i++) for (let j = i + 1; j < vectors.length; j++) expect(dot(vectors[i]!, vectors[j]!)).toBeLessThan(0.5);
  });

  it('refuses to load on tfjs-wasm with a MedfaceError naming the fix', async () => {
    const error: unknown = await new FacepluginEmbedder().load(WASM_RUNTIME).catch((e: unknown) => e);
    expect(isMedfaceError(error) && error.code).toBe('ENGINE_FAILED');
    expect((error as Error).message).toMatch(/onnxruntime-node/);
    expect((error as Error).message).toMatch(/MEDFACE_RUNTIME/);
    const fused: unknown = await createEmbedder(MOBILEFACENET_FACEPLUGIN_EMBEDDER_ID)
      .load(WASM_RUNTIME)
      .catch((e: unknown) => e);
    expect(isMedfaceError(fused) && fused.code).toBe('ENGINE_FAILED');
  });
});

describe(MOBILEFACENET_FACEPLUGIN_EMBEDDER_ID, () => {
  const fused = createMobileFaceNetFacepluginEmbedder();
  const mobilefacenet = createMobileFaceNetEmbedder();
  const faceplugin = new FacepluginEmbedder();

  beforeAll(async () => {
    await Promise.all([fused.load(NATIVE), mobilefacenet.load(NATIVE), faceplugin.load(NATIVE)]);
  });
  afterAll(() => {
    for (const e of [fused, mobilefacenet, faceplugin]) e.dispose();
  });

  it('is unit length, and its cosine is exactly the mean of the two networks’ cosines (nothing fitted)', async () => {
    expect(fused.dimensions).toBe(192 + 512);
    const of = async (face: DetectedFace) => ({ f: await fused.embed(image, face), m: await mobilefacenet.embed(image, face), p: await faceplugin.embed(image, face) });
    const all = await Promise.all(faces.map(of));
    for (const a of all) {
      expect(a.f).toHaveLength(704);
      expect(norm(a.f)).toBeCloseTo(1, 5);
      for (const b of all) expect(dot(a.f, b.f)).toBeCloseTo((dot(a.m, b.m) + dot(a.p, b.p)) / 2, 5);
    }
  });

  it('cuts the ArcFace chip once for both networks: the same vector, bit for bit, as each network embedding the face itself', async () => {
    for (const face of faces) {
      const [f, m, p] = [await fused.embed(image, face), await mobilefacenet.embed(image, face), await faceplugin.embed(image, face)];
      const expected = Float32Array.from([...m, ...p], (v) => v * Math.SQRT1_2);
      expect(Array.from(f, (v, i) => Object.is(v, expected[i]) || `${i}: ${v} != ${expected[i]}`).filter((v) => v !== true)).toEqual([]);
    }
  });

  it('refuses to fuse recognisers that take different chips', () => {
    expect(() => new FusedEmbedder('x', [createMobileFaceNetEmbedder(), createFaceResEmbedder()])).toThrow(/same chip/);
  });
});
