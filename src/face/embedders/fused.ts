import type { RuntimeSettings } from '../runtime.js';
import type { DetectedFace, RgbImage } from '../types.js';
import { FacepluginEmbedder } from './faceplugin.js';
import { createMobileFaceNetEmbedder } from './mobilefacenet.js';
import type { ChipCutter, ChipEmbedder, Embedder } from './types.js';

/**
 * Two recognisers run on the same detected face, as one: the vector is the concatenation of the parts'
 * L2-normalised vectors, each divided by √(number of parts). It is unit length, and its cosine with another
 * such vector is exactly the mean of the parts' cosines: score-level fusion with equal weights and nothing
 * fitted (no weights, no score normalisation), so it needs no training set, and a gallery search stays one dot
 * product per template. The parts take the same aligned chip, which is cut once per face. Measured in
 * docs/accuracy.md ("A second network: fusion").
 */
export class FusedEmbedder implements Embedder {
  readonly dimensions: number;
  /** The chip every part takes, cut once per face. */
  private readonly chip: ChipCutter;

  constructor(
    readonly id: string,
    private readonly parts: readonly ChipEmbedder[],
  ) {
    const chip = parts[0]?.chip;
    if (!chip || parts.some((p) => p.chip !== chip)) throw new Error(`${id}: the fused recognisers must take the same chip`);
    this.chip = chip;
    this.dimensions = parts.reduce((sum, p) => sum + p.dimensions, 0);
  }

  async load(runtime?: RuntimeSettings): Promise<void> {
    for (const part of this.parts) await part.load(runtime);
  }

  async embed(image: RgbImage, face: DetectedFace): Promise<Float32Array> {
    const chip = this.chip(image, face);
    const vector = new Float32Array(this.dimensions);
    const weight = 1 / Math.sqrt(this.parts.length);
    let offset = 0;
    for (const part of this.parts) {
      const v = await part.embedChip(chip);
      for (let i = 0; i < v.length; i++) vector[offset + i] = v[i]! * weight;
      offset += v.length;
    }
    return vector;
  }

  dispose(): void {
    for (const part of this.parts) part.dispose();
  }
}

/** `mobilefacenet@1+flip` (192 values) then `faceplugin@1` (512): 704 values. */
export const MOBILEFACENET_FACEPLUGIN_EMBEDDER_ID = 'mobilefacenet+faceplugin@1';

export function createMobileFaceNetFacepluginEmbedder(): FusedEmbedder {
  return new FusedEmbedder(MOBILEFACENET_FACEPLUGIN_EMBEDDER_ID, [createMobileFaceNetEmbedder(), new FacepluginEmbedder()]);
}
