import path from 'node:path';
import { MedfaceError } from '../errors.js';
import { NativeNetwork, nativeRuntime, readGraphModel, type NativeOutput } from './onnx/session.js';
import { cropAndResize, resizeBilinear } from './resample.js';
import { HUMAN_DIR } from './runtime.js';
import type { DetectedFace, Point3, Pose, RgbImage } from './types.js';

/**
 * Human 3.3.6's face detection (BlazeFace, then the 468-point MediaPipe mesh on each face's crop) re-written in
 * plain typed arrays around the same two networks on onnxruntime: the arithmetic of Human's `blazeface.ts`,
 * `facemesh.ts`, `facemeshutil.ts` and `angles.ts` (node_modules/@vladmandic/human/src/face/) step by step, with
 * the configuration detector.ts gives Human (rotation and iris off, Human's default thresholds), and its tfjs
 * sampling kernels (resample.ts). Human runs those steps as tfjs-wasm tensors: the whole image as a float
 * tensor, its resize, each face crop, a tensor per anchor slice, all garbage after each call; here they are two
 * network inputs reused from call to call and a few numbers per face. The results are Human's (same faces, boxes
 * and mesh up to a pixel of float rounding: test/face/onnx/native-runtime.test.ts); Human itself stays the
 * pipeline of the tfjs-wasm runtime.
 */

/** BlazeFace's input side (Human's `blazeface.json`, the 256 px "back camera" model) and the mesh's. */
const DETECTOR_SIZE = 256;
const MESH_SIZE = 192;
const MESH_POINTS = 468;
/** Human's defaults (config.ts, face.detector): kept as Human applies them, so detections stay Human's. */
const MIN_CONFIDENCE = 0.2;
const IOU_THRESHOLD = 0.1;
const BOX_ENLARGE = 1.4;

/**
 * BlazeFace's anchor centres in input pixels, x then y (Human's generateAnchors(256)): two per cell of the
 * 16 px grid, then six per cell of the 32 px grid, the order of the network's 512 + 384 outputs.
 */
const ANCHORS = (() => {
  const centres: number[] = [];
  for (const [stride, perCell] of [
    [DETECTOR_SIZE / 16, 2],
    [DETECTOR_SIZE / 8, 6],
  ] as const) {
    const cells = Math.floor((DETECTOR_SIZE + stride - 1) / stride);
    for (let gy = 0; gy < cells; gy++) {
      for (let gx = 0; gx < cells; gx++) {
        for (let n = 0; n < perCell; n++) centres.push(stride * (gx + 0.5), stride * (gy + 0.5));
      }
    }
  }
  return Float32Array.from(centres);
})();
const ANCHOR_COUNT = ANCHORS.length / 2;

/** BlazeFace's outputs: per anchor a logit, and 16 regressors (box centre offset and size, six keypoints). */
interface BlazeOutputs {
  logits: Float32Array;
  regressors: Float32Array;
}

/**
 * The network's four outputs ([1, 512, 1], [1, 512, 16], [1, 384, 1], [1, 384, 16]) joined in anchor order, as
 * Human joins them (its "pinto" branch: sorted by size, then the 512-anchor pair before the 384 one).
 */
function joinBlazeOutputs(outputs: readonly NativeOutput[]): BlazeOutputs {
  const find = (anchors: number, width: number): Float32Array => {
    const out = outputs.find((o) => o.dims[1] === anchors && o.dims[2] === width);
    if (!out) throw new MedfaceError('ENGINE_FAILED', `BlazeFace gave no [1, ${anchors}, ${width}] output.`);
    return out.data;
  };
  const logits = new Float32Array(ANCHOR_COUNT);
  logits.set(find(512, 1), 0);
  logits.set(find(384, 1), 512);
  const regressors = new Float32Array(ANCHOR_COUNT * 16);
  regressors.set(find(512, 16), 0);
  regressors.set(find(384, 16), 512 * 16);
  return { logits, regressors };
}

