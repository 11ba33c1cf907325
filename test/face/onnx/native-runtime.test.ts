import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FaceEngine, type Analysis } from '../../../src/face/engine.js';
import { MOBILEFACENET_EMBEDDER_ID, repairPrelu } from '../../../src/face/embedders/mobilefacenet.js';
import { NativeNetwork, nativeRuntime, readGraphModel } from '../../../src/face/onnx/session.js';
import { tfjsToOnnx, type TfGraphModel } from '../../../src/face/onnx/tfjs-to-onnx.js';
import { chooseRuntime, runtimeFromEnvironment, FACE_API_DIR, fileModelHandler, HUMAN_DIR, initTf } from '../../../src/face/runtime.js';
import { humanModelsFile } from '../../../src/face/embedders/graph-model.js';

const ort = nativeRuntime();

/** A smooth, deterministic input in the value range each network is fed (Human: 0..1, MobileFaceNet: about ±1). */
function input(batch: number, size: number, offset: number): Float32Array {
  return Float32Array.from({ length: batch * size * size * 3 }, (_, i) => offset + 0.5 * Math.sin(i * 0.0007) * Math.cos(i * 0.013));
}

describe('tfjs-to-onnx', () => {
  // Each network's outputs on onnxruntime against the same tfjs model on tfjs-wasm.
  const networks: Array<{ name: string; file: () => string; size: number; batch: number; offset: number; repair?: (m: TfGraphModel) => void }> = [
    { name: 'MobileFaceNet (repaired)', file: () => humanModelsFile('mobilefacenet.json'), size: 112, batch: 2, offset: 0, repair: repairPrelu },
    { name: 'BlazeFace', file: () => path.join(HUMAN_DIR, 'models', 'blazeface.json'), size: 256, batch: 1, offset: 0.5 },
    { name: 'face mesh (float16 weights)', file: () => path.join(HUMAN_DIR, 'models', 'facemesh.json'), size: 192, batch: 1, offset: 0.5 },
    { name: 'iris (ConcatV2)', file: () => path.join(HUMAN_DIR, 'models', 'iris.json'), size: 64, batch: 2, offset: 0.5 },
  ];
  for (const net of networks) {
    it(`gives ${net.name} the outputs tfjs computes`, async () => {
      const tf = await initTf();
      const model = readGraphModel(net.file());
      net.repair?.(model);
      const native = await NativeNetwork.load(ort!, model, 1);
      const handler = fileModelHandler(net.file());
      const graph = await loadGraphModel({
        load: async () => {
          const artifacts = await handler.load!();
          net.repair?.(artifacts.modelTopology as TfGraphModel);
          return artifacts;
        },
      });
      const data = input(net.batch, net.size, net.offset);
      const dims = [net.batch, net.size, net.size, 3];
      const outputs = native.run(data, dims);
      type Values = { dataSync(): Float32Array; shape: number[] };
      const expected = [graph.execute(tf.tensor4d(data, dims as [number, number, number, number]), [...native.outputNames]) as Values | Values[]].flat();
      expect(outputs).toHaveLength(expected.length);
      let largest = 0;
      outputs.forEach((out, i) => {
        const want = expected[i]!.dataSync();
        expect(out.dims).toEqual(expected[i]!.shape);
        const scale = Math.max(1, ...want.map(Math.abs));
        largest = Math.max(largest, ...want.map(Math.abs));
        expect(Math.max(...out.data.map((v, k) => Math.abs(v - want[k]!))) / scale).toBeLessThan(1e-4);
      });
      // Not a degenerate input that every network maps to zeros.
      expect(largest).toBeGreaterThan(0.1);
      native.dispose();
      graph.dispose();
    });
  }

  it('refuses an operation it does not map, by name', () => {
    const model: TfGraphModel = {
      node: [
        { name: 'x', op: 'Placeholder', attr: { shape: { shape: { dim: [{ size: '1' }, { size: '4' }] } } } },
        { name: 'y', op: 'Softplus', input: ['x'] },
      ],
      weights: [],
      weightData: new Uint8Array(0),
    };
    expect(() => tfjsToOnnx(model)).toThrow(/Softplus \(y\) is not supported/);
  });
});

describe('chooseRuntime', () => {
  it('falls back to tfjs-wasm where onnxruntime-node cannot load, unless native was asked for', () => {
    const missing = () => null;
    expect(chooseRuntime(undefined, 1, missing)).toEqual({ kind: 'wasm', threads: 1 });
    expect(chooseRuntime('wasm', 1, missing).kind).toBe('wasm');
    expect(() => chooseRuntime('native', 1, missing)).toThrow(/cannot load/);
    expect(chooseRuntime(undefined, 2)).toEqual({ kind: 'native', threads: 2 });
    expect(() => chooseRuntime(undefined, 0)).toThrow(/positive integer/);
  });
});

