import path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { NativeNetwork, nativeRuntime, readGraphModel } from './onnx/session.js';
import { cropAndResize } from './resample.js';
import { HUMAN_DIR, initTf, WASM_RUNTIME, type FaceRuntime, type RuntimeSettings } from './runtime.js';
import type { Point, Point3, RgbImage } from './types.js';

/**
 * How open each eye is, from MediaPipe's iris-landmark model (shipped with Human) run on a crop of each eye at
 * the image's own resolution. The face mesh alone barely follows a closing eyelid: on Yale's "sleepy" faces
 * (eyes shut) its lid opening fell to about 0.75 of the "normal" faces', the iris model's eyelid contour to
 * about 0.4 (scratch probe, 15 subjects). The mesh is left as it is: the aligners read its eye points.
 */
export interface EyeOpenness {
  /** Lid opening over eye width: the subject's right eye, then their left. About 0.3–0.4 open, under 0.15 shut. */
  right: number;
  left: number;
  /**
   * Both eyes' mean lid opening over the face's height from the eyes to the base of the nose: how wide the eyes
   * are opened, the way they widen when they look up (the upper lid rises with the gaze, the lower one drops). A
   * ratio of two lengths that run the same way on the face, so in geometry a picture turned or tipped keeps it
   * (openness over eye width rises when a head or a picture turns: the eye's width shortens); the iris model's
   * reading of a print's lids is not so steady (docs/liveness.md). The iris model's iris centre was tried for the
   * gaze and did not rise on a real look-up made with the eyes at a kiosk's resolution (ibid.).
   */
  aperture: number;
}

/** Mesh eye corners (outer, inner) of the subject's right and left eye. */
const RIGHT_CORNERS = [33, 133] as const;
const LEFT_CORNERS = [263, 362] as const;
/** Mesh point at the base of the nose, below the eyes' midpoint on the face's midline. */
const NOSE_BASE = 2;
/** The eye crop's side as a multiple of the corner-to-corner distance (MediaPipe's and Human's 2.3). */
const CROP_ENLARGE = 2.3;
const INPUT_SIZE = 64;
/**
 * Iris model output: 71 eye-region points then 5 iris points, x y z each. Points 0–8 run along the lower lid
 * from the outer corner to the inner one, 9–15 along the upper lid; these pairs face each other across the eye.
 */
const OUTPUT_POINTS = 76;
const LID_PAIRS = [
  [11, 3],
  [12, 4],
  [13, 5],
] as const;
const OUTER_CORNER = 0;
const INNER_CORNER = 8;
/** The middle five points of each lid. */
const LOWER_MIDDLE = [2, 3, 4, 5, 6] as const;
const UPPER_MIDDLE = [10, 11, 12, 13, 14] as const;

const IRIS_MODEL = path.join(HUMAN_DIR, 'models', 'iris.json');

/** The iris network's output for a batch of eye crops (NHWC, 0..1), on one runtime. */
type IrisNetwork = (crops: Float32Array, dims: readonly number[]) => Promise<Float32Array>;

/** This thread's iris network by runtime, loaded on first use. */
const networks = new Map<FaceRuntime, Promise<IrisNetwork>>();

function irisNetwork(runtime: RuntimeSettings): Promise<IrisNetwork> {
  let network = networks.get(runtime.kind);
  if (!network) {
    const ort = runtime.kind === 'native' ? nativeRuntime() : null;
    network = ort
      ? NativeNetwork.load(ort, readGraphModel(IRIS_MODEL), runtime.threads).then((net) => async (crops: Float32Array, dims: readonly number[]) => net.run(crops, dims)[0]!.data)
      : initTf().then(async (tf) => {
          const net: GraphModel = await loadGraphModel(`file://${IRIS_MODEL}`);
          return async (crops: Float32Array, dims: readonly number[]) => {
            const output = tf.tidy(() => net.execute(tf.tensor4d(crops, dims as [number, number, number, number])) as tfTypes.Tensor);
            try {
              return (await output.data()) as Float32Array;
            } finally {
              output.dispose();
            }
          };
        });
    networks.set(runtime.kind, network);
    network.catch(() => networks.delete(runtime.kind));
  }
  return network;
}

/**
 * The crop box of one eye, normalised to the image for cropAndResize ([y1, x1, y2, x2], resample.ts). The model is trained
 * on the subject's left eye as it appears in the image; the right eye's crop is mirrored by swapping x1 and x2.
 */
