import { createRequire } from 'node:module';
import path from 'node:path';
import type { Config, FaceResult, Human } from '@vladmandic/human';
import sharp from 'sharp';
import { MedfaceError } from '../errors.js';
import { loadNativeDetection } from './native-detector.js';
import { HUMAN_DIR, initTf, WASM_RUNTIME, type RuntimeSettings } from './runtime.js';
import type { DetectedFace, Landmarks, Point, Pose, RgbImage } from './types.js';

export interface DetectorOptions {
  /** Most faces reported per image (default 10); beyond it the most confident are kept. */
  maxFaces?: number;
  /**
   * Where detection runs (default tfjs-wasm): Human's pipeline on tfjs-wasm, or on the native runtime the same
   * networks and maths in typed arrays around onnxruntime (native-detector.ts).
   */
  runtime?: RuntimeSettings;
}

/**
 * Finds every face in an image. There is nothing to dispose: Human keeps its models in module scope, shared by
 * every instance in the thread (disposing them through one instance breaks the others and any later one), so
 * they live as long as the thread.
 */
export interface Detector {
  /** All faces found, largest box first. */
  detect(image: RgbImage): Promise<DetectedFace[]>;
}

export const DEFAULT_MAX_FACES = 10;

const require = createRequire(import.meta.url);

/**
 * Human's blazeface detector and MediaPipe face mesh, everything else off.
 *
 * Two choices were measured on face-api's demo photos (scratch probes, 2-core shared machine):
 * - iris off: the iris model cost ~11 ms per face (29 → 40 ms on a 640x480 single-face image) and it also
 *   moves the eye-contour vertices the aligners use; their eye centres agreed worse between a photo and its
 *   mirror image (mean error 0.072 vs 0.043 of the inter-ocular distance, 22 faces).
 * - rotation off: rotating the crop before the mesh follows a strongly tilted head better, but made eye
 *   centres less mirror-consistent on ordinary upright faces (0.087); the quality gates refuse strong roll.
 */
function humanConfig(maxFaces: number): Partial<Config> {
  const off = { enabled: false };
  return {
    backend: 'wasm',
    modelBasePath: `file://${HUMAN_DIR}/models/`,
    // Every image is a new scene: no reuse of the previous frame's boxes.
    cacheSensitivity: 0,
    warmup: 'none',
    debug: false,
    face: {
      enabled: true,
      detector: { rotation: false, maxDetected: maxFaces, return: false },
      mesh: { enabled: true },
      iris: off,
      description: off,
      emotion: off,
      antispoof: off,
      liveness: off,
      attention: off,
      gear: off,
    },
    body: off,
    hand: off,
    object: off,
    gesture: off,
    segmentation: off,
    filter: off,
    // Human merges this over its defaults, so nested sections may be partial; its type says otherwise.
  } as Partial<Config>;
}

/** Human instances of this thread by maxFaces; they differ only in configuration and share the models. */
const humans = new Map<number, Promise<Human>>();

type HumanConstructor = new (config: Partial<Config>) => Human;

/** The node-wasm bundle is loaded by path: the package's exports map would hand Node the tfjs-node build. */
export function humanClass(): HumanConstructor {
  return (require(path.join(HUMAN_DIR, 'dist', 'human.node-wasm.js')) as { Human: HumanConstructor }).Human;
}

let triangulation: readonly number[] | undefined;

/** The face mesh's triangles as a flat list of vertex-index triples (MediaPipe's, as Human ships it). */
export function meshTriangulation(): readonly number[] {
  // A bare instance: the constructor sets the table without loading any model.
  triangulation ??= Object.freeze([...new (humanClass())({}).faceTriangulation]);
  return triangulation;
}

function loadHuman(maxFaces: number): Promise<Human> {
  let human = humans.get(maxFaces);
  if (!human) {
    human = (async () => {
      await initTf();
      const HumanClass = humanClass();
      const instance = new HumanClass(humanConfig(maxFaces));
      await instance.load();
      return instance;
    })();
    humans.set(maxFaces, human);
    human.catch(() => humans.delete(maxFaces));
  }
  return human;
}

