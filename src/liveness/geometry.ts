import type { Point } from '../face/index.js';

/** A 3x3 projective map, row-major: [h0 h1 h2; h3 h4 h5; h6 h7 h8]. */
export type Homography = readonly [number, number, number, number, number, number, number, number, number];

/** Applies `h` to a point (the point at infinity maps to NaN). */
export function applyHomography(h: Homography, p: Point): Point {
  const w = h[6] * p.x + h[7] * p.y + h[8];
  return { x: (h[0] * p.x + h[1] * p.y + h[2]) / w, y: (h[3] * p.x + h[4] * p.y + h[5]) / w };
}

/** The inverse map of `h`. */
export function invertHomography(h: Homography): Homography {
  const [a, b, c, d, e, f, g, k, l] = h;
  const A = e * l - f * k,
    B = -(d * l - f * g),
    C = d * k - e * g;
  const det = a * A + b * B + c * C;
  return [A / det, -(b * l - c * k) / det, (b * f - c * e) / det, B / det, (a * l - c * g) / det, -(a * f - c * d) / det, C / det, -(a * k - b * g) / det, (a * e - b * d) / det];
}

/** Similarity that moves the points' centroid to 0 and their mean distance from it to √2 (Hartley). */
function normaliser(points: readonly Point[]): { scale: number; cx: number; cy: number } {
  let cx = 0,
    cy = 0;
  for (const p of points) {
    cx += p.x;
    cy += p.y;
  }
  cx /= points.length;
  cy /= points.length;
  let mean = 0;
  for (const p of points) mean += Math.hypot(p.x - cx, p.y - cy);
  mean /= points.length;
  if (!(mean > 0)) throw new RangeError('fitHomography: the points all coincide');
  return { scale: Math.SQRT2 / mean, cx, cy };
}

/**
 * Eigenvector of the smallest eigenvalue of a symmetric matrix (cyclic Jacobi rotations; n is small here).
 */
function smallestEigenvector(m: number[][]): number[] {
  const n = m.length;
  const a = m.map((row) => [...row]);
  const v: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (__, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p]![q]! ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p]![q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q]![q]! - a[p]![p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k]![p]!,
            akq = a[k]![q]!;
          a[k]![p] = c * akp - s * akq;
          a[k]![q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p]![k]!,
            aqk = a[q]![k]!;
          a[p]![k] = c * apk - s * aqk;
          a[q]![k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k]![p]!,
            vkq = v[k]![q]!;
          v[k]![p] = c * vkp - s * vkq;
          v[k]![q] = s * vkp + c * vkq;
        }
      }
    }
  }
  let best = 0;
  for (let i = 1; i < n; i++) if (a[i]![i]! < a[best]![best]!) best = i;
  return v.map((row) => row[best]!);
}

/**
 * The homography that maps `src` onto `dst` with the least algebraic error: the normalised direct linear
 * transform (Hartley & Zisserman, algorithm 4.2). Needs at least 4 correspondences.
 */
export function fitHomography(src: readonly Point[], dst: readonly Point[]): Homography {
  if (src.length !== dst.length || src.length < 4) {
    throw new RangeError('fitHomography needs two equally long lists of at least four points');
  }
  const ns = normaliser(src);
  const nd = normaliser(dst);
  const ata = Array.from({ length: 9 }, () => new Array<number>(9).fill(0));
  const addRow = (row: number[]): void => {
    for (let i = 0; i < 9; i++) for (let j = i; j < 9; j++) ata[i]![j]! += row[i]! * row[j]!;
  };
  for (let k = 0; k < src.length; k++) {
    const x = (src[k]!.x - ns.cx) * ns.scale,
      y = (src[k]!.y - ns.cy) * ns.scale;
    const u = (dst[k]!.x - nd.cx) * nd.scale,
      v = (dst[k]!.y - nd.cy) * nd.scale;
    addRow([0, 0, 0, -x, -y, -1, v * x, v * y, v]);
    addRow([x, y, 1, 0, 0, 0, -u * x, -u * y, -u]);
  }
  for (let i = 0; i < 9; i++) for (let j = 0; j < i; j++) ata[i]![j] = ata[j]![i]!;
  const hn = smallestEigenvector(ata);
  // H = Td⁻¹ · Hn · Ts, with Ts = [s 0 -s·cx; 0 s -s·cy; 0 0 1].
  const ts = [ns.scale, 0, -ns.scale * ns.cx, 0, ns.scale, -ns.scale * ns.cy, 0, 0, 1];
  const tdInv = [1 / nd.scale, 0, nd.cx, 0, 1 / nd.scale, nd.cy, 0, 0, 1];
  const h = multiply3(tdInv, multiply3(hn, ts));
  const norm = h[8] !== 0 ? h[8]! : 1;
  return h.map((x) => x / norm) as unknown as Homography;
}

function multiply3(a: readonly number[], b: readonly number[]): number[] {
  const out = new Array<number>(9).fill(0);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) out[i * 3 + j]! += a[i * 3 + k]! * b[k * 3 + j]!;
  return out;
}

/** Root-mean-square distance between `dst` and `src` mapped by `h`. */
export function transferError(h: Homography, src: readonly Point[], dst: readonly Point[]): number {
  let sum = 0;
  for (let k = 0; k < src.length; k++) {
    const p = applyHomography(h, src[k]!);
    sum += (p.x - dst[k]!.x) ** 2 + (p.y - dst[k]!.y) ** 2;
  }
  return Math.sqrt(sum / src.length);
}

export function distance(a: Point, b: Point): number {
  return Math.hypot(a.x - b.x, a.y - b.y);
}
