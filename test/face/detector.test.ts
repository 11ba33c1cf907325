import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDetector, type Detector } from '../../src/face/detector.js';
import { decodeImage } from '../../src/face/image.js';
import { FACE_API_DIR, initTf, WASM_RUNTIME, type RuntimeSettings } from '../../src/face/runtime.js';
import type { DetectedFace, Point, RgbImage } from '../../src/face/types.js';

const sample = (n: number): Buffer => readFileSync(path.join(FACE_API_DIR, 'demo', `sample${n}.jpg`));

const boxCentre = (f: DetectedFace): Point => ({ x: f.box.x + f.box.width / 2, y: f.box.y + f.box.height / 2 });

/** The face in `faces` whose box centre lies nearest `p`, if within half a box. */
function faceAt(faces: DetectedFace[], p: Point): DetectedFace | undefined {
  return faces.find((f) => Math.hypot(boxCentre(f).x - p.x, boxCentre(f).y - p.y) < f.box.width / 2);
}

/** Signed offset of the nose tip from the middle of the eyes, along the eye line, in inter-ocular distances. */
function noseOffset(f: DetectedFace): number {
  const right = f.mesh[33]!,
    left = f.mesh[263]!,
    nose = f.mesh[1]!;
  const ex = left.x - right.x,
    ey = left.y - right.y;
  const iod = Math.hypot(ex, ey);
  const mx = (left.x + right.x) / 2,
    my = (left.y + right.y) / 2;
  return ((nose.x - mx) * ex + (nose.y - my) * ey) / (iod * iod);
}

// Human's pipeline on tfjs-wasm, and on the native runtime medface's typed-array rewrite of it (native-detector.ts).
const RUNTIMES: Array<[string, RuntimeSettings]> = [
  ['tfjs-wasm', WASM_RUNTIME],
  ['native', { kind: 'native', threads: 1 }],
];

describe.each(RUNTIMES)('detector on %s', (_name, runtime) => {
  let detector: Detector;
  let group: RgbImage;

  beforeAll(async () => {
    detector = await createDetector({ runtime });
    group = await decodeImage(sample(1));
  });

  it('finds every face of a group photo with boxes and meshes inside the picture, largest first', async () => {
    const faces = await detector.detect(group);
    expect(faces.length).toBe(3);
    const areas = faces.map((f) => f.box.width * f.box.height);
    expect(areas).toEqual([...areas].sort((a, b) => b - a));
    for (const f of faces) {
      expect(f.score).toBeGreaterThan(0.5);
      expect(f.box.x).toBeGreaterThanOrEqual(0);
      expect(f.box.y).toBeGreaterThanOrEqual(0);
      expect(f.box.x + f.box.width).toBeLessThanOrEqual(group.width);
      expect(f.box.y + f.box.height).toBeLessThanOrEqual(group.height);
      // Faces in these photos are a few hundred pixels wide.
      expect(f.box.width).toBeGreaterThan(150);
      expect(f.box.width).toBeLessThan(600);
      expect(f.mesh).toHaveLength(468);
      const inside = f.mesh.filter((p) => p.x >= f.box.x && p.x <= f.box.x + f.box.width && p.y >= f.box.y && p.y <= f.box.y + f.box.height);
      expect(inside.length / f.mesh.length).toBeGreaterThan(0.95);
      // Eyes above the nose tip, nose tip above the mouth (upright faces).
      const eyesY = (f.mesh[33]!.y + f.mesh[263]!.y) / 2;
      expect(eyesY).toBeLessThan(f.mesh[1]!.y);
      expect(f.mesh[1]!.y).toBeLessThan(f.mesh[13]!.y);
      for (const angle of Object.values(f.pose)) expect(Math.abs(angle)).toBeLessThan(60);
    }
  });

  it("reports yaw > 0 when the nose points to the camera's right, and the sign flips in a mirror image", async () => {
    const photos = [4, 5];
    let compared = 0;
    for (const n of photos) {
      const original = await decodeImage(sample(n));
      const mirrored = await decodeImage(await sharp(sample(n)).flop().jpeg({ quality: 95 }).toBuffer());
      const faces = await detector.detect(original);
      const mirrorFaces = await detector.detect(mirrored);
      for (const f of faces) {
        if (Math.abs(f.pose.yaw) < 8) continue;
        expect(Math.sign(noseOffset(f))).toBe(Math.sign(f.pose.yaw));
        const c = boxCentre(f);
        const m = faceAt(mirrorFaces, { x: original.width - c.x, y: c.y });
        expect(m, `mirror of the face at ${Math.round(c.x)},${Math.round(c.y)} in sample${n}`).toBeDefined();
        expect(Math.sign(m!.pose.yaw)).toBe(-Math.sign(f.pose.yaw));
        // Same magnitude up to the mesh's noise (a few degrees between a photo and its mirror image).
        expect(Math.abs(m!.pose.yaw + f.pose.yaw)).toBeLessThan(8);
        compared++;
      }
    }
    // The photos hold faces turned both ways; make sure the loop really tested some.
    expect(compared).toBeGreaterThanOrEqual(6);
  });

  it('reports roll > 0 for a head tilted clockwise in the image', async () => {
    const crop = await sharp(sample(3)).extract({ left: 335, top: 115, width: 720, height: 720 }).toBuffer();
    const rolls: number[] = [];
    for (const degrees of [-15, 0, 15]) {
      const image = await decodeImage(await sharp(crop).rotate(degrees, { background: '#808080' }).png().toBuffer());
      const faces = await detector.detect(image);
      expect(faces).toHaveLength(1);
      rolls.push(faces[0]!.pose.roll);
    }
    const [ccw, upright, cw] = rolls as [number, number, number];
    expect(cw - upright).toBeGreaterThan(8);
    expect(cw - upright).toBeLessThan(22);
    expect(upright - ccw).toBeGreaterThan(8);
    expect(upright - ccw).toBeLessThan(22);
  });

  it('finds nothing in a blank image and leaves no tensor behind', async () => {
    const tf = await initTf();
    const blank = await decodeImage(
      await sharp({ create: { width: 640, height: 480, channels: 3, background: '#d0d0d0' } })
        .png()
        .toBuffer(),
    );
    await detector.detect(group); // first call may allocate lasting backend state
    const before = tf.memory().numTensors;
    expect(await detector.detect(blank)).toEqual([]);
    await detector.detect(group);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("detects on a big photo shrunk, reporting coordinates in the photo's own pixels", async () => {
    const big = await decodeImage(
      await sharp(sample(1))
        .resize(group.width * 2)
        .png()
        .toBuffer(),
    );
    const [original, doubled] = [await detector.detect(group), await detector.detect(big)];
    expect(doubled).toHaveLength(original.length);
    original.forEach((f, i) => {
      const d = doubled[i]!;
      expect(d.box.x / 2).toBeCloseTo(f.box.x, -1);
      expect(d.box.width / 2).toBeCloseTo(f.box.width, -1);
      const nose = f.mesh[1]!,
        bigNose = d.mesh[1]!;
      expect(Math.hypot(bigNose.x / 2 - nose.x, bigNose.y / 2 - nose.y)).toBeLessThan(f.box.width * 0.02);
      expect(Math.abs(d.pose.yaw - f.pose.yaw)).toBeLessThan(2);
    });
  });

  it('reports at most maxFaces faces', async () => {
    const one = await createDetector({ maxFaces: 1, runtime });
    expect(await one.detect(group)).toHaveLength(1);
    // The two detectors share the models: the first one still sees all faces.
    expect(await detector.detect(group)).toHaveLength(3);
    await expect(createDetector({ maxFaces: 0, runtime })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
