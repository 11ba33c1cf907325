/**
 * Frame sequences for testing and measuring the active liveness check (src/liveness/): genuine PROXIES rendered
 * from one photo through its 3-D face mesh, and presentation attacks (a photo moved and warped in 2-D, a print held
 * curled, replays, reordering, re-timing, a spliced-in second face). A rendered head turn is a proxy for a real
 * one: its depth is the mesh model's estimate, and everything outside the face stays as still as the photo.
 */
import sharp from 'sharp';
import { estimateSimilarity } from '../../src/face/align.js';
import type { Point, Point3, RgbImage } from '../../src/face/index.js';
import { applyHomography, invertHomography, type Homography } from '../../src/liveness/geometry.js';
import type { CapturedFrame, LivenessAction } from '../../src/liveness/types.js';

/** A head pose to render, in src/face/types.ts's conventions (yaw > 0: the subject's left; pitch > 0: down). */
export interface RenderPose {
  yaw: number;
  pitch: number;
  /** Magnification about the face's centre (1: as photographed; > 1: nearer the camera). */
  scale: number;
  /** 0: eyes as photographed, 1: closed. */
  blink: number;
  /** Translation in pixels. */
  dx: number;
  dy: number;
}

export const NEUTRAL: RenderPose = { yaw: 0, pitch: 0, scale: 1, blink: 0, dx: 0, dy: 0 };

/** A source photo: its pixels and its face's mesh as the detector found it. */
export interface SourceFace {
  image: RgbImage;
  mesh: readonly Point3[];
}

/**
 * Upper and lower eyelid contour vertices of the MediaPipe mesh, paired top to bottom (the subject's right eye,
 * then the left), and the two rings above each upper lid: the nearer slides down with the lid (the lid's skin
 * and lashes cover the eye, as in a real blink), the farther half as far, so the skin below the brow stretches
 * instead of tearing.
 */
const UPPER_LID = [246, 161, 160, 159, 158, 157, 173, 466, 388, 387, 386, 385, 384, 398];
const LOWER_LID = [7, 163, 144, 145, 153, 154, 155, 249, 390, 373, 374, 380, 381, 382];
const ABOVE_LID = [247, 30, 29, 27, 28, 56, 190, 467, 260, 259, 257, 258, 286, 414];
const BELOW_BROW = [113, 225, 224, 223, 222, 221, 189, 342, 445, 444, 443, 442, 441, 413];

/** How far behind the face's mean depth the head turns about, as a fraction of the mesh's width (the neck). */
const PIVOT_DEPTH = 0.6;

const RADIANS = Math.PI / 180;

/** The mesh after blinking, rotating, scaling and moving it, projected orthographically. */
export function posedMesh(mesh: readonly Point3[], pose: RenderPose): Point3[] {
  const points = mesh.map((p) => ({ ...p }));
  if (pose.blink > 0) {
    UPPER_LID.forEach((u, i) => {
      const upper = mesh[u]!,
        lower = mesh[LOWER_LID[i]!]!;
      const ddx = (lower.x - upper.x) * pose.blink,
        ddy = (lower.y - upper.y) * pose.blink;
      points[u] = { ...upper, x: upper.x + ddx, y: upper.y + ddy };
      const above = mesh[ABOVE_LID[i]!]!,
        brow = mesh[BELOW_BROW[i]!]!;
      points[ABOVE_LID[i]!] = { ...above, x: above.x + ddx, y: above.y + ddy };
      points[BELOW_BROW[i]!] = { ...brow, x: brow.x + ddx / 2, y: brow.y + ddy / 2 };
    });
  }
  let minX = Infinity,
    maxX = -Infinity,
    cx = 0,
    cy = 0,
    cz = 0;
  for (const p of mesh) {
    minX = Math.min(minX, p.x);
    maxX = Math.max(maxX, p.x);
    cx += p.x;
    cy += p.y;
    cz += p.z;
  }
  cx /= mesh.length;
  cy /= mesh.length;
  cz = cz / mesh.length + PIVOT_DEPTH * (maxX - minX);
  const cy1 = Math.cos(pose.yaw * RADIANS),
    sy1 = Math.sin(pose.yaw * RADIANS);
  const cp = Math.cos(pose.pitch * RADIANS),
    sp = Math.sin(pose.pitch * RADIANS);
  return points.map((p) => {
    const x = p.x - cx,
      y = p.y - cy,
      z = p.z - cz;
    // Pitch about the horizontal axis, then yaw about the vertical one; smaller z is nearer the camera.
    const y2 = y * cp - z * sp,
      z2 = y * sp + z * cp;
    const x3 = x * cy1 - z2 * sy1,
      z3 = x * sy1 + z2 * cy1;
    return { x: cx + x3 * pose.scale + pose.dx, y: cy + y2 * pose.scale + pose.dy, z: z3 * pose.scale };
  });
}