/** An anchor's box in detector-input pixels [x1, y1, x2, y2], in tfjs's float32 steps (Human's decodeBoxes). */
function decodeBox(regressors: Float32Array, anchor: number, into: Float32Array, at: number): void {
  const f = Math.fround;
  const r = anchor * 16;
  const cx = f(f(regressors[r]! + ANCHORS[anchor * 2]!) / DETECTOR_SIZE);
  const cy = f(f(regressors[r + 1]! + ANCHORS[anchor * 2 + 1]!) / DETECTOR_SIZE);
  const hw = f(f(regressors[r + 2]! / DETECTOR_SIZE) / 2);
  const hh = f(f(regressors[r + 3]! / DETECTOR_SIZE) / 2);
  into[at] = f(f(cx - hw) * DETECTOR_SIZE);
  into[at + 1] = f(f(cy - hh) * DETECTOR_SIZE);
  into[at + 2] = f(f(cx + hw) * DETECTOR_SIZE);
  into[at + 3] = f(f(cy + hh) * DETECTOR_SIZE);
}

/** Intersection over union of two [x1, y1, x2, y2] boxes, as tfjs's non-maximum suppression computes it. */
function iou(boxes: Float32Array, i: number, j: number): number {
  const ax1 = Math.min(boxes[i]!, boxes[i + 2]!),
    ay1 = Math.min(boxes[i + 1]!, boxes[i + 3]!);
  const ax2 = Math.max(boxes[i]!, boxes[i + 2]!),
    ay2 = Math.max(boxes[i + 1]!, boxes[i + 3]!);
  const bx1 = Math.min(boxes[j]!, boxes[j + 2]!),
    by1 = Math.min(boxes[j + 1]!, boxes[j + 3]!);
  const bx2 = Math.max(boxes[j]!, boxes[j + 2]!),
    by2 = Math.max(boxes[j + 1]!, boxes[j + 3]!);
  const areaA = (ay2 - ay1) * (ax2 - ax1);
  const areaB = (by2 - by1) * (bx2 - bx1);
  if (areaA <= 0 || areaB <= 0) return 0;
  const inter = Math.max(Math.min(ay2, by2) - Math.max(ay1, by1), 0) * Math.max(Math.min(ax2, bx2) - Math.max(ax1, bx1), 0);
  return inter / (areaA + areaB - inter);
}

