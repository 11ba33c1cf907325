import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-converter';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { MedfaceError } from '../errors.js';
import { nativeRuntime } from './onnx/session.js';

const require = createRequire(import.meta.url);

/** Package roots of the model-carrying dependencies (their exports maps hide package.json). */
export const HUMAN_DIR = path.resolve(path.dirname(require.resolve('@vladmandic/human')), '..');
export const FACE_API_DIR = path.resolve(path.dirname(require.resolve('@vladmandic/face-api')), '..');

let ready: Promise<typeof tf> | undefined;

/**
 * Starts tfjs on the WebAssembly backend once per thread and teaches it to load `file://` model URLs,
 * which tfjs cannot fetch in Node: every model is read from an installed npm package, never a network.
 */
export function initTf(): Promise<typeof tf> {
  ready ??= (async () => {
    // tfjs's router type says IOHandler, but its registry skips routers that return null.
    const router = (url: string | string[]): tf.io.IOHandler | null => {
      const u = Array.isArray(url) ? url[0] : url;
      return typeof u === 'string' && u.startsWith('file://') ? fileModelHandler(u.slice('file://'.length)) : null;
    };
    tf.io.registerLoadRouter(router as Parameters<typeof tf.io.registerLoadRouter>[0]);
    setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + path.sep);
    await tf.setBackend('wasm');
    await tf.ready();
    tf.enableProdMode();
    return tf;
  })();
  return ready;
}

interface ModelJson {
  modelTopology?: unknown;
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
  signature?: unknown;
  userDefinedMetadata?: { [key: string]: object };
  weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
}

/** Reads a tfjs model (graph-model JSON or a bare weights manifest) and its weight shards from disk. */
export function fileModelHandler(jsonPath: string): tf.io.IOHandler {
  return {
    load: async () => {
      const parsed = JSON.parse(readFileSync(jsonPath, 'utf8')) as ModelJson | ModelJson['weightsManifest'];
      const json: ModelJson = Array.isArray(parsed) ? { weightsManifest: parsed } : parsed;
      const dir = path.dirname(jsonPath);
      const weightSpecs: tf.io.WeightsManifestEntry[] = [];
      const shards: Buffer[] = [];
      for (const group of json.weightsManifest) {
        weightSpecs.push(...group.weights);
        for (const p of group.paths) shards.push(readFileSync(path.join(dir, p)));
      }
      const all = Buffer.concat(shards);
      return {
        modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'],
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        signature: json.signature as object | undefined,
        userDefinedMetadata: json.userDefinedMetadata,
        weightSpecs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
      };
    },
  };
}

/**
 * Where the engine runs its networks: `native` is onnxruntime-node's CPU kernels on models converted from the
 * installed tfjs packages (src/face/onnx/), `wasm` is tfjs-wasm. Embeddings agree between the two (cosine
 * ≥ 0.999, test/face/onnx.test.ts), so templates do not depend on the runtime that made them.
 */
export type FaceRuntime = 'native' | 'wasm';

export const FACE_RUNTIMES: readonly FaceRuntime[] = ['native', 'wasm'];

export interface RuntimeSettings {
  kind: FaceRuntime;
  /** onnxruntime's intra-op threads per inference (native only). */
  threads: number;
}

export const WASM_RUNTIME: RuntimeSettings = { kind: 'wasm', threads: 1 };

/**
 * One thread per inference: FacePool already runs one worker per core, which measured faster than fewer workers
 * with more threads each (docs/performance.md, "Native runtime").
 */
export const DEFAULT_NATIVE_THREADS = 1;

/**
 * The runtime the environment names (`MEDFACE_RUNTIME=native|wasm`), for every face engine of the process that
 * is not told otherwise: an operator can force tfjs-wasm where onnxruntime-node loads but misbehaves, without a
 * new release. Unset or blank: undefined (the automatic choice); any other value is refused.
 */
export function runtimeFromEnvironment(env: NodeJS.ProcessEnv = process.env): FaceRuntime | undefined {
  const text = env.MEDFACE_RUNTIME?.trim();
  if (!text) return undefined;
  if (!(FACE_RUNTIMES as readonly string[]).includes(text)) {
    throw new MedfaceError('INVALID_ARGUMENT', `MEDFACE_RUNTIME must be ${FACE_RUNTIMES.join(' or ')}, got "${text}"`);
  }
  return text as FaceRuntime;
}

/**
 * The runtime to use: the one requested, else MEDFACE_RUNTIME's, else `native` where onnxruntime-node loads and
 * tfjs-wasm otherwise; asking for `native` where it cannot load is an error rather than a silent slowdown.
 * `loadNative` is onnxruntime-node's loader (replaceable to test the fallback on a machine where it loads).
 */
export function chooseRuntime(requested: FaceRuntime | undefined = runtimeFromEnvironment(), threads = DEFAULT_NATIVE_THREADS, loadNative: () => unknown = nativeRuntime): RuntimeSettings {
  if (!Number.isInteger(threads) || threads < 1) {
    throw new MedfaceError('INVALID_ARGUMENT', `Native runtime threads must be a positive integer, not ${threads}.`);
  }
  if (requested === 'wasm') return WASM_RUNTIME;
  if (loadNative()) return { kind: 'native', threads };
  if (requested === 'native') throw new MedfaceError('ENGINE_FAILED', 'The native runtime (onnxruntime-node) cannot load on this machine.');
  return WASM_RUNTIME;
}
