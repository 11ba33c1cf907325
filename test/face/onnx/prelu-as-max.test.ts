import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { FACEPLUGIN_MODEL_FILE } from '../../../src/face/embedders/faceplugin.js';
import { preluAsMax } from '../../../src/face/onnx/prelu-as-max.js';
import { ProtoWriter, readFields } from '../../../src/face/onnx/protobuf.js';
import { readGraphModel } from '../../../src/face/onnx/session.js';
import { tfjsToOnnx } from '../../../src/face/onnx/tfjs-to-onnx.js';
import { HUMAN_DIR } from '../../../src/face/runtime.js';

/** The op types of a model's graph nodes. */
function opTypes(model: Uint8Array): string[] {
  const graph = readFields(model).find((f) => f.field === 7)!.value as Uint8Array;
  return readFields(graph)
    .filter((f) => f.field === 1)
    .map((f) => new TextDecoder().decode(readFields(f.value as Uint8Array).find((n) => n.field === 4)!.value as Uint8Array));
}

async function outputs(model: Uint8Array, dims: number[]): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  const feed = new ort.Tensor(
    'float32',
    Float32Array.from({ length: dims.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.0007) * Math.cos(i * 0.013)),
    dims,
  );
  const result = await session.run({ [session.inputNames[0]!]: feed });
  await session.release();
  return session.outputNames.map((n) => result[n]!.data as Float32Array);
}

describe('preluAsMax', () => {
  const models: Array<[string, () => Uint8Array, number[]]> = [
    ["Faceplugin's recogniser (vendored ONNX)", () => new Uint8Array(readFileSync(FACEPLUGIN_MODEL_FILE)), [1, 3, 112, 112]],
    ['the face mesh (converted)', () => tfjsToOnnx(readGraphModel(path.join(HUMAN_DIR, 'models', 'facemesh.json'))), [1, 192, 192, 3]],
    ['the iris network (converted)', () => tfjsToOnnx(readGraphModel(path.join(HUMAN_DIR, 'models', 'iris.json'))), [2, 64, 64, 3]],
  ];
  for (const [name, read, dims] of models) {
    it(`rewrites most PReLUs of ${name} (those with every slope <= 1), and its outputs equal the original's bit for bit`, async () => {
      const original = read();
      const rewritten = preluAsMax(original);
      const prelus = (model: Uint8Array) => opTypes(model).filter((op) => op === 'PRelu').length;
      expect(prelus(original)).toBeGreaterThan(20);
      expect(prelus(rewritten)).toBeLessThan(prelus(original) / 3);
      const [before, after] = [await outputs(original, dims), await outputs(rewritten, dims)];
      expect(after).toHaveLength(before.length);
      before.forEach((b, k) => expect(Buffer.from(after[k]!.buffer).equals(Buffer.from(b.buffer))).toBe(true));
    });
  }

  it('keeps a PRelu whose slope exceeds 1, where max(x, a*x) would differ', () => {
    const slope = (a: number) =>
      new ProtoWriter()
        .int(1, 1)
        .int(2, 1)
        .string(8, 's')
        .bytes(9, new Uint8Array(Float32Array.of(0.25, a).buffer));
    const node = new ProtoWriter().string(1, 'x').string(1, 's').string(2, 'y').string(3, 'p').string(4, 'PRelu');
    const model = (a: number) =>
      new ProtoWriter()
        .int(1, 7)
        .message(7, new ProtoWriter().message(1, node).message(5, slope(a)))
        .finish();
    expect(opTypes(preluAsMax(model(1.5)))).toEqual(['PRelu']);
    expect(opTypes(preluAsMax(model(0.5)))).toEqual(['Mul', 'Max']);
  });
});
