import { ProtoWriter } from './protobuf.js';

/**
 * Converts a TensorFlow.js graph model (the model JSON's topology and its weight shards, as the npm packages
 * ship them) into an ONNX model, in memory, for onnxruntime. Only the operations of the networks medface runs
 * are mapped; any other operation fails the conversion by name rather than producing a different network.
 *
 * Tensors stay in TensorFlow's NHWC layout; each convolution and pooling is wrapped in a pair of Transposes to
 * ONNX's NCHW. onnxruntime's layout optimiser removes the transposes that cancel and moves the others through
 * element-wise operations when it builds the session, so the wrapping costs nothing at inference.
 */

/** A node of the tfjs graph (TensorFlow's NodeDef as JSON). */
export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
}

export interface TfWeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

export interface TfGraphModel {
  node: TfNode[];
  weights: TfWeightSpec[];
  /** The concatenated weight shards, in manifest order. */
  weightData: Uint8Array;
  /** Output tensors by name (`node` or `node:k`); unconsumed nodes when absent. */
  outputs?: string[];
}

/** ONNX opset the converted models declare (onnxruntime 1.31 implements up to 23). */
const OPSET = 13;
/** ONNX IR version matching the opset (IR 7 introduced opset 13's generation). */
const IR_VERSION = 7;

const FLOAT = 1;
const INT64 = 7;

const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];

interface Constant {
  dtype: 'float32' | 'int32';
  shape: number[];
  values: Float32Array | Int32Array;
}

/** An ONNX attribute: ints, one int, a float or a string. */
type Attribute = { ints: number[] } | { int: number } | { float: number } | { string: string };

