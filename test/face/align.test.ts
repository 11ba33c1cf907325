import { describe, expect, it } from 'vitest';
import { applyAffine, estimateSimilarity, invertAffine, warpAffine, type Affine2x3 } from '../../src/face/align.js';
import type { Point, RgbImage } from '../../src/face/types.js';

function similarity(scale: number, angle: number, tx: number, ty: number): Affine2x3 {
  const a = scale * Math.cos(angle),
    b = scale * Math.sin(angle);
  return [a, -b, tx, b, a, ty];
}

function blank(width: number, height: number): RgbImage {
  return { data: new Uint8Array(width * height * 3), width, height };
}

function setPixel(img: RgbImage, x: number, y: number, rgb: [number, number, number]): void {
  img.data.set(rgb, (y * img.width + x) * 3);
}

/** Intensity-weighted centre of the red channel. */
function redCentroid(img: RgbImage): Point {
  let sum = 0,
    sx = 0,
    sy = 0;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const v = img.data[(y * img.width + x) * 3]!;
      sum += v;
      sx += v * x;
      sy += v * y;
    }
  }
  return { x: sx / sum, y: sy / sum };
}

describe('estimateSimilarity', () => {
  it('recovers a known similarity exactly from noiseless points', () => {
    const truth = similarity(1.7, 0.4, -12.5, 33);
    const src = [
      { x: 10, y: 20 },
      { x: 80, y: 25 },
      { x: 45, y: 90 },
      { x: 5, y: 60 },
    ];
    const dst = src.map((p) => applyAffine(truth, p));
    const m = estimateSimilarity(src, dst);
    m.forEach((v, i) => expect(v).toBeCloseTo(truth[i]!, 10));
  });

  it('is the least-squares fit when points disagree', () => {
    // Two point pairs that a pure translation cannot both satisfy: the fit splits the difference.
    const src = [
      { x: 0, y: 0 },
      { x: 10, y: 0 },
      { x: 0, y: 10 },
      { x: 10, y: 10 },
    ];
    const dst = src.map((p) => ({ x: 2 * p.x + 5, y: 2 * p.y - 3 }));
    dst[0] = { x: dst[0]!.x + 1, y: dst[0]!.y };
    const m = estimateSimilarity(src, dst);
    const residual = (mm: Affine2x3): number =>
      src.reduce((s, p, i) => {
        const q = applyAffine(mm, p);
        return s + (q.x - dst[i]!.x) ** 2 + (q.y - dst[i]!.y) ** 2;
      }, 0);
    const best = residual(m);
    for (const d of [1e-3, -1e-3]) {
      for (let k = 0; k < 6; k++) {
        // Perturbations that stay similarities (scale/rotation pair, or translation) never fit better.
        const p = [...m] as [number, number, number, number, number, number];
        if (k === 0) {
          p[0] += d;
          p[4] += d;
        } else if (k === 1) {
          p[1] += d;
          p[3] -= d;
        } else if (k === 2) p[2] += d;
        else if (k === 5) p[5] += d;
        else continue;
        expect(residual(p)).toBeGreaterThan(best);
      }
    }
  });

  it('never returns a reflection', () => {
    const src = [
      { x: 0, y: 0 },
      { x: 10, y: 0 },
      { x: 0, y: 10 },
    ];
    const mirrored = src.map((p) => ({ x: -p.x, y: p.y }));
    const [a, b, , c, d] = estimateSimilarity(src, mirrored);
    expect(a * d - b * c).toBeGreaterThanOrEqual(0);
  });

  it('rejects degenerate input', () => {
    expect(() => estimateSimilarity([{ x: 1, y: 1 }], [{ x: 2, y: 2 }])).toThrow(RangeError);
    expect(() =>
      estimateSimilarity(
        [
          { x: 1, y: 1 },
          { x: 1, y: 1 },
        ],
        [
          { x: 0, y: 0 },
          { x: 3, y: 3 },
        ],
      ),
    ).toThrow(RangeError);
  });
});

describe('invertAffine', () => {
  it('undoes the map', () => {
    const m = similarity(0.6, -1.1, 40, -7);
    const p = { x: 13, y: -4 };
    const q = applyAffine(invertAffine(m), applyAffine(m, p));
    expect(q.x).toBeCloseTo(p.x, 10);
    expect(q.y).toBeCloseTo(p.y, 10);
  });
});

describe('warpAffine', () => {
  it('moves a dot to where the map sends it', () => {
    const img = blank(64, 48);
    setPixel(img, 20, 10, [255, 0, 0]);
    const m = similarity(1, Math.PI / 2, 40, 5); // rotate 90°, then shift
    const out = warpAffine(img, m, 64, 64);
    const expected = applyAffine(m, { x: 20, y: 10 });
    const c = redCentroid(out);
    expect(c.x).toBeCloseTo(expected.x, 5);
    expect(c.y).toBeCloseTo(expected.y, 5);
    expect(out.data[(Math.round(expected.y) * 64 + Math.round(expected.x)) * 3]).toBe(255);
  });

  it('interpolates bilinearly between pixels', () => {
    const img = blank(4, 1);
    img.data.set([0, 0, 0, 100, 0, 0, 200, 0, 0, 100, 0, 0]);
    // Shift right by half a pixel: each output pixel lies midway between two input pixels.
    const out = warpAffine(img, [1, 0, 0.5, 0, 1, 0], 4, 1);
    expect([out.data[3], out.data[6], out.data[9]]).toEqual([50, 150, 150]);
  });

  it('fills outside the source with black', () => {
    const img = { data: new Uint8Array(8 * 8 * 3).fill(200), width: 8, height: 8 };
    const out = warpAffine(img, [1, 0, 10, 0, 1, 0], 20, 8);
    expect(out.data[0]).toBe(0);
    expect(out.data[(4 * 20 + 14) * 3]).toBe(200);
  });

  it('averages instead of aliasing when shrinking', () => {
    // A one-pixel checkerboard shrunk 4x: plain bilinear lookups would land on single squares (0 or 255).
    const w = 64;
    const img = blank(w, w);
    for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) if ((x + y) % 2) setPixel(img, x, y, [255, 255, 255]);
    const out = warpAffine(img, [0.25, 0, 0, 0, 0.25, 0], 16, 16);
    // Interior pixels only: the outermost ones reach past the image edge and are partly black.
    for (let y = 1; y < 15; y++) {
      for (let x = 1; x < 15; x++) expect(Math.abs(out.data[(y * 16 + x) * 3]! - 127.5)).toBeLessThan(8);
    }
  });
});
