import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { FACEPLUGIN_MODEL_FILE } from '../../../src/face/embedders/faceplugin.js';
import { humanModelsFile } from '../../../src/face/embedders/graph-model.js';
import { repairPrelu } from '../../../src/face/embedders/mobilefacenet.js';
import { rewritePrelus } from '../../../src/face/onnx/prelu.js';
import { ProtoWriter, readFields } from '../../../src/face/onnx/protobuf.js';
import { readGraphModel } from '../../../src/face/onnx/session.js';
import { tfjsToOnnx } from '../../../src/face/onnx/tfjs-to-onnx.js';
import { HUMAN_DIR } from '../../../src/face/runtime.js';

const text = (v: unknown) => new TextDecoder().decode(v as Uint8Array);
const graphOf = (model: Uint8Array) => readFields(readFields(model).find((f) => f.field === 7)!.value as Uint8Array);

/** How many nodes of each op type a model's graph has. */
function opCounts(model: Uint8Array): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const f of graphOf(model).filter((g) => g.field === 1)) {
    const op = text(readFields(f.value as Uint8Array).find((n) => n.field === 4)!.value);
    counts[op] = (counts[op] ?? 0) + 1;
  }
  return counts;
}

/** The op types of a model's nodes, in order. */
function opTypes(model: Uint8Array): string[] {
  return graphOf(model)
    .filter((g) => g.field === 1)
    .map((f) => text(readFields(f.value as Uint8Array).find((n) => n.field === 4)!.value));
}

/** The float values of each initializer, by name. */
function initializers(model: Uint8Array): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const f of graphOf(model).filter((g) => g.field === 5)) {
    const t = readFields(f.value as Uint8Array);
    const raw = t.find((x) => x.field === 9)!.value as Uint8Array;
    out.set(text(t.find((x) => x.field === 8)!.value), Array.from(new Float32Array(raw.slice().buffer)));
  }
  return out;
}

async function outputs(model: Uint8Array, dims: number[]): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  const feed = new ort.Tensor(
    'float32',
    Float32Array.from({ length: dims.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.0007) * Math.cos(i * 0.013) * 2),
    dims,
  );
  const result = await session.run({ [session.inputNames[0]!]: feed });
  await session.release();
  return session.outputNames.map((n) => result[n]!.data as Float32Array);
}

function mobileFaceNet(): Uint8Array {
  const model = readGraphModel(humanModelsFile('mobilefacenet.json'));
  repairPrelu(model);
  return tfjsToOnnx(model);
}