/**
 * The photo with its face re-rendered in `pose`: each mesh triangle's texture is mapped by its own affine warp
 * onto the posed, projected triangle, far triangles first and those turned away skipped. Outside the face the
 * photo is unchanged.
 */
export function renderPose(source: SourceFace, triangles: readonly number[], pose: RenderPose): RgbImage {
  const { image, mesh } = source;
  const dst = posedMesh(mesh, pose);
  // The whole head and what is behind it moves and grows with the face; only the face turns.
  const cx = mesh.reduce((s, p) => s + p.x, 0) / mesh.length,
    cy = mesh.reduce((s, p) => s + p.y, 0) / mesh.length;
  const still = pose.scale === 1 && pose.dx === 0 && pose.dy === 0;
  const out = still ? new Uint8Array(image.data) : warpImage(image, [pose.scale, 0, cx * (1 - pose.scale) + pose.dx, 0, pose.scale, cy * (1 - pose.scale) + pose.dy, 0, 0, 1]).data;
  const order: Array<{ t: number; depth: number }> = [];
  for (let t = 0; t + 2 < triangles.length; t += 3) {
    const [a, b, c] = [triangles[t]!, triangles[t + 1]!, triangles[t + 2]!];
    const srcArea = signedArea(mesh[a]!, mesh[b]!, mesh[c]!);
    const dstArea = signedArea(dst[a]!, dst[b]!, dst[c]!);
    // Turned away from the camera: its winding flipped. A triangle collapsed by a blink has no area either.
    if (Math.sign(srcArea) !== Math.sign(dstArea) || Math.abs(dstArea) < 1e-6) continue;
    order.push({ t, depth: (dst[a]!.z + dst[b]!.z + dst[c]!.z) / 3 });
  }
  order.sort((p, q) => q.depth - p.depth);
  for (const { t } of order) {
    const ids = [triangles[t]!, triangles[t + 1]!, triangles[t + 2]!] as const;
    fillTriangle(
      image,
      out,
      ids.map((i) => mesh[i]!),
      ids.map((i) => dst[i]!),
    );
  }
  return { data: out, width: image.width, height: image.height };
}

function signedArea(a: Point, b: Point, c: Point): number {
  return ((b.x - a.x) * (c.y - a.y) - (c.x - a.x) * (b.y - a.y)) / 2;
}

/** Paints destination triangle `d` of `out` with the texture of source triangle `s` of `image` (bilinear). */
function fillTriangle(image: RgbImage, out: Uint8Array, s: readonly Point[], d: readonly Point[]): void {
  const [d0, d1, d2] = d as [Point, Point, Point];
  const [s0, s1, s2] = s as [Point, Point, Point];
  const area = signedArea(d0, d1, d2);
  const x0 = Math.max(0, Math.floor(Math.min(d0.x, d1.x, d2.x)));
  const x1 = Math.min(image.width - 1, Math.ceil(Math.max(d0.x, d1.x, d2.x)));
  const y0 = Math.max(0, Math.floor(Math.min(d0.y, d1.y, d2.y)));
  const y1 = Math.min(image.height - 1, Math.ceil(Math.max(d0.y, d1.y, d2.y)));
  const eps = -1e-3;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const p = { x, y };
      const w0 = signedArea(d1, d2, p) / area,
        w1 = signedArea(d2, d0, p) / area,
        w2 = 1 - w0 - w1;
      if (w0 < eps || w1 < eps || w2 < eps) continue;
      sampleInto(image, w0 * s0.x + w1 * s1.x + w2 * s2.x, w0 * s0.y + w1 * s1.y + w2 * s2.y, out, (y * image.width + x) * 3);
    }
  }
}

