/**
 * Whether two frames of a face could show one plane (a print or a screen) seen twice, judged from the pixels: the
 * homography that best carries the first frame's face onto the second's is fitted to the images themselves
 * (direct alignment), and what it leaves unexplained is measured. A head that turned or tipped back leaves its
 * nose, cheeks and far side misaligned under every homography; a picture, however tipped, lines up. Landmarks
 * only seed the fit: the mesh model bends its landmarks on a steeply tilted print as on a turned head, so they
 * cannot be the evidence (docs/liveness.md).
 */
import sharp from 'sharp';
import type { Point } from '../face/index.js';
import { estimateSimilarity } from '../face/align.js';
import { fitHomography } from './geometry.js';

/** A grey-level image, one float per pixel, row-major. */
export interface GreyImage {
  data: Float32Array;
  width: number;
  height: number;
}

/** A frame's face, grey, at about the working resolution, with its mesh in the crop's pixels. */
export interface FaceCrop {
  pixels: GreyImage;
  mesh: readonly Point[];
}

/** Eye-corner distance (pixels) of a face crop; smaller faces keep their own size. */
const WORKING_EYE_DISTANCE = 48;
/** Room around the face outline in a crop, as a share of its size: where a tipped print's face may land. */
const CROP_MARGIN = 0.25;
/** Coarse-to-fine levels (each half the size of the next); the coarsest widens the fit's reach. */
const LEVELS = 3;
const BLUR_SIGMA = 1;
const ITERATIONS = 30;

/**
 * The face outline of the MediaPipe mesh (its silhouette ring), pulled in towards its centre by `ROI_SHRINK` so
 * the region stays on the face in the first frame.
 */
export const FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109];
const ROI_SHRINK = 0.75;
/**
 * Landmarks roughly in one plane (eye corners, forehead, temples, cheeks, chin), at one depth and unmoved by speech
 * or expression (the mouth and brows are left out); the nose tip stands well in front of them. They seed the
 * pixel fit here, and are the mesh test's plane (sequence.ts `parallax`).
 */
export const PLANE_LANDMARKS = [33, 133, 263, 362, 10, 151, 127, 356, 234, 454, 152] as const;
/** The eye corners alone seed a third fit. */
const EYE_CORNERS = [33, 133, 263, 362];
/** Bounds that keep a fit physical (see `plausible`). */
const MIN_GAIN = 0.5;
const MAX_AREA_CHANGE = 3;

function eyeDistance(mesh: readonly Point[]): number {
  return Math.hypot(mesh[33]!.x - mesh[263]!.x, mesh[33]!.y - mesh[263]!.y);
}

/**
 * The face of a frame (encoded `image`, its face `mesh` as the detector found it) cropped with a margin, grey,
 * scaled down so its eye corners lie about WORKING_EYE_DISTANCE apart; null when too little of it is in the frame.
 */
export async function faceCrop(image: Uint8Array, mesh: readonly Point[], frame: { width: number; height: number }): Promise<FaceCrop | null> {
  const oval = FACE_OVAL.map((i) => mesh[i]!);
  const xs = oval.map((p) => p.x),
    ys = oval.map((p) => p.y);
  const mx = CROP_MARGIN * (Math.max(...xs) - Math.min(...xs)),
    my = CROP_MARGIN * (Math.max(...ys) - Math.min(...ys));
  const left = Math.max(0, Math.floor(Math.min(...xs) - mx)),
    top = Math.max(0, Math.floor(Math.min(...ys) - my));
  const width = Math.min(frame.width, Math.ceil(Math.max(...xs) + mx)) - left;
  const height = Math.min(frame.height, Math.ceil(Math.max(...ys) + my)) - top;
  if (width < 16 || height < 16) return null;
  const scale = Math.min(1, WORKING_EYE_DISTANCE / eyeDistance(mesh));
  const { data, info } = await sharp(image, { pages: 1, page: 0, autoOrient: true })
    .extract({ left, top, width, height })
    .resize(Math.max(8, Math.round(width * scale)), Math.max(8, Math.round(height * scale)), { fit: 'fill' })
    .greyscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const sx = info.width / width,
    sy = info.height / height;
  return {
    pixels: { data: Float32Array.from(data.subarray(0, info.width * info.height)), width: info.width, height: info.height },
    mesh: mesh.map((p) => ({ x: (p.x - left) * sx, y: (p.y - top) * sy })),
  };
}

