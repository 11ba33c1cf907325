import sharp from 'sharp';
import { MedfaceError } from '../errors.js';
import { createDetector, landmarksOf, type Detector } from './detector.js';
import { createEmbedder } from './embedders/index.js';
import type { Embedder } from './embedders/types.js';
import { eyeOpenness, type EyeOpenness } from './eyes.js';
import { decodeImage, IMAGE_LIMITS, type ImageLimits } from './image.js';
import { assessPassiveLiveness, loadPassiveLivenessModel, type PassiveLiveness, type PassiveLivenessModel } from './passive-liveness.js';
import { assessCapture, type QualityReport } from './quality.js';
import { chooseRuntime, type FaceRuntime, type RuntimeSettings } from './runtime.js';
import type { Box, DetectedFace, Embedding, Landmarks, Point3, Pose, Purpose, QualityReason, RgbImage } from './types.js';

export interface EngineOptions {
  /** Which recogniser makes the embeddings; the default is `DEFAULT_EMBEDDER_ID`. */
  embedderId?: string;
  /** Most faces detected per image (default 10). */
  maxFaces?: number;
  /** Where the networks run: onnxruntime-node (`native`, the default where it loads) or tfjs-wasm (runtime.ts). */
  runtime?: FaceRuntime;
  /** onnxruntime's threads per inference (default 1: one worker per core, docs/performance.md). */
  nativeThreads?: number;
}

export interface AnalyzeOptions {
  /** The quality gates to judge by (default `verify`). */
  purpose?: Purpose;
  /**
   * Which faces get an embedding: none (`false`, the default), the subject of the capture (`true` or
   * `'primary'`, whether or not it passed the gates) or every face (`'all'`).
   */
  embed?: boolean | 'all' | 'primary';
  imageLimits?: Partial<ImageLimits>;
}

export interface FaceResult {
  box: Box;
  /** Detector confidence, 0..1. */
  score: number;
  pose: Pose;
  landmarks: Landmarks;
  quality: QualityReport;
  embedding?: Embedding;
  /** The passive presentation-attack score (passive-liveness.ts), for the capture's subject only. */
  liveness?: PassiveLiveness;
}

/** Milliseconds spent in each stage of one analysis. */
export interface StageTimings {
  decode: number;
  detect: number;
  quality: number;
  align_embed: number;
}

export interface Analysis {
  image: { width: number; height: number; format: string };
  /** Largest face first. */
  faces: FaceResult[];
  /** Index in `faces` of the capture's subject (see quality.ts chooseSubject), -1 when there is no face. */
  subject: number;
  /** Image-level refusals for the purpose: `NO_FACE`, `MULTIPLE_FACES`. */
  reasons: QualityReason[];
  timings: StageTimings;
}

/**
 * One frame's geometry for checks that follow a face over time: the largest face's mesh and pose, no quality
 * judgement (what a sequence must show is the caller's policy).
 */
export interface FrameObservation {
  image: { width: number; height: number };
  /** Faces detected in the frame. */
  faces: number;
  /** The largest face, or null when there is none. */
  subject: { box: Box; score: number; pose: Pose; mesh: Point3[]; eyes: EyeOpenness; embedding?: Embedding } | null;
}

/** Vertices of the MediaPipe face mesh the detector reports (types.ts, DetectedFace). */
const MESH_POINTS = 468;

/** The one face of a capture that is good enough for its purpose, with its embedding. */
export type SubjectFace = FaceResult & { embedding: Embedding };

/**
 * A cartoon face drawn for warm-up: blazeface and the mesh take it for a face (score ≈ 1), so one run
 * exercises decoding, detection, quality and the embedder without shipping a photo of anybody.
 */