/** Bilinear sample of `image` at (x, y) written to out[o..o+2]; outside the image, mid grey. */
function sampleInto(image: RgbImage, x: number, y: number, out: Uint8Array, o: number): void {
  const { data, width, height } = image;
  if (!(x >= 0 && y >= 0 && x <= width - 1 && y <= height - 1)) {
    out[o] = out[o + 1] = out[o + 2] = 128;
    return;
  }
  const xa = Math.floor(x),
    ya = Math.floor(y);
  const xb = Math.min(width - 1, xa + 1),
    yb = Math.min(height - 1, ya + 1);
  const fx = x - xa,
    fy = y - ya;
  for (let c = 0; c < 3; c++) {
    const top = data[(ya * width + xa) * 3 + c]! * (1 - fx) + data[(ya * width + xb) * 3 + c]! * fx;
    const bottom = data[(yb * width + xa) * 3 + c]! * (1 - fx) + data[(yb * width + xb) * 3 + c]! * fx;
    out[o + c] = Math.round(top * (1 - fy) + bottom * fy);
  }
}

/** The image seen through the projective map `h` (image → output), `width`×`height`; outside it, mid grey. */
export function warpImage(image: RgbImage, h: Homography, width = image.width, height = image.height): RgbImage {
  const inverse = invertHomography(h);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = applyHomography(inverse, { x, y });
      sampleInto(image, p.x, p.y, out, (y * width + x) * 3);
    }
  }
  return { data: out, width, height };
}

/**
 * A photo held in front of the camera and moved: in-plane rotation `angle` (degrees), zoom `scale`, shift, and
 * a perspective tilt about the vertical (`tiltX`) and horizontal (`tiltY`) axes through the image centre, the
 * way a hand tips a print or a phone (a tilt of 0.2 makes one edge about 20% nearer).
 */
export function photoMotion(width: number, height: number, m: { angle: number; scale: number; dx: number; dy: number; tiltX: number; tiltY: number }): Homography {
  const cx = width / 2,
    cy = height / 2;
  const c = Math.cos(m.angle * RADIANS) * m.scale,
    s = Math.sin(m.angle * RADIANS) * m.scale;
  // Centre, perspective (w = 1 + tiltX·x/width + tiltY·y/height), rotate-scale, move back and shift.
  const gx = m.tiltX / width,
    gy = m.tiltY / height;
  const centre = [1, 0, -cx, 0, 1, -cy, 0, 0, 1];
  const perspective = [1, 0, 0, 0, 1, 0, gx, gy, 1];
  const rotate = [c, -s, 0, s, c, 0, 0, 0, 1];
  const back = [1, 0, cx + m.dx, 0, 1, cy + m.dy, 0, 0, 1];
  return multiply(back, multiply(rotate, multiply(perspective, centre))) as unknown as Homography;
}

/** How a curled print is held: see curledPrint. */
export interface CurledPrintPose {
  radius: number;
  yaw: number;
  pitch: number;
  scale: number;
  dx: number;
  dy: number;
}

/**
 * How a print held curled is seen: the photo curled around a vertical axis (radius `radius`, a multiple of its
 * width; its edges bend away from the camera, the way one curls a print round a face), turned by `yaw` and
 * tipped by `pitch` (degrees, src/face/types.ts's signs) about its centre, `scale` nearer, shifted by (dx, dy)
 * pixels, through a camera whose focal length is the photo's width. Each output pixel's ray is cut with the
 * curled sheet; where it misses the printed side, mid grey.
 */
