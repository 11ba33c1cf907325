import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { rewritePrelus } from './prelu.js';
import { tfjsToOnnx, type TfGraphModel, type TfNode, type TfWeightSpec } from './tfjs-to-onnx.js';

/**
 * onnxruntime-node's CPU kernels for the tfjs graph models medface ships: each model is converted in memory from
 * the installed package's files when a network is loaded (well under a second), so nothing is downloaded or
 * cached on disk, and the ONNX model always matches the weights of the installed package.
 */

const require = createRequire(import.meta.url);

/**
 * The native session object of onnxruntime-node 1.31 (`dist/binding.js`). Its `run` is synchronous; the public
 * `InferenceSession.run` only defers it to the next turn of the event loop, and makes a promise and a few
 * objects per run. The detection pipeline (native-detector.ts) runs BlazeFace and the mesh back to back on the
 * worker thread, where deferring buys nothing, and one way of running a network serves it and the recognisers.
 * The package is pinned to an exact version; test/face/onnx/native-runtime.test.ts fails if this internal
 * interface changes.
 */
interface BindingSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: InferenceSession.SessionOptions): Promise<void>;
  readonly inputMetadata: Array<{ name: string }>;
  readonly outputMetadata: Array<{ name: string }>;
  run(feeds: Record<string, Tensor>, fetches: Record<string, null>, options: object): Record<string, Tensor>;
  dispose(): void;
}

interface NativeModule {
  Tensor: typeof Tensor;
  newSession(): BindingSession;
}

let native: NativeModule | null | undefined;

/**
 * onnxruntime-node, or null where its native library cannot load (an unsupported platform, a missing binary):
 * the engine then runs its networks on tfjs-wasm.
 */
export function nativeRuntime(): NativeModule | null {
  if (native === undefined) {
    try {
      const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
      const { binding, initOrt } = require('onnxruntime-node/dist/binding.js') as {
        binding: { InferenceSession: new () => BindingSession };
        initOrt: () => void;
      };
      initOrt();
      native = { Tensor: ort.Tensor, newSession: () => new binding.InferenceSession() };
    } catch {
      native = null;
    }
  }
  return native;
}

interface ModelJson {
  modelTopology: { node: TfNode[] };
  signature?: { outputs?: Record<string, { name: string }> };
  weightsManifest: Array<{ paths: string[]; weights: TfWeightSpec[] }>;
}

/** A tfjs graph model from disk, its topology editable before conversion. */
export function readGraphModel(jsonPath: string): TfGraphModel {
  const json = JSON.parse(readFileSync(jsonPath, 'utf8')) as ModelJson;
  const dir = path.dirname(jsonPath);
  const shards = json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(path.join(dir, p))));
  const outputs = json.signature?.outputs ? Object.values(json.signature.outputs).map((o) => o.name) : undefined;
  return {
    node: json.modelTopology.node,
    weights: json.weightsManifest.flatMap((g) => g.weights),
    weightData: new Uint8Array(Buffer.concat(shards)),
    ...(outputs && { outputs }),
  };
}

/** One output of a run: values and shape. */
export interface NativeOutput {
  data: Float32Array;
  dims: readonly number[];
}

/** How the engine has onnxruntime run a network: CPU, all graph optimisations, `threads` intra-op threads, one at a time. */
export function nativeSessionOptions(threads: number): InferenceSession.SessionOptions {
  return { executionProviders: [{ name: 'cpu' }], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' };
}

/** A network on onnxruntime's CPU kernels (a converted tfjs graph model or a vendored ONNX file), with one float input. */
export class NativeNetwork {
  private constructor(
    private readonly ort: NativeModule,
    private readonly session: BindingSession,
    readonly inputName: string,
    readonly outputNames: readonly string[],
  ) {}

  /**
   * Converts and loads `model`. `threads` is onnxruntime's intra-op pool for one inference: 1 where each core
   * has its own worker (the default, measured in docs/performance.md).
   */
  static load(ort: NativeModule, model: TfGraphModel, threads: number): Promise<NativeNetwork> {
    return NativeNetwork.loadOnnx(ort, tfjsToOnnx(model), threads);
  }

  /**
   * Loads a model that is already ONNX (a vendored file, models/); `threads` as for `load`. Its PReLUs are rewritten
   * into the form onnxruntime runs fastest, the same values (prelu.ts).
   */
  static async loadOnnx(ort: NativeModule, onnx: Uint8Array, threads: number): Promise<NativeNetwork> {
    const bytes = rewritePrelus(onnx);
    const session = ort.newSession();
    await session.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, nativeSessionOptions(threads));
    const input = session.inputMetadata[0]?.name;
    if (!input || session.inputMetadata.length !== 1) throw new Error('NativeNetwork: the model must have exactly one input');
    return new NativeNetwork(
      ort,
      session,
      input,
      session.outputMetadata.map((o) => o.name),
    );
  }

  /** Runs the network on the calling thread; outputs in `outputNames` order. */
  run(input: Float32Array, dims: readonly number[]): NativeOutput[] {
    const results = this.session.run({ [this.inputName]: new this.ort.Tensor('float32', input, dims) }, Object.fromEntries(this.outputNames.map((n) => [n, null])), {});
    return this.outputNames.map((n) => {
      const t = results[n]!;
      return { data: t.data as Float32Array, dims: t.dims };
    });
  }

  dispose(): void {
    this.session.dispose();
  }
}
