import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MedfaceError } from '../../errors.js';
import { NativeNetwork, nativeRuntime } from '../onnx/session.js';
import { WASM_RUNTIME, type RuntimeSettings } from '../runtime.js';
import type { DetectedFace, RgbImage } from '../types.js';
import { arcfaceChip } from './arcface-chip.js';
import { LoadOnce, type ChipCutter, type ChipEmbedder } from './types.js';

/**
 * Faceplugin's face feature network, `fr_feature.onnx` of the npm package faceplugin-face-recognition-js 0.0.1
 * (MIT), vendored in models/faceplugin/ (docs/models.md says why and what is not known about it; extract.sh
 * re-extracts it). It takes the ArcFace five-point 112×112 chip, RGB, as (x − 127) / 128 in NCHW (the package's
 * lib/fr_feature.js), and gives 512 values. It is an ONNX file, not a tfjs model, so it runs on onnxruntime-node
 * only. No mirrored augmentation: the measured id is without `+flip`.
 */
export const FACEPLUGIN_EMBEDDER_ID = 'faceplugin@1';

const DIMENSIONS = 512;

/** The vendored model, at the same depth from src/ and from dist/. */
export const FACEPLUGIN_MODEL_FILE = fileURLToPath(new URL('../../../models/faceplugin/fr_feature.onnx', import.meta.url));

/** The network's input for one chip: channel planes of (x − 127) / 128, as the package's preprocessing computes it. */
export function facepluginInput(chip: RgbImage): Float32Array {
  const plane = chip.width * chip.height;
  const input = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) input[c * plane + p] = (chip.data[p * 3 + c]! - 127) / 128;
  }
  return input;
}

export class FacepluginEmbedder implements ChipEmbedder {
  readonly id = FACEPLUGIN_EMBEDDER_ID;
  readonly dimensions = DIMENSIONS;
  readonly chip: ChipCutter = arcfaceChip;
  private network: NativeNetwork | undefined;
  private readonly loading = new LoadOnce();

  constructor(private readonly modelFile = FACEPLUGIN_MODEL_FILE) {}

  load(runtime: RuntimeSettings = WASM_RUNTIME): Promise<void> {
    return this.loading.run(() => this.loadModel(runtime));
  }

  embed(image: RgbImage, face: DetectedFace): Promise<Float32Array> {
    return this.embedChip(arcfaceChip(image, face));
  }

  embedChip(chip: RgbImage): Promise<Float32Array> {
    const { network } = this;
    if (!network) throw new Error(`${this.id}: load() must finish before embed()`);
    const raw = network.run(facepluginInput(chip), [1, 3, chip.height, chip.width])[0]!.data;
    if (raw.length !== DIMENSIONS) throw new Error(`${this.id}: descriptor has ${raw.length} values, not ${DIMENSIONS}`);
    const norm = Math.hypot(...raw);
    return Promise.resolve(Float32Array.from(raw, (v) => v / norm));
  }

  dispose(): void {
    this.network?.dispose();
    this.network = undefined;
    this.loading.reset();
  }

  private async loadModel(runtime: RuntimeSettings): Promise<void> {
    const ort = runtime.kind === 'native' ? nativeRuntime() : null;
    if (!ort) {
      throw new MedfaceError(
        'ENGINE_FAILED',
        `The recogniser ${this.id} is an ONNX network and runs only on the native runtime (onnxruntime-node), not on ${runtime.kind === 'native' ? 'this machine, where onnxruntime-node cannot load' : 'tfjs-wasm'}: unset MEDFACE_RUNTIME or set it to native, on a platform onnxruntime-node supports, or choose a recogniser that runs on tfjs-wasm (MEDFACE_EMBEDDER or --embedder mobilefacenet@1+flip).`,
        { embedder: this.id, runtime: runtime.kind },
      );
    }
    const bytes = readFileSync(this.modelFile);
    this.network = await NativeNetwork.loadOnnx(ort, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), runtime.threads);
  }
}
