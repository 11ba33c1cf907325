import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshTriangulation } from '../../src/face/detector.js';
import { FacePool } from '../../src/face/pool.js';
import { FACE_API_DIR } from '../../src/face/runtime.js';
import { createEmbedder } from '../../src/face/embedders/index.js';
import { decodeImage } from '../../src/face/image.js';
import { encodeFrame, NEUTRAL, renderPose } from '../liveness/pad-sequences.js';

/** Length of the default recogniser's embeddings. */
const DIMENSIONS = createEmbedder().dimensions;

const sample = (n: number): Buffer => readFileSync(path.join(FACE_API_DIR, 'demo', `sample${n}.jpg`));

/** One face of sample3 with some background, and no other face. */
const singleFace = (): Promise<Buffer> => sharp(sample(3)).extract({ left: 335, top: 115, width: 640, height: 720 }).resize(320).jpeg({ quality: 92 }).toBuffer();

describe('FacePool.observe (per-frame geometry for sequence checks)', () => {
  let pool: FacePool;

  beforeAll(async () => {
    pool = await FacePool.create({ size: 1 });
  });
  afterAll(() => pool.close());

  it('describes the largest face with its 3-D mesh and pose, and embeds it only when asked', async () => {
    const photo = await singleFace();
    const plain = await pool.observe(photo, false);
    expect(plain.image).toEqual({ width: 320, height: 360 });
    expect(plain.faces).toBe(1);
    const subject = plain.subject!;
    expect(subject.mesh).toHaveLength(468);
    expect(subject.embedding).toBeUndefined();
    // Depth: the nose tip is nearer the camera (smaller z) than the cheeks' outline.
    expect(subject.mesh[1]!.z).toBeLessThan(subject.mesh[234]!.z);
    expect(subject.mesh[1]!.z).toBeLessThan(subject.mesh[454]!.z);
    const embedded = await pool.observe(photo, true);
    expect(embedded.subject!.embedding!.vector).toHaveLength(DIMENSIONS);
    expect(embedded.subject!.mesh).toEqual(subject.mesh);
  }, 120_000);

  it('embeds a face observed before without detecting it again: the same vector as a full analysis of the frame', async () => {
    const photo = await singleFace();
    const observed = (await pool.observe(photo, false)).subject!;
    const later = await pool.embedObserved(photo, observed);
    const analysed = (await pool.analyze(photo, { embed: 'primary' })).faces[0]!.embedding!;
    const embedded = (await pool.observe(photo, true)).subject!.embedding!;
    expect(later.model).toBe(analysed.model);
    expect(later.vector).toHaveLength(DIMENSIONS);
    for (const other of [analysed, embedded]) {
      const cosine = later.vector.reduce((s, v, i) => s + v * other.vector[i]!, 0);
      expect(cosine).toBeGreaterThan(0.99999);
      for (let i = 0; i < DIMENSIONS; i++) expect(later.vector[i]).toBeCloseTo(other.vector[i]!, 5);
    }
    // the embedding follows the mesh it is given: another face's mesh gives another vector
    const other = (await pool.observe(sample(1), false)).subject!;
    const moved = await pool.embedObserved(photo, { ...observed, mesh: other.mesh.map((p) => ({ ...p, x: p.x / 3, y: p.y / 3 })) });
    expect(moved.vector.reduce((s, v, i) => s + v * later.vector[i]!, 0)).toBeLessThan(0.9);
    await expect(pool.embedObserved(photo, { ...observed, mesh: observed.mesh.slice(0, 5) })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  }, 120_000);

  it('says how open each eye is: mirrored, the eyes swap sides; closed (the lids rendered shut), they read far lower', async () => {
    const photo = await singleFace();
    const open = (await pool.observe(photo, false)).subject!;
    expect(open.eyes.right).toBeGreaterThan(0.2);
    expect(open.eyes.left).toBeGreaterThan(0.2);
    const mirrored = (await pool.observe(await sharp(photo).flop().jpeg({ quality: 92 }).toBuffer(), false)).subject!.eyes;
    expect(mirrored.right).toBeCloseTo(open.eyes.left, 1);
    expect(mirrored.left).toBeCloseTo(open.eyes.right, 1);
    const shut = renderPose({ image: await decodeImage(photo), mesh: open.mesh }, meshTriangulation(), { ...NEUTRAL, blink: 1 });
    const closed = (await pool.observe(await encodeFrame(shut), false)).subject!.eyes;
    expect(closed.right + closed.left).toBeLessThan(0.8 * (open.eyes.right + open.eyes.left));
  }, 120_000);

  it("says how wide the eyes are against the face's height: a picture squashed or turned keeps it roughly, eyes rendered shut read far lower", async () => {
    const photo = await singleFace();
    const open = (await pool.observe(photo, false)).subject!;
    expect(open.eyes.aperture).toBeGreaterThan(0.05);
    // A print tipped back or turned, as the camera sees it: squashed in height or in width. The aperture, two
    // heights, keeps both in geometry; the iris model's reading of the lids moves by up to 0.11 of it here, which is
    // why the check takes no widening for evidence against a picture (ACTIVE_LIVENESS.eyesWidening).
    const squashed = (await pool.observe(await sharp(photo).resize(320, 306, { fit: 'fill' }).jpeg({ quality: 92 }).toBuffer(), false)).subject!.eyes;
    const narrowed = (await pool.observe(await sharp(photo).resize(272, 360, { fit: 'fill' }).jpeg({ quality: 92 }).toBuffer(), false)).subject!.eyes;
    for (const view of [squashed, narrowed]) expect(Math.abs(view.aperture / open.eyes.aperture - 1)).toBeLessThan(0.15);
    const shut = renderPose({ image: await decodeImage(photo), mesh: open.mesh }, meshTriangulation(), { ...NEUTRAL, blink: 1 });
    const closed = (await pool.observe(await encodeFrame(shut), false)).subject!.eyes;
    expect(closed.aperture).toBeLessThan(0.8 * open.eyes.aperture);
  }, 120_000);

  it('picks the largest of several faces and reports none in an empty frame', async () => {
    const group = await pool.observe(sample(1), false);
    expect(group.faces).toBe(3);
    const blank = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    expect(await pool.observe(blank, true)).toEqual({ image: { width: 200, height: 200 }, faces: 0, subject: null });
  }, 120_000);

  it('ships the mesh triangulation: triples of vertex indices covering the mesh', () => {
    const triangles = meshTriangulation();
    expect(triangles.length % 3).toBe(0);
    expect(triangles.length / 3).toBeGreaterThan(800);
    expect(Math.max(...triangles)).toBe(467);
    expect(new Set(triangles).size).toBe(468);
  });
});