/** A face's square crop for the mesh, in image pixels (Human's squarified box). */
interface FaceSquare {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/**
 * BlazeFace's faces, most confident first: tfjs's greedy non-maximum suppression (score above 0.2, overlap under
 * 0.1, equal scores by anchor order) of the decoded anchors, then Human's box arithmetic: scaled to the image,
 * enlarged 1.4 times about its centre, made square and rounded to whole pixels.
 */
function faceSquares(blaze: BlazeOutputs, image: RgbImage, maxFaces: number): FaceSquare[] {
  const scores = new Float32Array(ANCHOR_COUNT);
  const candidates: number[] = [];
  for (let i = 0; i < ANCHOR_COUNT; i++) {
    scores[i] = 1 / (1 + Math.exp(-blaze.logits[i]!));
    if (scores[i]! > MIN_CONFIDENCE) candidates.push(i);
  }
  candidates.sort((a, b) => scores[b]! - scores[a]! || a - b);
  const boxes = new Float32Array(candidates.length * 4);
  candidates.forEach((anchor, k) => decodeBox(blaze.regressors, anchor, boxes, k * 4));
  const kept: number[] = [];
  for (let k = 0; k < candidates.length && kept.length < maxFaces; k++) {
    if (!kept.some((j) => iou(boxes, k * 4, j * 4) >= IOU_THRESHOLD)) kept.push(k);
  }
  const sx = image.width / DETECTOR_SIZE,
    sy = image.height / DETECTOR_SIZE;
  const squares: FaceSquare[] = [];
  for (const k of kept) {
    // Each step as Human writes it (scaleBoxCoordinates, enlargeBox, squarifyBox), so rounding lands alike.
    const s0 = boxes[k * 4]! * sx,
      s1 = boxes[k * 4 + 1]! * sy;
    const e0 = boxes[k * 4 + 2]! * sx,
      e1 = boxes[k * 4 + 3]! * sy;
    const c0 = s0 + (e0 - s0) / 2,
      c1 = s1 + (e1 - s1) / 2;
    const h0 = (BOX_ENLARGE * Math.abs(e0 - s0)) / 2,
      h1 = (BOX_ENLARGE * Math.abs(e1 - s1)) / 2;
    const es0 = c0 - h0,
      es1 = c1 - h1,
      ee0 = c0 + h0,
      ee1 = c1 + h1;
    const q0 = es0 + (ee0 - es0) / 2,
      q1 = es1 + (ee1 - es1) / 2;
    const w = Math.abs(ee0 - es0),
      h = Math.abs(ee1 - es1);
    const half = Math.max(w, h) / 2;
    if (Math.round(w) > 0 && Math.round(h) > 0) {
      squares.push({ x1: Math.round(q0 - half), y1: Math.round(q1 - half), x2: Math.round(q0 + half), y2: Math.round(q1 + half) });
    }
  }
  return squares;
}

/** Human's calculateFaceAngle: yaw, pitch and roll in radians from four mesh points (forehead, chin, cheeks). */
function faceAngle(mesh: Float64Array, box: readonly [number, number, number, number], image: RgbImage): { yaw: number; pitch: number; roll: number } {
  const { width, height } = image;
  // Human normalises the mesh (x / width, y / height, z / the mesh input size) and then scales x and y back by
  // the box size; z keeps its own scale.
  const size = Math.max((box[2] / width) * width, (box[3] / height) * height) / 1.5;
  const at = (i: number): [number, number, number] => [((mesh[i * 3]! / width) * width) / size, ((mesh[i * 3 + 1]! / height) * height) / size, mesh[i * 3 + 2]! / MESH_SIZE];
  const normalize = (v: [number, number, number]): [number, number, number] => {
    const length = Math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    return [v[0] / length, v[1] / length, v[2] / length];
  };
  const sub = (a: readonly number[], b: readonly number[]): [number, number, number] => [a[0]! - b[0]!, a[1]! - b[1]!, a[2]! - b[2]!];
  const cross = (a: readonly number[], b: readonly number[]): [number, number, number] => [a[1]! * b[2]! - a[2]! * b[1]!, a[2]! * b[0]! - a[0]! * b[2]!, a[0]! * b[1]! - a[1]! * b[0]!];
  const top = at(10),
    bottom = at(152),
    left = at(234),
    right = at(454);
  const yAxis = normalize(sub(bottom, top));
  let xAxis = normalize(sub(right, left));
  const zAxis = normalize(cross(xAxis, yAxis));
  xAxis = cross(yAxis, zAxis);
  const [r00, , , r10, r11, r12, r20, r21, r22] = [...xAxis, ...yAxis, ...zAxis] as number[] as [number, number, number, number, number, number, number, number, number];
  let x: number, y: number, z: number;
  if (r10 < 1) {
    if (r10 > -1) {
      z = Math.atan2(r10, Math.sqrt(r00 * r00 + r20 * r20));
      y = Math.atan2(-r20, r00);
      x = Math.atan2(-r12, r11);
    } else {
      z = -Math.PI / 2;
      y = -Math.atan2(r21, r22);
      x = 0;
    }
  } else {
    z = Math.PI / 2;
    y = Math.atan2(r21, r22);
    x = 0;
  }
  return { pitch: Number.isNaN(x) ? 0 : -x, yaw: Number.isNaN(y) ? 0 : -y, roll: Number.isNaN(z) ? 0 : -z };
}

const DEGREES = 180 / Math.PI;

/** The networks of one thread, loaded once per thread count; inputs are reused from call to call. */
interface Networks {
  blazeface: NativeNetwork;
  mesh: NativeNetwork;
  /** Which of the mesh's outputs are the 1,404 coordinates and the face flag (Human finds them by width). */
  meshOutput: number;
  flagOutput: number;
}

const loaded = new Map<number, Promise<Networks>>();

function networks(threads: number): Promise<Networks> {
  let nets = loaded.get(threads);
  if (!nets) {
    nets = (async () => {
      const ort = nativeRuntime();
      if (!ort) throw new MedfaceError('ENGINE_FAILED', 'The native runtime (onnxruntime-node) cannot load on this machine.');
      const model = (file: string) => NativeNetwork.load(ort, readGraphModel(path.join(HUMAN_DIR, 'models', file)), threads);
      const [blazeface, mesh] = await Promise.all([model('blazeface.json'), model('facemesh.json')]);
      const probe = mesh.run(new Float32Array(MESH_SIZE * MESH_SIZE * 3), [1, MESH_SIZE, MESH_SIZE, 3]);
      const meshOutput = probe.findIndex((o) => o.dims.at(-1) === MESH_POINTS * 3);
      const flagOutput = probe.findIndex((o) => o.dims.at(-1) === 1);
      if (meshOutput < 0 || flagOutput < 0) throw new MedfaceError('ENGINE_FAILED', 'The face mesh model has no mesh or face-flag output.');
      return { blazeface, mesh, meshOutput, flagOutput };
    })();
    loaded.set(threads, nets);
    nets.catch(() => loaded.delete(threads));
  }
  return nets;
}

/** Faces as Human reports them with detector.ts's configuration, in `image`'s pixels multiplied by `zoom`. */
export interface NativeFaceDetection {
  detect(image: RgbImage, zoom: number): DetectedFace[];
}

export async function loadNativeDetection(threads: number, maxFaces: number): Promise<NativeFaceDetection> {
  const nets = await networks(threads);
  const detectorInput = new Float32Array(DETECTOR_SIZE * DETECTOR_SIZE * 3);
  const meshInput = new Float32Array(MESH_SIZE * MESH_SIZE * 3);
  const mesh = new Float64Array(MESH_POINTS * 3);
  return {
    detect(image: RgbImage, zoom: number): DetectedFace[] {
      resizeBilinear(image, DETECTOR_SIZE, DETECTOR_SIZE, 1 / 127.5, -1, detectorInput);
      const blaze = joinBlazeOutputs(nets.blazeface.run(detectorInput, [1, DETECTOR_SIZE, DETECTOR_SIZE, 3]));
      const faces: DetectedFace[] = [];
      for (const square of faceSquares(blaze, image, maxFaces)) {
        const { x1, y1, x2, y2 } = square;
        cropAndResize(image, [y1 / image.height, x1 / image.width, y2 / image.height, x2 / image.width], MESH_SIZE, MESH_SIZE, 1 / 255, meshInput);
        const outputs = nets.mesh.run(meshInput, [1, MESH_SIZE, MESH_SIZE, 3]);
        const score = Math.round(100 * outputs[nets.flagOutput]!.data[0]!) / 100;
        // Human drops a face whose mesh is not confident (below 0.2), and reports only scores above it.
        if (!(score > MIN_CONFIDENCE)) continue;
        // Human's transformRawCoords without rotation: crop pixels scaled about the crop's centre, truncated.
        const raw = outputs[nets.meshOutput]!.data;
        const w = Math.abs(x2 - x1),
          h = Math.abs(y2 - y1);
        const cx = x1 + (x2 - x1) / 2,
          cy = y1 + (y2 - y1) / 2;
        let minX = Infinity,
          maxX = -Infinity,
          minY = Infinity,
          maxY = -Infinity;
        for (let i = 0; i < MESH_POINTS * 3; i += 3) {
          const x = Math.trunc((w / MESH_SIZE) * (raw[i]! - MESH_SIZE / 2) + cx);
          const y = Math.trunc((h / MESH_SIZE) * (raw[i + 1]! - MESH_SIZE / 2) + cy);
          mesh[i] = x;
          mesh[i + 1] = y;
          mesh[i + 2] = Math.trunc(raw[i + 2]!);
          if (x < minX) minX = x;
          if (x > maxX) maxX = x;
          if (y < minY) minY = y;
          if (y > maxY) maxY = y;
        }
        // Human's calculateFaceBox (the crop's size about the mesh's centre), then clampBox.
        const bx = minX + (maxX - minX) / 2 - w / 2,
          by = minY + (maxY - minY) / 2 - h / 2;
        const box = [
          Math.trunc(Math.max(0, bx)),
          Math.trunc(Math.max(0, by)),
          Math.trunc(Math.min(image.width, bx + w) - Math.max(0, bx)),
          Math.trunc(Math.min(image.height, by + h) - Math.max(0, by)),
        ] as const;
        const angle = faceAngle(mesh, [bx, by, w, h], image);
        const pose: Pose = { yaw: -angle.yaw * DEGREES, pitch: angle.pitch * DEGREES, roll: angle.roll * DEGREES };
        const points: Point3[] = new Array<Point3>(MESH_POINTS);
        for (let p = 0; p < MESH_POINTS; p++) points[p] = { x: mesh[p * 3]! * zoom, y: mesh[p * 3 + 1]! * zoom, z: mesh[p * 3 + 2]! * zoom };
        faces.push({ box: { x: box[0] * zoom, y: box[1] * zoom, width: box[2] * zoom, height: box[3] * zoom }, score, mesh: points, pose });
      }
      return faces;
    },
  };
}