const WARMUP_FACE_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256">
<defs><filter id="b"><feGaussianBlur stdDeviation="1"/></filter>
<radialGradient id="skin" cx="50%" cy="45%" r="60%"><stop offset="0" stop-color="#e8b896"/><stop offset="1" stop-color="#a86e50"/></radialGradient></defs>
<rect width="256" height="256" fill="#c8c8c8"/>
<g filter="url(#b)">
<path d="M60 90 Q60 10 128 12 Q196 10 196 90 L196 70 Q200 20 128 18 Q56 20 60 70Z" fill="#3a2a20"/>
<ellipse cx="128" cy="130" rx="62" ry="82" fill="url(#skin)"/>
<path d="M82 98 Q100 88 116 98" stroke="#4a3020" stroke-width="5" fill="none"/>
<path d="M140 98 Q156 88 174 98" stroke="#4a3020" stroke-width="5" fill="none"/>
<ellipse cx="100" cy="115" rx="14" ry="7" fill="#f4f0ee"/><ellipse cx="156" cy="115" rx="14" ry="7" fill="#f4f0ee"/>
<circle cx="100" cy="115" r="6" fill="#3b2a1e"/><circle cx="156" cy="115" r="6" fill="#3b2a1e"/>
<path d="M128 118 L120 155 Q128 162 136 155Z" fill="#c08a6a"/>
<path d="M106 178 Q128 192 150 178 Q128 184 106 178Z" fill="#a04848"/>
</g></svg>`;

/**
 * The face pipeline on one thread: decode → detect → quality → align + embed. tfjs-wasm runs on the calling
 * thread, so one engine is built for one request at a time; FacePool runs one engine per core.
 */
export class FaceEngine {
  private constructor(
    private readonly detector: Detector,
    private readonly embedder: Embedder,
    private readonly passiveModel: PassiveLivenessModel,
    private readonly settings: RuntimeSettings,
  ) {}

  static async create(options: EngineOptions = {}): Promise<FaceEngine> {
    const runtime = chooseRuntime(options.runtime, options.nativeThreads);
    const embedder = createEmbedder(options.embedderId);
    const detector = await createDetector(options.maxFaces === undefined ? { runtime } : { maxFaces: options.maxFaces, runtime });
    await embedder.load(runtime);
    return new FaceEngine(detector, embedder, loadPassiveLivenessModel(), runtime);
  }

  /** The runtime the networks run on (dlib-resnet, a tfjs-core network, always runs on tfjs-wasm). */
  get runtime(): FaceRuntime {
    return this.settings.kind;
  }

  /** Id of the embeddings this engine makes (`name@version`). */
  get embedderId(): string {
    return this.embedder.id;
  }

  async analyze(bytes: Uint8Array, options: AnalyzeOptions = {}): Promise<Analysis> {
    const embed = options.embed === true ? 'primary' : options.embed || 'none';
    const { analysis, image, detected } = await this.inspect(bytes, options.purpose ?? 'verify', options.imageLimits);
    const start = performance.now();
    for (let i = 0; i < detected.length; i++) {
      if (embed === 'all' || (embed === 'primary' && i === analysis.subject)) {
        analysis.faces[i]!.embedding = await this.embedOne(image, detected[i]!);
      }
    }
    analysis.timings.align_embed = elapsed(start);
    return analysis;
  }

  /**
   * The one usable face of a capture with its embedding, or a refusal: `NO_FACE`, `MULTIPLE_FACES` (when
   * assessCapture finds no dominant subject for the purpose) or `QUALITY_REJECTED`; `details.reasons` holds
   * the quality reason codes. Only an accepted face is embedded.
   */
  async embedSingle(bytes: Uint8Array, purpose: Purpose, imageLimits?: Partial<ImageLimits>): Promise<SubjectFace> {
    const { analysis, image, detected } = await this.inspect(bytes, purpose, imageLimits);
    const { faces, reasons } = analysis;
    if (reasons.includes('NO_FACE')) {
      throw new MedfaceError('NO_FACE', 'No face was found in the image.', { reasons });
    }
    if (reasons.includes('MULTIPLE_FACES')) {
      throw new MedfaceError('MULTIPLE_FACES', `${faces.length} faces and none clearly the subject's.`, {
        reasons,
        faces: faces.length,
      });
    }
    const subject = faces[analysis.subject]!;
    if (!subject.quality.passed) {
      throw new MedfaceError('QUALITY_REJECTED', `The face is not good enough to ${purpose}.`, {
        reasons: subject.quality.reasons,
      });
    }
    return { ...subject, embedding: await this.embedOne(image, detected[analysis.subject]!) };
  }

  /**
   * Detects the faces of one frame and describes the largest (with how open its eyes are); embeds it when `embed`
   * is set. A frame is held to the frame limits (IMAGE_LIMITS.frame) unless `imageLimits` says otherwise.
   */
  async observe(bytes: Uint8Array, embed: boolean, imageLimits?: Partial<ImageLimits>): Promise<FrameObservation> {
    const image = await decodeImage(bytes, { ...IMAGE_LIMITS.frame, ...imageLimits });
    const detected = await this.detector.detect(image);
    const largest = detected[0];
    const observation: FrameObservation = { image: { width: image.width, height: image.height }, faces: detected.length, subject: null };
    if (largest) {
      const { box, score, pose, mesh } = largest;
      const eyes = await eyeOpenness(image, mesh, this.settings);
      observation.subject = embed ? { box, score, pose, mesh, eyes, embedding: await this.embedOne(image, largest) } : { box, score, pose, mesh, eyes };
    }
    return observation;
  }

  /**
   * The embedding of a face this engine (or another of the same pool) observed in the same bytes: the frame is
   * decoded again but not searched again, so a key frame of a liveness check costs its embedding alone instead
   * of a second detection. Equal to `observe(bytes, true)`'s embedding, which is made from the same mesh.
   */
  async embedObserved(bytes: Uint8Array, face: DetectedFace, imageLimits?: Partial<ImageLimits>): Promise<Embedding> {
    if (face.mesh.length !== MESH_POINTS) {
      throw new MedfaceError('INVALID_ARGUMENT', `An observed face has a ${MESH_POINTS}-point mesh, not ${face.mesh.length} points.`);
    }
    const image = await decodeImage(bytes, { ...IMAGE_LIMITS.frame, ...imageLimits });
    return this.embedOne(image, face);
  }

  /**
   * Runs the whole pipeline once on a drawn face, so the first real request does not pay for the models'
   * first-run set-up. Returns what it found, so a caller can check that every stage ran.
   */
  async warmup(): Promise<Analysis> {
    const png = await sharp(Buffer.from(WARMUP_FACE_SVG)).png().toBuffer();
    return this.analyze(png, { purpose: 'verify', embed: 'primary' });
  }

  /** Frees the embedder's tensors. Detection models belong to the thread (see detector.ts) and stay. */
  dispose(): void {
    this.embedder.dispose();
  }

  /** Decode, detect and judge quality: everything but the embeddings. */
  private async inspect(bytes: Uint8Array, purpose: Purpose, imageLimits: Partial<ImageLimits> | undefined): Promise<{ analysis: Analysis; image: RgbImage; detected: DetectedFace[] }> {
    let start = performance.now();
    const image = await decodeImage(bytes, imageLimits);
    const decode = elapsed(start);
    start = performance.now();
    const detected = await this.detector.detect(image);
    const detect = elapsed(start);
    start = performance.now();
    const capture = assessCapture(image, detected, purpose);
    const faces = detected.map((face, i) => toResult(face, capture.faces[i]!));
    if (capture.subject >= 0) faces[capture.subject]!.liveness = assessPassiveLiveness(image, detected[capture.subject]!, this.passiveModel);
    const quality = elapsed(start);
    return {
      analysis: {
        image: { width: image.width, height: image.height, format: image.format },
        faces,
        subject: capture.subject,
        reasons: capture.reasons,
        timings: { decode, detect, quality, align_embed: 0 },
      },
      image,
      detected,
    };
  }

  private async embedOne(image: RgbImage, face: DetectedFace): Promise<Embedding> {
    return { model: this.embedder.id, vector: await this.embedder.embed(image, face) };
  }
}

/** Milliseconds since `start`, to 0.1 ms. */
function elapsed(start: number): number {
  return Math.round((performance.now() - start) * 10) / 10;
}

function toResult(face: DetectedFace, quality: QualityReport): FaceResult {
  return { box: face.box, score: face.score, pose: face.pose, landmarks: landmarksOf(face), quality };
}