function halve(image: GreyImage): GreyImage {
  const width = image.width >> 1,
    height = image.height >> 1;
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 2 * y * image.width + 2 * x;
      data[y * width + x] = (image.data[i]! + image.data[i + 1]! + image.data[i + image.width]! + image.data[i + image.width + 1]!) / 4;
    }
  }
  return { data, width, height };
}

function blur(image: GreyImage, sigma: number): GreyImage {
  const radius = Math.ceil(3 * sigma);
  const weights = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const total = weights.reduce((a, b) => a + b, 0);
  const k = weights.map((v) => v / total);
  const { width, height } = image;
  const across = new Float32Array(width * height),
    out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let j = -radius; j <= radius; j++) s += k[j + radius]! * image.data[y * width + Math.min(width - 1, Math.max(0, x + j))]!;
      across[y * width + x] = s;
    }
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let j = -radius; j <= radius; j++) s += k[j + radius]! * across[Math.min(height - 1, Math.max(0, y + j)) * width + x]!;
      out[y * width + x] = s;
    }
  }
  return { data: out, width, height };
}

/** Bilinear sample and its gradient; null outside the image. */
function sample(image: GreyImage, x: number, y: number): { v: number; gx: number; gy: number } | null {
  if (!(x >= 0 && y >= 0 && x < image.width - 1 && y < image.height - 1)) return null;
  const xa = Math.floor(x),
    ya = Math.floor(y),
    fx = x - xa,
    fy = y - ya;
  const i = ya * image.width + xa,
    d = image.data;
  const p00 = d[i]!,
    p10 = d[i + 1]!,
    p01 = d[i + image.width]!,
    p11 = d[i + image.width + 1]!;
  return {
    v: p00 * (1 - fx) * (1 - fy) + p10 * fx * (1 - fy) + p01 * (1 - fx) * fy + p11 * fx * fy,
    gx: (p10 - p00) * (1 - fy) + (p11 - p01) * fy,
    gy: (p01 - p00) * (1 - fx) + (p11 - p10) * fx,
  };
}

function insidePolygon(p: Point, polygon: readonly Point[]): boolean {
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const a = polygon[i]!,
      b = polygon[j]!;
    if (a.y > p.y !== b.y > p.y && p.x < ((b.x - a.x) * (p.y - a.y)) / (b.y - a.y) + a.x) inside = !inside;
  }
  return inside;
}

/** Solves the symmetric positive definite system A x = b (Cholesky); null when A is not positive definite. */
function solve(a: readonly number[][], b: readonly number[]): number[] | null {
  const n = b.length;
  const l = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i]![j]!;
      for (let k = 0; k < j; k++) s -= l[i]![k]! * l[j]![k]!;
      if (i === j) {
        if (!(s > 0)) return null;
        l[i]![i] = Math.sqrt(s);
      } else {
        l[i]![j] = s / l[j]![j]!;
      }
    }
  }
  const y = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= l[i]![k]! * y[k]!;
    y[i] = s / l[i]![i]!;
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < n; k++) s -= l[k]![i]! * x[k]!;
    x[i] = s / l[i]![i]!;
  }
  return x;
}

/** Maps between a crop's pixels at one level and the face's normalised coordinates (centred, eye distance 1). */
interface Frame {
  cx: number;
  cy: number;
  unit: number;
}

/** One level of the pyramid: frame a's face pixels (normalised coordinates, grey value) and frame b's image. */
interface Level {
  points: Array<{ x: number; y: number; v: number }>;
  /** The face region's outline, normalised: the light's gain is bounded there. */
  outline: readonly Point[];
  b: GreyImage;
  frameB: Frame;
}

/**
 * Light on a print or a face changes across it as it tips: the photometric model is a gain and an offset that
 * each vary linearly over the face, [g, gx, gy, o, ox, oy].
 */
type Light = number[];
const UNLIT: Light = [1, 0, 0, 0, 0, 0];

function lit(light: Light, p: { x: number; y: number; v: number }): number {
  return (light[0]! + light[1]! * p.x + light[2]! * p.y) * p.v + light[3]! + light[4]! * p.x + light[5]! * p.y;
}

