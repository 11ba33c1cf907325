import type { RuntimeSettings } from '../runtime.js';
import type { DetectedFace, RgbImage } from '../types.js';

/**
 * A face recogniser: turns one detected face into a fixed-length, L2-normalised feature vector.
 * Each embedder owns its alignment and preprocessing, because every network was trained on its own
 * canonical crop; callers hand over the whole image and the detector's landmarks.
 */
export interface Embedder {
  /** `name@version`, plus `+flip` when mirrored test-time augmentation is part of the vector. */
  readonly id: string;
  /** Length of every vector `embed` returns. */
  readonly dimensions: number;
  /**
   * Reads the model from disk onto `runtime` (default tfjs-wasm); idempotent. A recogniser that only runs on
   * tfjs-wasm (dlib-resnet) ignores it. `embed` before `load` throws.
   */
  load(runtime?: RuntimeSettings): Promise<void>;
  /** L2-normalised embedding of `face` (coordinates in `image` pixels). */
  embed(image: RgbImage, face: DetectedFace): Promise<Float32Array>;
  /** Frees the model's tensors; the embedder may be loaded again afterwards. */
  dispose(): void;
}