function eyeBox(image: RgbImage, outer: Point, inner: Point, mirror: boolean): { box: [number, number, number, number]; side: number; origin: Point } {
  const side = CROP_ENLARGE * Math.hypot(inner.x - outer.x, inner.y - outer.y);
  const origin = { x: (outer.x + inner.x) / 2 - side / 2, y: (outer.y + inner.y) / 2 - side / 2 };
  const x1 = origin.x / (image.width - 1),
    x2 = (origin.x + side) / (image.width - 1);
  const y1 = origin.y / (image.height - 1),
    y2 = (origin.y + side) / (image.height - 1);
  return { box: mirror ? [y1, x2, y2, x1] : [y1, x1, y2, x2], side, origin };
}

/**
 * One eye's model output (points in crop pixels; mirroring does not matter): `openness`, the lid opening (mean
 * distance across the lid pairs) over the eye's width; `across`, the distance between the upper and the lower lid's
 * middle points measured across the line between the eye's corners (mean of each lid's middle five).
 */
function lids(points: Float32Array | Int32Array | Uint8Array, offset: number): { openness: number; across: number } {
  const at = (i: number): Point => ({ x: points[offset + i * 3]!, y: points[offset + i * 3 + 1]! });
  const o = at(OUTER_CORNER),
    n = at(INNER_CORNER);
  const width = Math.hypot(o.x - n.x, o.y - n.y);
  if (!(width > 0)) return { openness: 0, across: 0 };
  const gap = LID_PAIRS.reduce((s, [u, l]) => s + Math.hypot(at(u).x - at(l).x, at(u).y - at(l).y), 0) / LID_PAIRS.length;
  // Signed distance from the corner line, along its normal.
  const off = (i: number): number => ((at(i).x - o.x) * (n.y - o.y) - (at(i).y - o.y) * (n.x - o.x)) / width;
  const mean = (ids: readonly number[]): number => ids.reduce((s, i) => s + off(i), 0) / ids.length;
  return { openness: gap / width, across: Math.abs(mean(UPPER_MIDDLE) - mean(LOWER_MIDDLE)) };
}

/** Perpendicular distance from `p` to the line through `a` and `b`. */
function fromLine(p: Point, a: Point, b: Point): number {
  const length = Math.hypot(b.x - a.x, b.y - a.y);
  return length > 0 ? Math.abs((p.x - a.x) * (b.y - a.y) - (p.y - a.y) * (b.x - a.x)) / length : 0;
}

/** Both eyes' openness of the face whose 468-point mesh is `mesh`, the iris network on `runtime`. */
export async function eyeOpenness(image: RgbImage, mesh: readonly Point3[], runtime: RuntimeSettings = WASM_RUNTIME): Promise<EyeOpenness> {
  const net = await irisNetwork(runtime);
  const right = eyeBox(image, mesh[RIGHT_CORNERS[0]]!, mesh[RIGHT_CORNERS[1]]!, true);
  const left = eyeBox(image, mesh[LEFT_CORNERS[0]]!, mesh[LEFT_CORNERS[1]]!, false);
  // Both eyes cut straight from the 8-bit pixels into one batch (0..1), as tfjs's cropAndResize would.
  const crop = INPUT_SIZE * INPUT_SIZE * 3;
  const crops = new Float32Array(2 * crop);
  cropAndResize(image, right.box, INPUT_SIZE, INPUT_SIZE, 1 / 255, crops, 0);
  cropAndResize(image, left.box, INPUT_SIZE, INPUT_SIZE, 1 / 255, crops, crop);
  const values = await net(crops, [2, INPUT_SIZE, INPUT_SIZE, 3]);
  const r = lids(values, 0),
    l = lids(values, OUTPUT_POINTS * 3);
  // The face's height: from the line through the outer eye corners to the base of the nose, across that line.
  const height = fromLine(mesh[NOSE_BASE]!, mesh[RIGHT_CORNERS[0]]!, mesh[LEFT_CORNERS[0]]!);
  // A crop pixel is side / INPUT_SIZE image pixels.
  const across = (r.across * right.side + l.across * left.side) / (2 * INPUT_SIZE);
  return { right: r.openness, left: l.openness, aperture: height > 0 ? across / height : 0 };
}