describe('MEDFACE_RUNTIME', () => {
  it('names the runtime of every engine not told otherwise; other values are refused', async () => {
    expect(runtimeFromEnvironment({})).toBeUndefined();
    expect(runtimeFromEnvironment({ MEDFACE_RUNTIME: ' ' })).toBeUndefined();
    expect(runtimeFromEnvironment({ MEDFACE_RUNTIME: ' wasm ' })).toBe('wasm');
    expect(() => runtimeFromEnvironment({ MEDFACE_RUNTIME: 'gpu' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    const before = process.env.MEDFACE_RUNTIME;
    process.env.MEDFACE_RUNTIME = 'wasm';
    try {
      expect(chooseRuntime().kind).toBe('wasm');
      expect(chooseRuntime('native').kind).toBe('native');
      // the default recogniser needs onnxruntime-node (faceplugin@1): on tfjs-wasm it refuses, naming the fix
      await expect(FaceEngine.create()).rejects.toMatchObject({ code: 'ENGINE_FAILED', message: expect.stringMatching(/MEDFACE_RUNTIME/) });
      const engine = await FaceEngine.create({ embedderId: MOBILEFACENET_EMBEDDER_ID });
      try {
        expect(engine.runtime).toBe('wasm');
      } finally {
        engine.dispose();
      }
      process.env.MEDFACE_RUNTIME = 'cuda';
      await expect(FaceEngine.create()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    } finally {
      if (before === undefined) delete process.env.MEDFACE_RUNTIME;
      else process.env.MEDFACE_RUNTIME = before;
    }
    expect(chooseRuntime().kind).toBe('native');
  }, 120_000);
});

describe('the engine on the native runtime', () => {
  let native: FaceEngine;
  let wasm: FaceEngine;
  const photos = [1, 2, 3].map((n) => readFileSync(path.join(FACE_API_DIR, 'demo', `sample${n}.jpg`)));
  const results: Array<{ native: Analysis; wasm: Analysis; nativeRuns: number; wasmRuns: number }> = [];

  beforeAll(async () => {
    native = await FaceEngine.create({ embedderId: MOBILEFACENET_EMBEDDER_ID, runtime: 'native' });
    wasm = await FaceEngine.create({ embedderId: MOBILEFACENET_EMBEDDER_ID, runtime: 'wasm' });
    // Alternating engines in one thread: each call must use its own engine's runtime.
    const runs = vi.spyOn(NativeNetwork.prototype, 'run');
    for (const photo of photos) {
      runs.mockClear();
      const n = await native.analyze(photo, { embed: 'all' });
      const nativeRuns = runs.mock.calls.length;
      runs.mockClear();
      const w = await wasm.analyze(photo, { embed: 'all' });
      results.push({ native: n, wasm: w, nativeRuns, wasmRuns: runs.mock.calls.length });
    }
    runs.mockRestore();
  }, 300_000);
  afterAll(() => {
    native?.dispose();
    wasm?.dispose();
  });

  it('is the default where onnxruntime loads', () => {
    expect(native.runtime).toBe('native');
    expect(wasm.runtime).toBe('wasm');
    expect(chooseRuntime().kind).toBe('native');
    expect(chooseRuntime('wasm').kind).toBe('wasm');
  });

  it('runs every network natively on the native engine, none on the tfjs-wasm engine', () => {
    for (const { native: n, nativeRuns, wasmRuns } of results) {
      // BlazeFace once, the mesh once per face (and per candidate the mesh then drops), MobileFaceNet once per face.
      expect(nativeRuns).toBeGreaterThanOrEqual(1 + 2 * n.faces.length);
      expect(wasmRuns).toBe(0);
    }
  });

  it('finds the same faces, with the same boxes, scores and landmarks', () => {
    let faces = 0;
    for (const { native: n, wasm: w } of results) {
      expect(n.faces.length).toBe(w.faces.length);
      expect(n.subject).toBe(w.subject);
      n.faces.forEach((face, i) => {
        const other = w.faces[i]!;
        faces++;
        expect(Math.abs(face.box.x - other.box.x)).toBeLessThan(1);
        expect(Math.abs(face.box.width - other.box.width)).toBeLessThan(1);
        expect(Math.abs(face.score - other.score)).toBeLessThan(1e-3);
        expect(face.quality.passed).toBe(other.quality.passed);
        for (const key of ['leftEye', 'rightEye', 'nose', 'mouthLeft', 'mouthRight'] as const) {
          expect(Math.hypot(face.landmarks[key].x - other.landmarks[key].x, face.landmarks[key].y - other.landmarks[key].y)).toBeLessThan(0.5);
        }
      });
    }
    expect(faces).toBeGreaterThanOrEqual(6);
  });

  it('observes a frame with the same eye openness, the iris network on onnxruntime', async () => {
    const runs = vi.spyOn(NativeNetwork.prototype, 'run');
    const n = await native.observe(photos[0]!, false);
    const nativeRuns = runs.mock.calls.length;
    runs.mockClear();
    const w = await wasm.observe(photos[0]!, false);
    expect(runs.mock.calls.length).toBe(0);
    runs.mockRestore();
    // BlazeFace, the mesh per face, the iris network once (both eyes in one batch).
    expect(nativeRuns).toBeGreaterThanOrEqual(1 + n.faces + 1);
    expect(n.subject!.eyes.right).toBeGreaterThan(0.1);
    expect(Math.abs(n.subject!.eyes.right - w.subject!.eyes.right)).toBeLessThan(0.005);
    expect(Math.abs(n.subject!.eyes.left - w.subject!.eyes.left)).toBeLessThan(0.005);
  });

  it('gives embeddings with cosine ≥ 0.999 to tfjs-wasm', () => {
    for (const { native: n, wasm: w } of results) {
      n.faces.forEach((face, i) => {
        const a = face.embedding!.vector;
        const b = w.faces[i]!.embedding!.vector;
        expect(face.embedding!.model).toBe(w.faces[i]!.embedding!.model);
        expect(a.reduce((s, v, k) => s + v * b[k]!, 0)).toBeGreaterThanOrEqual(0.999);
      });
    }
  });
});
