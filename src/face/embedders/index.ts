import { MedfaceError } from '../../errors.js';
import { DLIB_EMBEDDER_ID, DlibEmbedder } from './dlib.js';
import { createFaceResDeepEmbedder, createFaceResEmbedder, FACERES_DEEP_EMBEDDER_ID, FACERES_EMBEDDER_ID } from './faceres.js';
import { FACEPLUGIN_EMBEDDER_ID, FacepluginEmbedder } from './faceplugin.js';
import { createMobileFaceNetFacepluginEmbedder, MOBILEFACENET_FACEPLUGIN_EMBEDDER_ID } from './fused.js';
import { createMobileFaceEmbedder, MOBILEFACE_EMBEDDER_ID } from './mobileface.js';
import { createMobileFaceNetEmbedder, MOBILEFACENET_EMBEDDER_ID } from './mobilefacenet.js';
import type { Embedder } from './types.js';

export type { Embedder } from './types.js';

/** Every recogniser medface can run, by embedder id. Vectors of different ids are never compared. */
const EMBEDDERS: Record<string, () => Embedder> = {
  [DLIB_EMBEDDER_ID]: () => new DlibEmbedder(),
  [FACERES_EMBEDDER_ID]: () => createFaceResEmbedder(),
  [FACERES_DEEP_EMBEDDER_ID]: () => createFaceResDeepEmbedder(),
  [MOBILEFACE_EMBEDDER_ID]: () => createMobileFaceEmbedder(),
  [MOBILEFACENET_EMBEDDER_ID]: () => createMobileFaceNetEmbedder(),
  [FACEPLUGIN_EMBEDDER_ID]: () => new FacepluginEmbedder(),
  [MOBILEFACENET_FACEPLUGIN_EMBEDDER_ID]: () => createMobileFaceNetFacepluginEmbedder(),
};

/**
 * The recogniser used unless configured otherwise, chosen by measurement (docs/accuracy.md, "A second network:
 * fusion"): MobileFaceNet and Faceplugin's network on the same face, their cosines averaged, miss fewer enrolled
 * people at the same false-positive rate on 1:N searches than MobileFaceNet alone. It needs onnxruntime-node.
 * Templates of earlier defaults stay searchable until migrated (services/operations/template-migration.ts).
 */
export const DEFAULT_EMBEDDER_ID = MOBILEFACENET_FACEPLUGIN_EMBEDDER_ID;

export const EMBEDDER_IDS: readonly string[] = Object.keys(EMBEDDERS);

/** A new, not yet loaded embedder. */
export function createEmbedder(id: string = DEFAULT_EMBEDDER_ID): Embedder {
  const make = EMBEDDERS[id];
  if (!make) {
    throw new MedfaceError('INVALID_ARGUMENT', `Unknown embedder "${id}"`, { known: EMBEDDER_IDS });
  }
  return make();
}