export function tfjsToOnnx(model: TfGraphModel): Uint8Array {
  const constants = decodeWeights(model.weights, model.weightData);
  const graph = new ProtoWriter();
  const nodes: ProtoWriter[] = [];
  const emittedConstants = new Set<string>();
  let counter = 0;
  const fresh = (base: string) => `${base}/onnx_${counter++}`;

  const addNode = (op: string, inputs: string[], outputs: string[], attributes: Record<string, Attribute> = {}) => {
    const node = new ProtoWriter();
    for (const i of inputs) node.string(1, i);
    for (const o of outputs) node.string(2, o);
    node.string(3, outputs[0]!).string(4, op);
    for (const [name, value] of Object.entries(attributes)) node.message(5, attribute(name, value));
    nodes.push(node);
  };
  const initializer = (name: string, dims: number[], dataType: number, raw: Uint8Array) => {
    const t = new ProtoWriter();
    for (const d of dims) t.int(1, d);
    t.int(2, dataType).string(8, name).bytes(9, raw);
    graph.message(5, t);
  };
  const int64s = (base: string, values: number[]) => {
    const name = fresh(base);
    const raw = new BigInt64Array(values.map((v) => BigInt(v)));
    initializer(name, [values.length], INT64, new Uint8Array(raw.buffer));
    return name;
  };
  const floats = (name: string, dims: number[], values: Float32Array) => {
    initializer(name, dims, FLOAT, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    return name;
  };
  /** A tensor input: a float constant becomes an initializer the first time it is read. */
  const tensor = (ref: string): string => {
    const name = ref.endsWith(':0') ? ref.slice(0, -2) : ref;
    const c = constants.get(name);
    if (c && !emittedConstants.has(name)) {
      if (c.dtype !== 'float32') throw new Error(`tfjs-to-onnx: int32 constant ${name} used as a tensor`);
      emittedConstants.add(name);
      floats(name, c.shape, c.values as Float32Array);
    }
    return name;
  };
  const constantValues = (ref: string): number[] => {
    const c = constants.get(ref);
    if (!c) throw new Error(`tfjs-to-onnx: ${ref} must be a constant`);
    return Array.from(c.values);
  };

  /** A convolution or pooling in NCHW between transposes; returns the NHWC output's name. */
  const spatial = (node: TfNode, op: string, inputs: string[], attributes: Record<string, Attribute>, output: string) => {
    const nchw = fresh(node.name);
    addNode('Transpose', [tensor(node.input![0]!)], [nchw], { perm: { ints: TO_NCHW } });
    const result = fresh(node.name);
    addNode(op, [nchw, ...inputs], [result], attributes);
    addNode('Transpose', [result], [output], { perm: { ints: TO_NHWC } });
  };

  const consumed = new Set<string>();
  for (const node of model.node) for (const i of node.input ?? []) consumed.add(i.replace(/^\^/, '').replace(/:0$/, ''));

  for (const node of model.node) {
    const inputs = (node.input ?? []).filter((i) => !i.startsWith('^'));
    const attr = node.attr ?? {};
    const out = node.name;
    switch (node.op) {
      case 'Const':
        break;
      case 'Placeholder': {
        const dims = ((attr.shape as { shape?: { dim?: Array<{ size: string }> } }).shape?.dim ?? []).map((d) => Number(d.size));
        graph.message(11, valueInfo(out, dims));
        break;
      }
      case '_FusedConv2D':
      case 'FusedDepthwiseConv2dNative':
      case 'Conv2D':
      case 'DepthwiseConv2dNative': {
        const depthwise = node.op.includes('Depthwise');
        const fused = node.op.startsWith('_') || node.op.startsWith('Fused') ? stringList(attr.fused_ops) : [];
        const filter = constants.get(inputs[1]!);
        if (!filter || filter.shape.length !== 4) throw new Error(`tfjs-to-onnx: ${out} needs a constant 4-D filter`);
        const [kh, kw, cin, cout] = filter.shape as [number, number, number, number];
        const weights = depthwise ? depthwiseWeights(filter) : convWeights(filter);
        const weightName = floats(fresh(`${out}/weights`), depthwise ? [cin * cout, 1, kh, kw] : [cout, cin, kh, kw], weights);
        const convInputs = [weightName];
        const rest = fused.filter((f) => f !== 'BiasAdd');
        if (fused.includes('BiasAdd')) convInputs.push(tensor(inputs[2]!));
        const activation = rest[0];
        if (rest.length > 1 || (activation && !['Relu', 'Prelu'].includes(activation))) {
          throw new Error(`tfjs-to-onnx: ${out} fuses unsupported operations ${fused.join(',')}`);
        }
        const conv = activation ? fresh(out) : out;
        spatial(
          node,
          'Conv',
          convInputs,
          {
            ...padding(attr),
            kernel_shape: { ints: [kh, kw] },
            strides: { ints: spatialPair(attr.strides) },
            dilations: { ints: spatialPair(attr.dilations) },
            ...(depthwise && { group: { int: cin } }),
          },
          conv,
        );
        if (activation === 'Relu') addNode('Relu', [conv], [out]);
        if (activation === 'Prelu') addNode('PRelu', [conv, tensor(inputs[3]!)], [out]);
        break;
      }
      case 'MaxPool':
      case 'AvgPool':
        spatial(node, node.op === 'MaxPool' ? 'MaxPool' : 'AveragePool', [], { ...padding(attr), kernel_shape: { ints: spatialPair(attr.ksize) }, strides: { ints: spatialPair(attr.strides) } }, out);
        break;
      case 'Pad': {
        const p = constantValues(inputs[1]!);
        const begins = p.filter((_, i) => i % 2 === 0);
        const ends = p.filter((_, i) => i % 2 === 1);
        addNode('Pad', [tensor(inputs[0]!), int64s(out, [...begins, ...ends])], [out]);
        break;
      }
      case 'Reshape':
        addNode('Reshape', [tensor(inputs[0]!), int64s(out, constantValues(inputs[1]!))], [out]);
        break;
      case 'ConcatV2':
        addNode('Concat', inputs.slice(0, -1).map(tensor), [out], { axis: { int: constantValues(inputs.at(-1)!)[0]! } });
        break;
      case 'Squeeze':
        addNode('Squeeze', [tensor(inputs[0]!), int64s(out, intList(attr.squeeze_dims))], [out]);
        break;
      case 'Sum':
        addNode('ReduceSum', [tensor(inputs[0]!), int64s(out, constantValues(inputs[1]!))], [out], {
          keepdims: { int: (attr.keep_dims as { b?: boolean } | undefined)?.b ? 1 : 0 },
        });
        break;
      case 'Square':
        addNode('Mul', [tensor(inputs[0]!), tensor(inputs[0]!)], [out]);
        break;
      case 'Rsqrt': {
        const root = fresh(out);
        addNode('Sqrt', [tensor(inputs[0]!)], [root]);
        addNode('Reciprocal', [root], [out]);
        break;
      }
      default: {
        const op = ELEMENTWISE[node.op];
        if (!op) throw new Error(`tfjs-to-onnx: operation ${node.op} (${out}) is not supported`);
        addNode(op, inputs.map(tensor), [out]);
      }
    }
  }

  const outputs = model.outputs ?? model.node.filter((n) => n.op !== 'Const' && n.op !== 'Placeholder' && !consumed.has(n.name)).map((n) => n.name);
  for (const o of outputs) graph.message(12, valueInfo(o.replace(/:0$/, '')));
  for (const node of nodes) graph.message(1, node);
  graph.string(2, 'medface');

  return new ProtoWriter().int(1, IR_VERSION).string(2, 'medface tfjs-to-onnx').message(7, graph).message(8, new ProtoWriter().string(1, '').int(2, OPSET)).finish();
}

/** TensorFlow operations that map one to one onto an ONNX operator with the same broadcasting. */
const ELEMENTWISE: Record<string, string> = {
  Add: 'Add',
  AddV2: 'Add',
  Sub: 'Sub',
  Mul: 'Mul',
  Abs: 'Abs',
  Relu: 'Relu',
  Prelu: 'PRelu',
  Sigmoid: 'Sigmoid',
  Maximum: 'Max',
  Identity: 'Identity',
};

function attribute(name: string, value: Attribute): ProtoWriter {
  const a = new ProtoWriter().string(1, name);
  if ('ints' in value) {
    for (const i of value.ints) a.int(8, i);
    return a.int(20, 7);
  }
  if ('int' in value) return a.int(3, value.int).int(20, 2);
  if ('float' in value) return a.float(2, value.float).int(20, 1);
  return a.string(4, value.string).int(20, 3);
}

/** A float tensor's ValueInfoProto; `dims` of -1 are symbolic (the batch). */
function valueInfo(name: string, dims?: number[]): ProtoWriter {
  const tensorType = new ProtoWriter().int(1, FLOAT);
  if (dims) {
    const shape = new ProtoWriter();
    for (const d of dims) shape.message(1, d >= 0 ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, 'batch'));
    tensorType.message(2, shape);
  }
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensorType));
}

