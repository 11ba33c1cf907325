import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-converter';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

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