export function curledPrint(image: RgbImage, pose: CurledPrintPose): RgbImage {
  const { width, height } = image;
  const out = new Uint8Array(width * height * 3);
  const f = width,
    r = pose.radius * width,
    depth = f / pose.scale;
  const cx = width / 2,
    cy = height / 2;
  // Camera frame → sheet frame: undo the tip (about x), then the turn (about y). Positive yaw brings the sheet's
  // right-hand side (the subject's left) nearer, as a head turning to its left does.
  const a = -pose.yaw * RADIANS,
    b = pose.pitch * RADIANS;
  const ca = Math.cos(a),
    sa = Math.sin(a),
    cb = Math.cos(b),
    sb = Math.sin(b);
  const toSheet = (x: number, y: number, z: number): [number, number, number] => {
    const y1 = y * cb + z * sb,
      z1 = -y * sb + z * cb;
    return [x * ca - z1 * sa, y1, x * sa + z1 * ca];
  };
  const [ox, oy, oz] = toSheet(0, 0, -depth);
  for (let py = 0; py < height; py++) {
    for (let px = 0; px < width; px++) {
      const o = (py * width + px) * 3;
      const [dx, dy, dz] = toSheet((px - cx - pose.dx) / f, (py - cy - pose.dy) / f, 1);
      // The sheet: X = r·sin(u/r), Z = r·(1 − cos(u/r)), i.e. X² + (Z − r)² = r² on its near half (Z < r).
      const qa = dx * dx + dz * dz,
        qb = 2 * (ox * dx + (oz - r) * dz),
        qc = ox * ox + (oz - r) * (oz - r) - r * r;
      const disc = qb * qb - 4 * qa * qc;
      let hit = false;
      if (disc >= 0) {
        const t = (-qb - Math.sqrt(disc)) / (2 * qa);
        const X = ox + t * dx,
          Y = oy + t * dy,
          Z = oz + t * dz;
        const u = r * Math.atan2(X, r - Z);
        if (t > 0 && Z < r && Math.abs(u) <= cx && Math.abs(Y) <= cy) {
          sampleInto(image, u + cx, Y + cy, out, o);
          hit = true;
        }
      }
      if (!hit) out[o] = out[o + 1] = out[o + 2] = 128;
    }
  }
  return { data: out, width, height };
}

function multiply(a: readonly number[], b: readonly number[]): number[] {
  const out = new Array<number>(9).fill(0);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) out[i * 3 + j]! += a[i * 3 + k]! * b[k * 3 + j]!;
  return out;
}

/**
 * How the kiosk page films a challenge (web/src/liveness.ts): a frame every 200 ms, 600 ms of looking straight
 * at the camera before the first action and after the last, each action given an equal share of 40 frames, at
 * most 2.6 s.
 */
export const FRAME_INTERVAL_MS = 200;
/** Frames of looking straight at the camera before the first action and after the last. */
export const STILL_FRAMES = 3;
const MAX_FRAMES = 40;
const MAX_ACTION_FRAMES = 13;

/** Frames the kiosk films for each action of a challenge of `count` actions. */
function kioskFramesPerAction(count: number): number {
  return Math.min(MAX_ACTION_FRAMES, Math.floor((MAX_FRAMES - 2 * STILL_FRAMES) / count));
}

/**
 * The pose at the height of each action, as rendered for the genuine proxy: the least and the most a person
 * asked to do it might do (each presentation draws its own). Yaw and pitch are rendered degrees; the detector
 * reads about two thirds of a rendered rotation.
 */