/**
 * How frame a's face lands in frame b: a homography `h` (h[8] fixed), and for a sheet curled about one axis the
 * bend [α, β, q0, q1, q2]: b ~ h·(x, y, 1) + (αx + βy)²·q. Two views of a curled sheet differ by a homography
 * plus a parallax that, to second order, grows with the square of the distance across the curl's axis: a rank-one
 * quadratic, the shape of a bent print. A head adds its nose, which no single such term can carry.
 */
interface Warp {
  h: number[];
  bend: number[] | null;
}

/** The warp's projective numerators (U, V, W) at `p`, and the square of p's distance across the bend's axis. */
function numerators(w: Warp, p: Point): { U: number; V: number; W: number; across: number; s2: number } {
  const { h, bend } = w;
  const across = bend ? bend[0]! * p.x + bend[1]! * p.y : 0;
  const s2 = across * across;
  return {
    U: h[0]! * p.x + h[1]! * p.y + h[2]! + (bend ? s2 * bend[2]! : 0),
    V: h[3]! * p.x + h[4]! * p.y + h[5]! + (bend ? s2 * bend[3]! : 0),
    W: h[6]! * p.x + h[7]! * p.y + h[8]! + (bend ? s2 * bend[4]! : 0),
    across,
    s2,
  };
}

/** A warp with the light that goes with it: what the fit refines. */
interface Fit {
  warp: Warp;
  light: Light;
}

function warpPoint(w: Warp, p: Point): Point {
  const { U, V, W } = numerators(w, p);
  return { x: U / W, y: V / W };
}

/** Frame b's pixel under normalised point `q`. */
function sampleB(level: Level, q: Point): ReturnType<typeof sample> {
  return sample(level.b, level.frameB.cx + q.x * level.frameB.unit, level.frameB.cy + q.y * level.frameB.unit);
}

/** The Jacobian determinant of `h` at the face's centre (the origin): how it scales area there. */
function areaScale(h: readonly number[]): number {
  const u = h[2]! / h[8]!,
    v = h[5]! / h[8]!;
  return ((h[0]! - u * h[6]!) * (h[4]! - v * h[7]!) - (h[1]! - u * h[7]!) * (h[3]! - v * h[6]!)) / (h[8]! * h[8]!);
}

/**
 * Whether a fit stays physical: the light's gain within [MIN_GAIN, 1/MIN_GAIN] all over the face, and the area
 * scale within MAX_AREA_CHANGE of `area` (the landmarks'). Otherwise a fit can explain the face away by shrinking
 * it onto a few pixels of even colour with no gain at all.
 */
function plausible(level: Level, w: Warp, light: Light, area: number): boolean {
  const ratio = areaScale(w.h) / area;
  if (!(ratio >= 1 / MAX_AREA_CHANGE && ratio <= MAX_AREA_CHANGE)) return false;
  return level.outline.every((p) => {
    const gain = light[0]! + light[1]! * p.x + light[2]! * p.y;
    return gain >= MIN_GAIN && gain <= 1 / MIN_GAIN;
  });
}

/** Mean squared photometric error of `w` under `light` (infinite if implausible or half the face falls outside b). */
function cost(level: Level, w: Warp, light: Light, area: number): number {
  if (!plausible(level, w, light, area)) return Infinity;
  let sum = 0,
    n = 0;
  for (const p of level.points) {
    const s = sampleB(level, warpPoint(w, p));
    if (!s) continue;
    sum += (s.v - lit(light, p)) ** 2;
    n++;
  }
  return n >= level.points.length / 2 ? sum / n : Infinity;
}