describe('rewritePrelus', () => {
  const models: Array<[string, () => Uint8Array, number[], Record<string, number>, Record<string, number>]> = [
    // All 33 PRelus follow a convolution and feed one: all blocked, relu(x) + (−α)·relu(−x).
    ["Faceplugin's recogniser (vendored ONNX)", () => new Uint8Array(readFileSync(FACEPLUGIN_MODEL_FILE)), [1, 3, 112, 112], { PRelu: 33 }, { PRelu: 0, Max: 0, Relu: 66 }],
    // Its 33 PReLUs spelt relu(x) + c·(|x| − x) are found and blocked too.
    ['MobileFaceNet (converted and repaired)', mobileFaceNet, [2, 112, 112, 3], { Abs: 33, Sub: 33, Relu: 33 }, { Abs: 0, Sub: 0, Relu: 66 }],
    // Every PReLU of the mesh reads or feeds a residual Add: max(x, α·x), or PRelu where a slope exceeds 1.
    ['the face mesh (converted)', () => tfjsToOnnx(readGraphModel(path.join(HUMAN_DIR, 'models', 'facemesh.json'))), [1, 192, 192, 3], { PRelu: 28 }, { PRelu: 6, Max: 22, Relu: 0 }],
    // All three forms.
    ['the iris network (converted)', () => tfjsToOnnx(readGraphModel(path.join(HUMAN_DIR, 'models', 'iris.json'))), [2, 64, 64, 3], { PRelu: 53 }, { PRelu: 9, Max: 18, Relu: 52 }],
  ];
  for (const [name, read, dims, before, after] of models) {
    it(`rewrites the PReLUs of ${name}, and its outputs equal the original's bit for bit`, async () => {
      const original = read();
      const rewritten = rewritePrelus(original);
      const counts = [opCounts(original), opCounts(rewritten)];
      for (const [op, n] of Object.entries(before)) expect(counts[0]![op] ?? 0, op).toBe(n);
      for (const [op, n] of Object.entries(after)) expect(counts[1]![op] ?? 0, op).toBe(n);
      const [expected, actual] = [await outputs(original, dims), await outputs(rewritten, dims)];
      expect(actual).toHaveLength(expected.length);
      expected.forEach((e, k) => expect(Buffer.from(actual[k]!.buffer).equals(Buffer.from(e.buffer))).toBe(true));
    });
  }

  /** x → Conv → PReLU → `next`, the slope α per channel (`channels` of them) given as a PRelu's or as c = −α/2 of the idiom. */
  function model(options: { slope: number; channels?: number; next?: 'Conv' | 'Add'; from?: 'Conv' | 'Sigmoid'; idiom?: 'repaired' | 'unrepaired' }): Uint8Array {
    const { slope, channels = 16, next = 'Conv', from = 'Conv', idiom } = options;
    const floats = (name: string, dims: number[], value: number) => {
      const t = new ProtoWriter();
      for (const d of dims) t.int(1, d);
      return t
        .int(2, 1)
        .string(8, name)
        .bytes(9, new Uint8Array(new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(value).buffer));
    };
    const node = (op: string, inputs: string[], output: string) => {
      const n = new ProtoWriter();
      for (const i of inputs) n.string(1, i);
      return n.string(2, output).string(3, output).string(4, op);
    };
    const graph = new ProtoWriter();
    graph.message(1, from === 'Conv' ? node('Conv', ['in', 'w'], 'x') : node('Sigmoid', ['in'], 'x'));
    if (idiom) {
      const [a, b] = idiom === 'repaired' ? ['abs', 'x'] : ['x', 'abs'];
      graph
        .message(1, node('Relu', ['x'], 'pos'))
        .message(1, node('Abs', ['x'], 'abs'))
        .message(1, node('Sub', [a, b], 'diff'));
      graph.message(1, node('Mul', ['c', 'diff'], 'neg')).message(1, node('Add', ['pos', 'neg'], 'y'));
      graph.message(5, floats('c', [channels, 1, 1], -slope / 2));
    } else {
      graph.message(1, node('PRelu', ['x', 'a'], 'y')).message(5, floats('a', [channels, 1, 1], slope));
    }
    graph.message(1, next === 'Conv' ? node('Conv', ['y', 'w'], 'out') : node('Add', ['y', 'x'], 'out'));
    graph.message(5, floats('w', [channels, channels, 1, 1], 0.5));
    return new ProtoWriter().int(1, 7).message(7, graph).finish();
  }
  const BLOCKED = ['Conv', 'Relu', 'Mul', 'Relu', 'Mul', 'Add', 'Conv'];

  it('blocks a PReLU between convolutions, with −1 and −α as its constants, and drops the old slope', () => {
    const rewritten = rewritePrelus(model({ slope: 0.25 }));
    expect(opTypes(rewritten)).toEqual(BLOCKED);
    const values = initializers(rewritten);
    expect(values.has('a')).toBe(false);
    expect(values.get('y/prelu/minus_one')).toEqual(new Array(16).fill(-1));
    expect(values.get('y/prelu/minus_slope')).toEqual(new Array(16).fill(-0.25));
  });

  it('blocks a PReLU whose slope exceeds 1 as well', () => {
    expect(opTypes(rewritePrelus(model({ slope: 1.5 })))).toEqual(BLOCKED);
  });

  it('finds the idiom relu(x) + c·(|x| − x) as a PReLU with α = −2c, and leaves x − |x| alone', () => {
    const rewritten = rewritePrelus(model({ slope: 0.25, idiom: 'repaired' }));
    expect(opTypes(rewritten)).toEqual(BLOCKED);
    expect(initializers(rewritten).get('y/prelu/minus_slope')).toEqual(new Array(16).fill(-0.25));
    expect(initializers(rewritten).has('c')).toBe(false);
    expect(opTypes(rewritePrelus(model({ slope: 0.25, idiom: 'unrepaired' })))).toEqual(['Conv', 'Relu', 'Abs', 'Sub', 'Mul', 'Add', 'Conv']);
  });

  it('keeps a PReLU unblocked where it feeds an Add, reads no convolution, or has channels off the block', () => {
    expect(opTypes(rewritePrelus(model({ slope: 0.25, next: 'Add' })))).toEqual(['Conv', 'Mul', 'Max', 'Add']);
    expect(opTypes(rewritePrelus(model({ slope: 0.25, from: 'Sigmoid' })))).toEqual(['Sigmoid', 'Mul', 'Max', 'Conv']);
    expect(opTypes(rewritePrelus(model({ slope: 0.25, channels: 24 })))).toEqual(['Conv', 'Mul', 'Max', 'Conv']);
    // The idiom, unblocked, needs its slope α as a new constant.
    const idiom = rewritePrelus(model({ slope: 0.25, next: 'Add', idiom: 'repaired' }));
    expect(opTypes(idiom)).toEqual(['Conv', 'Mul', 'Max', 'Add']);
    expect(initializers(idiom).get('y/prelu/slope')).toEqual(new Array(16).fill(0.25));
  });

  it('keeps an unblocked PRelu whose slope exceeds 1, where max(x, α·x) would differ', () => {
    expect(opTypes(rewritePrelus(model({ slope: 1.5, next: 'Add' })))).toEqual(['Conv', 'PRelu', 'Add']);
  });
});