const ACTION_PEAK: Record<LivenessAction, { least: Partial<RenderPose>; most: Partial<RenderPose> }> = {
  'turn-left': { least: { yaw: 25 }, most: { yaw: 40 } },
  'turn-right': { least: { yaw: -25 }, most: { yaw: -40 } },
  'look-up': { least: { pitch: -20 }, most: { pitch: -35 } },
  blink: { least: { blink: 1 }, most: { blink: 1 } },
  'come-closer': { least: { scale: 1.25 }, most: { scale: 1.45 } },
};

/**
 * How far into its action a person is at `u` (0..1) of the action's time: a reaction time, out, held, back, and
 * settled before the next prompt. Eyes stay shut for about a third of the time (asked to close them a moment).
 */
function effort(action: LivenessAction, u: number): number {
  if (action === 'blink') return u >= 0.35 && u <= 0.65 ? 1 : 0;
  const ease = (x: number): number => x * x * (3 - 2 * x);
  if (u < 0.1 || u >= 0.9) return 0;
  if (u < 0.4) return ease((u - 0.1) / 0.3);
  if (u <= 0.6) return 1;
  return ease((0.9 - u) / 0.3);
}

/**
 * The poses of a sequence performing `actions` on the kiosk's timeline: still frames, then each action over
 * `framesPerAction` frames (default: as the kiosk films), then still frames. `random` (0..1) draws each action's
 * size and adds the small unsteadiness of a real head (±2°, ±2 px) to every frame but the first.
 */
export function actionPath(actions: readonly LivenessAction[], random: () => number, options: { base?: Partial<RenderPose>; framesPerAction?: number } = {}): RenderPose[] {
  const base = options.base ?? {};
  const perAction = options.framesPerAction ?? kioskFramesPerAction(actions.length);
  const wobble = (pose: RenderPose): RenderPose => ({
    ...pose,
    yaw: pose.yaw + 2 * (random() * 2 - 1),
    pitch: pose.pitch + 2 * (random() * 2 - 1),
    dx: pose.dx + 2 * (random() * 2 - 1),
    dy: pose.dy + 2 * (random() * 2 - 1),
  });
  const posed = (peak: Partial<RenderPose>, t: number): RenderPose => ({
    yaw: (base.yaw ?? 0) + (peak.yaw ?? 0) * t,
    pitch: (base.pitch ?? 0) + (peak.pitch ?? 0) * t,
    scale: 1 + ((peak.scale ?? 1) - 1) * t,
    blink: (peak.blink ?? 0) * t,
    dx: 0,
    dy: 0,
  });
  const still = Array.from({ length: STILL_FRAMES }, () => posed({}, 0));
  const path: RenderPose[] = [...still];
  for (const action of actions) {
    const { least, most } = ACTION_PEAK[action];
    const size = random();
    const peak: Partial<RenderPose> = {};
    for (const key of ['yaw', 'pitch', 'scale', 'blink'] as const) {
      const lo = least[key],
        hi = most[key];
      if (lo !== undefined && hi !== undefined) peak[key] = lo + (hi - lo) * size;
    }
    for (let f = 0; f < perAction; f++) path.push(posed(peak, effort(action, (f + 0.5) / perAction)));
  }
  path.push(...still);
  return path.map((pose, i) => (i === 0 ? pose : wobble(pose)));
}

/** JPEG bytes of raw RGB pixels. */
export async function encodeFrame(image: RgbImage): Promise<Uint8Array> {
  const jpeg = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
  return new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
}

/** The images as captured frames, `intervalMs` apart from `startMs` (ms after the challenge was shown). */
export async function toFrames(images: readonly RgbImage[], startMs = 300, intervalMs = FRAME_INTERVAL_MS): Promise<CapturedFrame[]> {
  return Promise.all(images.map(async (image, i) => ({ image: await encodeFrame(image), at: startMs + i * intervalMs })));
}

/** GENUINE PROXY: the source face performing `actions` (see actionPath), rendered from its 3-D mesh. */
export function genuineProxy(source: SourceFace, triangles: readonly number[], actions: readonly LivenessAction[], random: () => number, options: Parameters<typeof actionPath>[2] = {}): RgbImage[] {
  return actionPath(actions, random, options).map((pose) => renderPose(source, triangles, pose));
}