/** Levenberg–Marquardt over the warp's parameters (the homography's eight, the bend's five) and the light's six. */
function refine(level: Level, start: Fit, area: number): Fit {
  let warp: Warp = { h: [...start.warp.h], bend: start.warp.bend && [...start.warp.bend] };
  let light = [...start.light],
    lambda = 1e-3;
  const bent = warp.bend !== null;
  const count = 8 + (bent ? 5 : 0) + 6;
  let current = cost(level, warp, light, area);
  for (let iteration = 0; iteration < ITERATIONS && Number.isFinite(current); iteration++) {
    const jtj = Array.from({ length: count }, () => new Array<number>(count).fill(0));
    const jtr = new Array<number>(count).fill(0);
    for (const p of level.points) {
      const { U, V, W, across, s2 } = numerators(warp, p);
      const u = U / W,
        v = V / W;
      const s = sampleB(level, { x: u, y: v });
      if (!s) continue;
      const gx = (s.gx * level.frameB.unit) / W,
        gy = (s.gy * level.frameB.unit) / W;
      const along = gx * u + gy * v;
      const row = [gx * p.x, gx * p.y, gx, gy * p.x, gy * p.y, gy, -along * p.x, -along * p.y];
      if (bent) {
        const q = warp.bend!;
        const pull = 2 * across * (gx * q[2]! + gy * q[3]! - along * q[4]!);
        row.push(pull * p.x, pull * p.y, gx * s2, gy * s2, -along * s2);
      }
      row.push(-p.v, -p.v * p.x, -p.v * p.y, -1, -p.x, -p.y);
      const r = s.v - lit(light, p);
      for (let i = 0; i < count; i++) {
        jtr[i]! += row[i]! * r;
        for (let j = 0; j <= i; j++) jtj[i]![j]! += row[i]! * row[j]!;
      }
    }
    for (let i = 0; i < count; i++) for (let j = 0; j < i; j++) jtj[j]![i] = jtj[i]![j]!;
    let improved = false;
    for (let attempt = 0; attempt < 6 && !improved; attempt++) {
      const step = solve(
        jtj.map((row, i) => row.map((value, j) => (i === j ? value * (1 + lambda) + 1e-9 : value))),
        jtr.map((value) => -value),
      );
      if (step) {
        const next: Warp = {
          h: warp.h.map((value, i) => (i < 8 ? value + step[i]! : value)),
          bend: warp.bend && warp.bend.map((value, i) => value + step[8 + i]!),
        };
        const nextLight = light.map((value, i) => value + step[count - 6 + i]!);
        const c = cost(level, next, nextLight, area);
        if (c < current) {
          [warp, light, current] = [next, nextLight, c];
          lambda = Math.max(1e-6, lambda / 3);
          improved = true;
          continue;
        }
      }
      lambda *= 10;
    }
    if (!improved) break;
  }
  return { warp, light };
}

/** Residual energy of `w` under `light`, relative to the variance of frame b's face; 1 when the fit is lost. */
function residual(level: Level, w: Warp, light: Light, area: number): number {
  if (!plausible(level, w, light, area)) return 1;
  let n = 0,
    sum = 0,
    sumSq = 0,
    error = 0;
  for (const p of level.points) {
    const s = sampleB(level, warpPoint(w, p));
    if (!s) continue;
    n++;
    sum += s.v;
    sumSq += s.v * s.v;
    error += (s.v - lit(light, p)) ** 2;
  }
  if (n < level.points.length / 2) return 1;
  return error / n / Math.max(1e-9, sumSq / n - (sum / n) ** 2);
}

/** The least-squares affine map of `src` onto `dst`, as a homography. */
function fitAffine(src: readonly Point[], dst: readonly Point[]): number[] {
  const m = [
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
  ];
  const bx = [0, 0, 0],
    by = [0, 0, 0];
  src.forEach((p, k) => {
    const row = [p.x, p.y, 1];
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) m[i]![j]! += row[i]! * row[j]!;
      bx[i]! += row[i]! * dst[k]!.x;
      by[i]! += row[i]! * dst[k]!.y;
    }
  });
  const ax = solve(m, bx),
    ay = solve(m, by);
  if (!ax || !ay) throw new RangeError('fitAffine: the points are collinear');
  return [...ax, ...ay, 0, 0, 1];
}

/** What the best flat and the best curled sheet leave unexplained of a second view of a face (see sheetResiduals). */
export interface SheetResiduals {
  plane: number;
  curled: number;
}

