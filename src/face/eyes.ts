import path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { NativeNetwork, nativeRuntime, readGraphModel } from './onnx/session.js';
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
}

/** Mesh eye corners (outer, inner) of the subject's right and left eye. */
const RIGHT_CORNERS = [33, 133] as const;
const LEFT_CORNERS = [263, 362] as const;
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

const IRIS_MODEL = path.join(HUMAN_DIR, 'models', 'iris.json');

/** The iris network's output for a batch of eye crops, on one runtime. */
type IrisNetwork = (crops: tfTypes.Tensor4D) => Promise<Float32Array>;

/** This thread's iris network by runtime, loaded on first use. */
const networks = new Map<FaceRuntime, Promise<IrisNetwork>>();

function irisNetwork(runtime: RuntimeSettings): Promise<IrisNetwork> {
  let network = networks.get(runtime.kind);
  if (!network) {
    const ort = runtime.kind === 'native' ? nativeRuntime() : null;
    network = ort
      ? NativeNetwork.load(ort, readGraphModel(IRIS_MODEL), runtime.threads).then((net) => async (crops: tfTypes.Tensor4D) => {
          return net.run(crops.dataSync() as Float32Array, crops.shape)[0]!.data;
        })
      : initTf()
          .then(() => loadGraphModel(`file://${IRIS_MODEL}`))
          .then((net: GraphModel) => async (crops: tfTypes.Tensor4D) => {
            const output = net.execute(crops) as tfTypes.Tensor;
            try {
              return (await output.data()) as Float32Array;
            } finally {
              output.dispose();
            }
          });
    networks.set(runtime.kind, network);
    network.catch(() => networks.delete(runtime.kind));
  }
  return network;
}

/**
 * The crop box of one eye, normalised to the image for cropAndResize ([y1, x1, y2, x2]). The model is trained
 * on the subject's left eye as it appears in the image; the right eye's crop is mirrored by swapping x1 and x2.
 */
function eyeBox(image: RgbImage, outer: Point, inner: Point, mirror: boolean): { box: number[]; side: number; origin: Point } {
  const side = CROP_ENLARGE * Math.hypot(inner.x - outer.x, inner.y - outer.y);
  const origin = { x: (outer.x + inner.x) / 2 - side / 2, y: (outer.y + inner.y) / 2 - side / 2 };
  const x1 = origin.x / (image.width - 1),
    x2 = (origin.x + side) / (image.width - 1);
  const y1 = origin.y / (image.height - 1),
    y2 = (origin.y + side) / (image.height - 1);
  return { box: mirror ? [y1, x2, y2, x1] : [y1, x1, y2, x2], side, origin };
}

/** Lid opening over eye width of one eye's model output (points in crop pixels; mirroring does not matter). */
function openness(points: Float32Array | Int32Array | Uint8Array, offset: number): number {
  const at = (i: number): Point => ({ x: points[offset + i * 3]!, y: points[offset + i * 3 + 1]! });
  const width = Math.hypot(at(OUTER_CORNER).x - at(INNER_CORNER).x, at(OUTER_CORNER).y - at(INNER_CORNER).y);
  if (!(width > 0)) return 0;
  const gap = LID_PAIRS.reduce((s, [u, l]) => s + Math.hypot(at(u).x - at(l).x, at(u).y - at(l).y), 0) / LID_PAIRS.length;
  return gap / width;
}

/** Both eyes' openness of the face whose 468-point mesh is `mesh`, the iris network on `runtime`. */
export async function eyeOpenness(image: RgbImage, mesh: readonly Point3[], runtime: RuntimeSettings = WASM_RUNTIME): Promise<EyeOpenness> {
  const tf: typeof tfTypes = await initTf();
  const net = await irisNetwork(runtime);
  const right = eyeBox(image, mesh[RIGHT_CORNERS[0]]!, mesh[RIGHT_CORNERS[1]]!, true);
  const left = eyeBox(image, mesh[LEFT_CORNERS[0]]!, mesh[LEFT_CORNERS[1]]!, false);
  const crops = tf.tidy(() => {
    const pixels = tf.div(tf.tensor4d(image.data, [1, image.height, image.width, 3], 'float32'), 255) as tfTypes.Tensor4D;
    return tf.image.cropAndResize(pixels, [right.box, left.box], [0, 0], [INPUT_SIZE, INPUT_SIZE]);
  });
  try {
    const values = await net(crops);
    return { right: openness(values, 0), left: openness(values, OUTPUT_POINTS * 3) };
  } finally {
    crops.dispose();
  }
}
