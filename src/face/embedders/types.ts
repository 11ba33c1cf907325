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
   * Reads the model from disk onto `runtime` (default tfjs-wasm); idempotent, and tried again by the next call
   * when it failed. A recogniser that only runs on tfjs-wasm (dlib-resnet) ignores it. `embed` before `load` throws.
   */
  load(runtime?: RuntimeSettings): Promise<void>;
  /** L2-normalised embedding of `face` (coordinates in `image` pixels). */
  embed(image: RgbImage, face: DetectedFace): Promise<Float32Array>;
  /** Frees the model's tensors; the embedder may be loaded again afterwards. */
  dispose(): void;
}

/** Cuts the aligned face chip a network was trained on out of the whole image. */
export type ChipCutter = (image: RgbImage, face: DetectedFace) => RgbImage;

/**
 * A recogniser of one aligned chip: `embed(image, face)` is `embedChip(chip(image, face))`. Recognisers with the
 * same `chip` function take the same chip, so a fusion of them cuts it once (fused.ts).
 */
export interface ChipEmbedder extends Embedder {
  readonly chip: ChipCutter;
  /** L2-normalised embedding of a chip `chip` cut. */
  embedChip(chip: RgbImage): Promise<Float32Array>;
}

/**
 * An embedder's `load`: the first call starts loading and later calls share it, but a load that failed is
 * forgotten so that the next call tries again (a model file restored, a transient read error).
 */
export class LoadOnce {
  private loading: Promise<void> | undefined;

  run(load: () => Promise<void>): Promise<void> {
    this.loading ??= load().catch((e: unknown) => {
      this.loading = undefined;
      throw e;
    });
    return this.loading;
  }

  /** Forgets the load (after `dispose`), so the next `run` loads again. */
  reset(): void {
    this.loading = undefined;
  }
}