/**
 * The rendering yaw and pitch at which `source` reads as `target` to the detector (`readPose`), found by a few
 * secant steps: a spliced-in face must also look where the first one looked.
 */
export async function renderingFor(
  source: SourceFace,
  triangles: readonly number[],
  target: { yaw: number; pitch: number },
  readPose: (image: RgbImage) => Promise<{ yaw: number; pitch: number } | null>,
): Promise<Partial<RenderPose>> {
  const pose = { yaw: 0, pitch: 0 };
  // The detector reads roughly two thirds of a rendered rotation (measured; see docs/liveness.md).
  const gain = 0.67;
  for (let step = 0; step < 3; step++) {
    const read = await readPose(renderPose(source, triangles, { ...NEUTRAL, ...pose }));
    if (!read) break;
    pose.yaw += (target.yaw - read.yaw) / gain;
    pose.pitch += (target.pitch - read.pitch) / gain;
  }
  return pose;
}

/**
 * ATTACK: the photo itself moved in 2-D on the kiosk's timeline so that each action looks done: a turn as a tilt
 * about the vertical axis plus a sideways shift, looking up as a tilt about the horizontal axis, coming closer as
 * a zoom, a blink as a vertical squash; each action's size is drawn (a tilt of 0.3–0.9 unless `tilt` says), and
 * every frame shakes a little (±3 px, ±3°).
 */
export function photoAttack(image: RgbImage, actions: readonly LivenessAction[], random: () => number, options: { framesPerAction?: number; tilt?: readonly [number, number] } = {}): RgbImage[] {
  const framesPerAction = options.framesPerAction ?? kioskFramesPerAction(actions.length);
  const [leastTilt, mostTilt] = options.tilt ?? [0.3, 0.9];
  // The print's edge on the subject's left (the image's right) tipped towards the camera reads as a turn to the left.
  const fake: Record<LivenessAction, { tiltX: number; tiltY: number; scale: number; dx: number; squash: number }> = {
    'turn-left': { tiltX: 1, tiltY: 0, scale: 0.92, dx: 0.06, squash: 1 },
    'turn-right': { tiltX: -1, tiltY: 0, scale: 0.92, dx: -0.06, squash: 1 },
    'look-up': { tiltX: 0, tiltY: 1, scale: 1, dx: 0, squash: 1 },
    blink: { tiltX: 0, tiltY: 0, scale: 1, dx: 0, squash: 0.85 },
    'come-closer': { tiltX: 0, tiltY: 0, scale: 1.35, dx: 0, squash: 1 },
  };
  const shake = (): number => random() * 2 - 1;
  const still = { tiltX: 0, tiltY: 0, scale: 1, dx: 0, squash: 1 };
  return attackTimeline(actions, random, framesPerAction, (action, t, size) => {
    const f = action ? fake[action] : still;
    const tilt = leastTilt + (mostTilt - leastTilt) * size;
    let h = photoMotion(image.width, image.height, {
      angle: 3 * shake(),
      scale: 1 + (f.scale - 1) * t,
      dx: f.dx * t * image.width + 3 * shake(),
      dy: 3 * shake(),
      tiltX: f.tiltX * tilt * t,
      tiltY: f.tiltY * tilt * t,
    });
    if (f.squash !== 1) {
      const cy = image.height / 2,
        k = 1 + (f.squash - 1) * t;
      h = multiply([1, 0, 0, 0, k, cy * (1 - k), 0, 0, 1], h) as unknown as Homography;
    }
    return warpImage(image, h);
  });
}

/**
 * An attack's frames on the kiosk's timeline: still frames (`action` null, t 0), then each action over
 * `framesPerAction` frames at `t` (0..1) of its effort, then still frames. `size` (0..1) is drawn once per action.
 */