/**
 * What the best homography from frame `a`'s face to frame `b` leaves unexplained (`plane`), and the best warp of
 * a sheet curled about one axis (`curled`, never more than `plane`): the mean squared error after a linearly
 * varying gain and offset, over the inner face of `a`, relative to the variance of what it lands on in `b`
 * (0: a perfect fit; 1 or more: nothing explained). The homography starts from three landmark maps (affine and
 * projective over the plane landmarks, a similarity over the eye corners) and the best end counts: the question
 * is whether ANY such sheet explains the second frame. The curl starts from that homography, bent about a
 * vertical axis (prints are curled like a face) that the fit may turn. A curl also explains part of a head's
 * roundness, so sequence.ts holds it to a stricter bound.
 */
export function sheetResiduals(a: FaceCrop, b: FaceCrop): SheetResiduals {
  const centre = (mesh: readonly Point[]): Point => {
    const oval = FACE_OVAL.map((i) => mesh[i]!);
    return { x: oval.reduce((s, p) => s + p.x, 0) / oval.length, y: oval.reduce((s, p) => s + p.y, 0) / oval.length };
  };
  const ca = centre(a.mesh),
    cb = centre(b.mesh);
  const ua = eyeDistance(a.mesh),
    ub = eyeDistance(b.mesh);
  const normA = (p: Point): Point => ({ x: (p.x - ca.x) / ua, y: (p.y - ca.y) / ua });
  const normB = (p: Point): Point => ({ x: (p.x - cb.x) / ub, y: (p.y - cb.y) / ub });
  const outline = FACE_OVAL.map((i) => normA(a.mesh[i]!)).map((p) => ({ x: p.x * ROI_SHRINK, y: p.y * ROI_SHRINK }));

  const levels: Level[] = [];
  let ia = a.pixels,
    ib = b.pixels;
  for (let k = 0, scale = 1; k < LEVELS; k++, scale /= 2) {
    if (k > 0) {
      if (ia.width < 16 || ia.height < 16 || ib.width < 16 || ib.height < 16) break;
      ia = halve(ia);
      ib = halve(ib);
    }
    const blurredA = blur(ia, BLUR_SIGMA);
    const frameA = { cx: ca.x * scale, cy: ca.y * scale, unit: ua * scale };
    const roi = outline.map((p) => ({ x: frameA.cx + p.x * frameA.unit, y: frameA.cy + p.y * frameA.unit }));
    const points: Level['points'] = [];
    const x0 = Math.max(0, Math.floor(Math.min(...roi.map((p) => p.x)))),
      x1 = Math.min(ia.width - 1, Math.ceil(Math.max(...roi.map((p) => p.x))));
    const y0 = Math.max(0, Math.floor(Math.min(...roi.map((p) => p.y)))),
      y1 = Math.min(ia.height - 1, Math.ceil(Math.max(...roi.map((p) => p.y))));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        if (insidePolygon({ x, y }, roi)) points.push({ x: (x - frameA.cx) / frameA.unit, y: (y - frameA.cy) / frameA.unit, v: blurredA.data[y * ia.width + x]! });
      }
    }
    levels.unshift({ points, outline, b: blur(ib, BLUR_SIGMA), frameB: { cx: cb.x * scale, cy: cb.y * scale, unit: ub * scale } });
  }

  const pairs = (ids: readonly number[]): [Point[], Point[]] => [ids.map((i) => normA(a.mesh[i]!)), ids.map((i) => normB(b.mesh[i]!))];
  const affine = fitAffine(...pairs(PLANE_LANDMARKS));
  const area = areaScale(affine);
  const eyes = estimateSimilarity(...pairs(EYE_CORNERS));
  const seeds = [affine, [...fitHomography(...pairs(PLANE_LANDMARKS))], [...eyes, 0, 0, 1]];
  const fitFrom = (start: Fit): { residual: number; fit: Fit } => {
    let fit = start;
    for (const level of levels) fit = refine(level, fit, area);
    return { residual: residual(levels.at(-1)!, fit.warp, fit.light, area), fit };
  };
  const plane = seeds.map((h) => fitFrom({ warp: { h, bend: null }, light: UNLIT })).reduce((a, b) => (b.residual < a.residual ? b : a));
  const { warp, light } = plane.fit;
  // Prints are curled round a vertical axis, like a face; the fit may turn the axis.
  const curled = fitFrom({ warp: { h: warp.h, bend: [1, 0, 0, 0, 0] }, light });
  return { plane: plane.residual, curled: Math.min(plane.residual, curled.residual) };
}
