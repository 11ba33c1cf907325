import { arcfaceChip } from './arcface-chip.js';
import { GraphModelEmbedder, humanModelsFile, type GraphEmbedderSpec } from './graph-model.js';

/**
 * becauseofAI's MobileFace_Identification_V3 (MXNet, MIT licence), as converted for Human: a 2 MB network the
 * authors list at 95.5% on LFW, "baseline" quality. It was trained and benchmarked on InsightFace's 112x112
 * chips (`lfw.bin`), so it needs the ArcFace five-point alignment; the graph subtracts 127.5 and scales by
 * 1/128 itself, so it takes raw RGB 0..255. Human feeds it an unaligned box crop scaled to 0..1, which is why
 * it looked useless there.
 */
export const MOBILEFACE_SPEC: GraphEmbedderSpec = {
  id: 'mobileface-v3@1',
  dimensions: 256,
  modelFile: () => humanModelsFile('mobileface.json'),
  chip: arcfaceChip,
};

export const MOBILEFACE_EMBEDDER_ID = `${MOBILEFACE_SPEC.id}+flip`;

export function createMobileFaceEmbedder(flip = true): GraphModelEmbedder {
  return new GraphModelEmbedder(MOBILEFACE_SPEC, flip);
}