export async function createDetector(options: DetectorOptions = {}): Promise<Detector> {
  const maxFaces = options.maxFaces ?? DEFAULT_MAX_FACES;
  if (!Number.isInteger(maxFaces) || maxFaces < 1) {
    throw new MedfaceError('INVALID_ARGUMENT', `maxFaces must be a positive integer, not ${maxFaces}.`);
  }
  const runtime = options.runtime ?? WASM_RUNTIME;
  const bySize = (faces: DetectedFace[]) => faces.sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height);
  if (runtime.kind === 'native') {
    const native = await loadNativeDetection(runtime.threads, maxFaces);
    return {
      async detect(image: RgbImage): Promise<DetectedFace[]> {
        const { pixels, scale } = await detectionSized(image);
        return bySize(native.detect(pixels, 1 / scale));
      },
    };
  }
  const tf = await initTf();
  const human = await loadHuman(maxFaces);
  return {
    async detect(image: RgbImage): Promise<DetectedFace[]> {
      const { pixels, scale } = await detectionSized(image);
      const input = tf.tensor3d(pixels.data, [pixels.height, pixels.width, 3], 'int32');
      let faces: FaceResult[];
      try {
        const result = await human.detect(input as unknown as Parameters<Human['detect']>[0]);
        if (result.error) throw new MedfaceError('ENGINE_FAILED', `Face detection failed: ${result.error}`);
        faces = result.face;
      } finally {
        input.dispose();
      }
      return bySize(faces.map((face) => toDetectedFace(face, 1 / scale)));
    },
  };
}

/**
 * Longest image side the detector works on. Blazeface sees the whole image at 256 px, so it cannot find a face
 * under ~8% of the image's side, which at this size is still larger than the mesh's 192 px input: shrinking
 * bigger photos loses nothing, while detection on the full pixels cost time and memory in proportion to them
 * (a 33 MP photo: 1.7 GB resident, seconds per image). Coordinates are scaled back to the original image.
 */
const DETECTION_MAX_SIDE = 1920;

async function detectionSized(image: RgbImage): Promise<{ pixels: RgbImage; scale: number }> {
  const scale = DETECTION_MAX_SIDE / Math.max(image.width, image.height);
  if (scale >= 1) return { pixels: image, scale: 1 };
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  const data = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer();
  return { pixels: { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height }, scale: width / image.width };
}

const DEGREES = 180 / Math.PI;

/** Human's face in medface's terms, coordinates multiplied by `zoom`. */
function toDetectedFace(face: FaceResult, zoom: number): DetectedFace {
  const [x, y, width, height] = face.box.map((v) => v * zoom) as [number, number, number, number];
  const angle = face.rotation?.angle ?? { yaw: 0, pitch: 0, roll: 0 };
  const pose: Pose = {
    // Human's yaw is positive when the subject turns to their right; types.ts defines the opposite.
    yaw: -angle.yaw * DEGREES,
    pitch: angle.pitch * DEGREES,
    roll: angle.roll * DEGREES,
  };
  return {
    box: { x, y, width, height },
    score: face.score,
    mesh: face.mesh.map(([px, py, pz]) => ({ x: px * zoom, y: py * zoom, z: (pz ?? 0) * zoom })),
    pose,
  };
}

/** MediaPipe face-mesh vertices: eye contours (the subject's right eye first), nose tip, mouth corners. */
const RIGHT_EYE_RING = [33, 133, 160, 159, 158, 144, 145, 153];
const LEFT_EYE_RING = [263, 362, 387, 386, 385, 373, 374, 380];
const NOSE_TIP = 1;
const MOUTH_RIGHT = 61;
const MOUTH_LEFT = 291;

/** The five classic landmarks of a detected face; eye centres are the means of the eye contours. */
export function landmarksOf(face: Pick<DetectedFace, 'mesh'>): Landmarks {
  const at = (i: number): Point => {
    const p = face.mesh[i];
    if (!p) throw new RangeError(`The face mesh has no vertex ${i} (it has ${face.mesh.length}).`);
    return { x: p.x, y: p.y };
  };
  const centre = (ring: readonly number[]): Point => {
    const pts = ring.map(at);
    return { x: pts.reduce((s, p) => s + p.x, 0) / pts.length, y: pts.reduce((s, p) => s + p.y, 0) / pts.length };
  };
  return {
    leftEye: centre(LEFT_EYE_RING),
    rightEye: centre(RIGHT_EYE_RING),
    nose: at(NOSE_TIP),
    mouthLeft: at(MOUTH_LEFT),
    mouthRight: at(MOUTH_RIGHT),
  };
}