function stringList(value: unknown): string[] {
  const list = (value as { list?: { s?: string[] } } | undefined)?.list?.s ?? [];
  return list.map((s) => Buffer.from(s, 'base64').toString());
}

function intList(value: unknown): number[] {
  return ((value as { list?: { i?: string[] } } | undefined)?.list?.i ?? []).map(Number);
}

/** The H and W entries of an NHWC strides/dilations/ksize list (1, 1 when absent). */
function spatialPair(value: unknown): number[] {
  const list = intList(value);
  return list.length === 4 ? [list[1]!, list[2]!] : [1, 1];
}

/** TensorFlow's SAME pads the extra row or column at the end, which is ONNX's SAME_UPPER. */
function padding(attr: Record<string, unknown>): Record<string, Attribute> {
  const mode = Buffer.from((attr.padding as { s?: string } | undefined)?.s ?? '', 'base64').toString();
  if (mode === 'SAME') return { auto_pad: { string: 'SAME_UPPER' } };
  if (mode === 'VALID') return { auto_pad: { string: 'VALID' } };
  throw new Error(`tfjs-to-onnx: padding ${mode || '(none)'} is not supported`);
}

/** TensorFlow's [kh, kw, in, out] filter as ONNX's [out, in, kh, kw]. */
function convWeights(filter: Constant): Float32Array {
  const [kh, kw, cin, cout] = filter.shape as [number, number, number, number];
  const src = filter.values;
  const dst = new Float32Array(src.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++) for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) dst[((o * cin + i) * kh + y) * kw + x] = src[((y * kw + x) * cin + i) * cout + o]!;
  return dst;
}

/** A depthwise [kh, kw, in, multiplier] filter as a grouped convolution's [in × multiplier, 1, kh, kw]. */
function depthwiseWeights(filter: Constant): Float32Array {
  const [kh, kw, cin, mult] = filter.shape as [number, number, number, number];
  const src = filter.values;
  const dst = new Float32Array(src.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++) for (let i = 0; i < cin; i++) for (let m = 0; m < mult; m++) dst[((i * mult + m) * kh + y) * kw + x] = src[((y * kw + x) * cin + i) * mult + m]!;
  return dst;
}

/** The manifest's weights, dequantised to float32 (float16, uint8 and uint16 quantisation as tfjs writes them). */
function decodeWeights(specs: TfWeightSpec[], data: Uint8Array): Map<string, Constant> {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out = new Map<string, Constant>();
  let offset = 0;
  for (const spec of specs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const q = spec.quantization;
    if (spec.dtype === 'int32' && !q) {
      const values = new Int32Array(size);
      for (let i = 0; i < size; i++) values[i] = view.getInt32(offset + 4 * i, true);
      out.set(spec.name, { dtype: 'int32', shape: spec.shape, values });
      offset += 4 * size;
      continue;
    }
    if (spec.dtype !== 'float32') throw new Error(`tfjs-to-onnx: weight ${spec.name} has dtype ${spec.dtype}`);
    const values = new Float32Array(size);
    if (!q) {
      for (let i = 0; i < size; i++) values[i] = view.getFloat32(offset + 4 * i, true);
      offset += 4 * size;
    } else if (q.dtype === 'float16') {
      for (let i = 0; i < size; i++) values[i] = float16(view.getUint16(offset + 2 * i, true));
      offset += 2 * size;
    } else if (q.dtype === 'uint8' || q.dtype === 'uint16') {
      const bytes = q.dtype === 'uint8' ? 1 : 2;
      for (let i = 0; i < size; i++) {
        const v = bytes === 1 ? view.getUint8(offset + i) : view.getUint16(offset + 2 * i, true);
        values[i] = v * (q.scale ?? 1) + (q.min ?? 0);
      }
      offset += bytes * size;
    } else {
      throw new Error(`tfjs-to-onnx: weight ${spec.name} is quantised as ${q.dtype}`);
    }
    out.set(spec.name, { dtype: 'float32', shape: spec.shape, values });
  }
  if (offset !== data.byteLength) throw new Error(`tfjs-to-onnx: the manifest describes ${offset} bytes of weights, the shards hold ${data.byteLength}`);
  return out;
}

/** An IEEE half-precision value. */
function float16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