function attackTimeline(actions: readonly LivenessAction[], random: () => number, framesPerAction: number, frame: (action: LivenessAction | null, t: number, size: number) => RgbImage): RgbImage[] {
  const frames: RgbImage[] = [];
  for (let i = 0; i < STILL_FRAMES; i++) frames.push(frame(null, 0, 0));
  for (const action of actions) {
    const size = random();
    for (let f = 0; f < framesPerAction; f++) frames.push(frame(action, effort(action, (f + 0.5) / framesPerAction), size));
  }
  for (let i = 0; i < STILL_FRAMES; i++) frames.push(frame(null, 0, 0));
  return frames;
}

/**
 * ATTACK: a print held curled round a vertical axis (radius 0.35–0.7 of its width, drawn once unless `radius`
 * says) on the kiosk's timeline: a turn as the curled print turned 35–65°, looking up as it tipped back 35–50°,
 * coming closer as brought 1.35× nearer; a blink cannot be faked, the print stays still. Curled, its two halves no longer lie in
 * one plane, so one homography cannot explain a turn: only a bent sheet can. Every frame shakes a little
 * (±3 px, ±3° of turn and tip).
 */
export function curledPrintAttack(image: RgbImage, actions: readonly LivenessAction[], random: () => number, options: { framesPerAction?: number; radius?: number } = {}): RgbImage[] {
  const framesPerAction = options.framesPerAction ?? kioskFramesPerAction(actions.length);
  const radius = options.radius ?? 0.35 + 0.35 * random();
  const shake = (): number => random() * 2 - 1;
  return attackTimeline(actions, random, framesPerAction, (action, t, size) => {
    const turn = 35 + 30 * size,
      tip = 35 + 15 * size;
    return curledPrint(image, {
      radius,
      yaw: (action === 'turn-left' ? turn * t : action === 'turn-right' ? -turn * t : 0) + 3 * shake(),
      pitch: (action === 'look-up' ? -tip * t : 0) + 3 * shake(),
      scale: action === 'come-closer' ? 1 + 0.35 * t : 1,
      dx: 3 * shake(),
      dy: 3 * shake(),
    });
  });
}

/** ATTACK: a sequence's frames in a shuffled order, re-timed so the timestamps still increase. */
export function reordered(frames: readonly CapturedFrame[], random: () => number): CapturedFrame[] {
  const shuffled = [...frames];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  return shuffled.map((f, i) => ({ image: f.image, at: frames[i]!.at }));
}

/** ATTACK: the same frames with their capture times multiplied by `factor` (slow motion > 1, fast forward < 1). */
export function retimed(frames: readonly CapturedFrame[], factor: number): CapturedFrame[] {
  return frames.map((f) => ({ image: f.image, at: Math.round(f.at * factor) }));
}

const EYE_CORNERS = [33, 133, 263, 362];

/**
 * `source` moved and scaled so its eye corners lie on `target`'s: a spliced-in face then continues the first
 * face's geometry, and only its identity betrays it.
 */
export function alignedTo(source: SourceFace, target: SourceFace): SourceFace {
  const m = estimateSimilarity(
    EYE_CORNERS.map((i) => source.mesh[i]!),
    EYE_CORNERS.map((i) => target.mesh[i]!),
  );
  const scale = Math.hypot(m[0], m[3]);
  return {
    image: warpImage(source.image, [m[0], m[1], m[2], m[3], m[4], m[5], 0, 0, 1], target.image.width, target.image.height),
    mesh: source.mesh.map((p) => ({ x: m[0] * p.x + m[1] * p.y + m[2], y: m[3] * p.x + m[4] * p.y + m[5], z: p.z * scale })),
  };
}

/** ATTACK: `first`'s frames with those in [from, to) taken from `second` (another person doing the same). */
export function spliced(first: readonly CapturedFrame[], second: readonly CapturedFrame[], from: number, to = first.length): CapturedFrame[] {
  return first.map((f, i) => (i < from || i >= to ? f : { image: second[i]!.image, at: f.at }));
}
