import { ProtoWriter, readFields, type ProtoField } from './protobuf.js';

/**
 * Rewrites an ONNX model's PReLUs, before onnxruntime loads it, into the form its CPU kernels run fastest, with the
 * same float32 values bit for bit: for x ≥ 0 each form gives x, for x < 0 the one rounding of α·x.
 *
 * A PReLU is a `PRelu` node with a float initializer slope α, or the idiom relu(x) + c·(|x| − x) of graphs that
 * spell it in element-wise operations (MobileFaceNet's, after `repairPrelu`): there |x| − x = −2x exactly and
 * c·(−2x) = (−2c)·x, so it is a PReLU with α = −2c.
 *
 * onnxruntime runs convolutions in its blocked NCHWc layout, and only some operations in between: Relu, Add of two
 * blocked tensors, and Mul by a per-channel constant (as a 1×1 depthwise convolution). Its `PRelu` and `Max` are
 * not among them, so each one costs a reorder out of the blocked layout and one back in (profiled in
 * docs/performance.md, *Where the time goes*). Where the channel count is a multiple of the block (16 floats with
 * AVX-512, 8 with AVX2), a PReLU becomes relu(x) + (−α)·relu((−1)·x), all blocked: both terms are exact
 * (a product by −1, a ReLU, one rounding of α·x), one of them is zero for every x, and onnxruntime folds the final
 * Add into the bias-less convolution that computes the second term, which adds the first to its product.
 *
 * A PReLU stays unblocked where its input is not a convolution's output: onnxruntime runs it unblocked anyway (the
 * face mesh's PReLUs after its unblocked residual Adds), where five operations cost more than two. So does a PReLU
 * whose output feeds an Add: blocked, that Add of a residual connection would be folded into the next
 * convolution, which adds the residual before its bias ((conv + residual) + bias), and results would move by an
 * ulp here and there (the face mesh's did). Unblocked, a PReLU becomes max(x, α·x) where every α ≤ 1 (for x ≥ 0,
 * α·x ≤ x; for x < 0, α·x ≥ x), since onnxruntime 1.31's PRelu kernel is several times slower than Mul and Max,
 * and stays a `PRelu` otherwise.
 */
export function rewritePrelus(model: Uint8Array): Uint8Array {
  const out = new ProtoWriter();
  for (const f of readFields(model)) {
    if (f.field === MODEL_GRAPH && f.value instanceof Uint8Array) out.bytes(MODEL_GRAPH, rewriteGraph(f.value));
    else out.raw(f.raw);
  }
  return out.finish();
}

/** The channel count a blocked PReLU needs a multiple of: the larger of onnxruntime's two x64 block sizes. */
const BLOCK = 16;

// onnx.proto field numbers.
const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_OUTPUT = 12;
const VALUE_INFO_NAME = 1;
const NODE_INPUT = 1;
const NODE_OUTPUT = 2;
const NODE_NAME = 3;
const NODE_OP_TYPE = 4;
const NODE_DOMAIN = 7;
const TENSOR_DIMS = 1;
const TENSOR_DATA_TYPE = 2;
const TENSOR_FLOAT_DATA = 4;
const TENSOR_NAME = 8;
const TENSOR_RAW_DATA = 9;
const FLOAT = 1n;

const text = (f: ProtoField | undefined): string => (f?.value instanceof Uint8Array ? new TextDecoder().decode(f.value) : '');

interface GraphNode {
  field: ProtoField;
  op: string;
  inputs: string[];
  outputs: string[];
}

interface Slope {
  dims: number[];
  values: Float32Array;
}

/** One PReLU found in the graph: the node whose place the rewrite takes, the nodes it replaces, x, α and the output. */
interface Prelu {
  at: GraphNode;
  replaced: GraphNode[];
  x: string;
  slope: Slope;
  /** The slope's initializer where the model already has it (a `PRelu`'s), reused by max(x, α·x). */
  slopeName?: string;
  output: string;
}

function rewriteGraph(graph: Uint8Array): Uint8Array {
  const fields = readFields(graph);
  /** The float initializers, the candidate slopes. */
  const floats = new Map<string, Slope>();
  for (const f of fields) {
    if (f.field !== GRAPH_INITIALIZER || !(f.value instanceof Uint8Array)) continue;
    const tensor = readFields(f.value);
    const values = floatValues(tensor);
    if (values) floats.set(text(tensor.find((t) => t.field === TENSOR_NAME)), { dims: tensor.filter((t) => t.field === TENSOR_DIMS).map((t) => Number(t.value)), values });
  }
  const nodes: GraphNode[] = fields
    .filter((f) => f.field === GRAPH_NODE && f.value instanceof Uint8Array)
    .map((field) => {
      const n = readFields(field.value as Uint8Array);
      const domain = text(n.find((x) => x.field === NODE_DOMAIN));
      return {
        field,
        op: domain ? `${domain}:${text(n.find((x) => x.field === NODE_OP_TYPE))}` : text(n.find((x) => x.field === NODE_OP_TYPE)),
        inputs: n.filter((x) => x.field === NODE_INPUT).map(text),
        outputs: n.filter((x) => x.field === NODE_OUTPUT).map(text),
      };
    });
  const producer = new Map<string, GraphNode>();
  const consumers = new Map<string, GraphNode[]>();
  for (const node of nodes) {
    for (const o of node.outputs) producer.set(o, node);
    for (const i of node.inputs) consumers.set(i, [...(consumers.get(i) ?? []), node]);
  }
  const graphOutputs = new Set(
    fields.filter((f) => f.field === GRAPH_OUTPUT && f.value instanceof Uint8Array).map((f) => text(readFields(f.value as Uint8Array).find((x) => x.field === VALUE_INFO_NAME))),
  );
  /** The node producing `name`, if `name` is read by `reader` alone and is no graph output. */
  const soleProducer = (name: string, reader: GraphNode): GraphNode | undefined => {
    const readers = consumers.get(name) ?? [];
    return readers.every((r) => r === reader) && !graphOutputs.has(name) ? producer.get(name) : undefined;
  };

  /** Whether `name` is a convolution's output, or its transpose (tfjs-to-onnx.ts keeps NHWC around each one). */
  const fromConv = (name: string): boolean => {
    const p = producer.get(name);
    return p?.op === 'Conv' || (p?.op === 'Transpose' && producer.get(p.inputs[0]!)?.op === 'Conv');
  };

  const prelus: Prelu[] = [];
  for (const node of nodes) {
    const [a, b] = node.inputs;
    if (node.op === 'PRelu' && a && b && node.inputs.length === 2 && floats.has(b)) {
      prelus.push({ at: node, replaced: [node], x: a, slope: floats.get(b)!, slopeName: b, output: node.outputs[0]! });
      continue;
    }
    // relu(x) + c·(|x| − x), the Add's operands and the Mul's in either order.
    if (node.op !== 'Add' || !a || !b || node.inputs.length !== 2) continue;
    for (const [reluOut, mulOut] of [
      [a, b],
      [b, a],
    ] as const) {
      const relu = soleProducer(reluOut, node);
      const mul = soleProducer(mulOut, node);
      if (relu?.op !== 'Relu' || mul?.op !== 'Mul' || mul.inputs.length !== 2) continue;
      const x = relu.inputs[0]!;
      const c = mul.inputs.find((i) => floats.has(i));
      const sub = soleProducer(mul.inputs.find((i) => i !== c) ?? '', mul);
      if (!c || sub?.op !== 'Sub' || sub.inputs[1] !== x) continue;
      const abs = soleProducer(sub.inputs[0]!, sub);
      if (abs?.op !== 'Abs' || abs.inputs[0] !== x) continue;
      const { dims, values } = floats.get(c)!;
      prelus.push({ at: node, replaced: [relu, abs, sub, mul, node], x, slope: { dims, values: values.map((v) => -2 * v) }, output: node.outputs[0]! });
      break;
    }
  }

  const replaced = new Set(prelus.flatMap((p) => p.replaced));
  const byPlace = new Map(prelus.map((p) => [p.at, p]));
  const out = new ProtoWriter();
  const added: ProtoWriter[] = [];
  const initializer = (name: string, dims: number[], values: Float32Array) => {
    const t = new ProtoWriter();
    for (const d of dims) t.int(TENSOR_DIMS, d);
    added.push(
      t
        .int(TENSOR_DATA_TYPE, Number(FLOAT))
        .string(TENSOR_NAME, name)
        .bytes(TENSOR_RAW_DATA, new Uint8Array(values.buffer, values.byteOffset, values.byteLength)),
    );
    return name;
  };
  const node = (op: string, inputs: string[], output: string) => {
    const n = new ProtoWriter();
    for (const i of inputs) n.string(NODE_INPUT, i);
    out.message(GRAPH_NODE, n.string(NODE_OUTPUT, output).string(NODE_NAME, output).string(NODE_OP_TYPE, op));
  };
  const used = new Set<string>();
  for (const n of nodes) if (!replaced.has(n)) for (const i of n.inputs) used.add(i);

  const nodeOf = new Map(nodes.map((n) => [n.field, n]));
  for (const f of fields) {
    if (f.field === GRAPH_INITIALIZER) continue;
    const graphNode = nodeOf.get(f);
    if (!graphNode || !replaced.has(graphNode)) {
      out.raw(f.raw);
      continue;
    }
    const prelu = byPlace.get(graphNode);
    if (!prelu) continue;
    const { x, slope, output } = prelu;
    const base = `${output}/prelu`;
    const feedsAdd = (consumers.get(output) ?? []).some((c) => c.op === 'Add' || c.op === 'Sum');
    if (fromConv(x) && !feedsAdd && slope.values.length % BLOCK === 0) {
      const minusOne = initializer(`${base}/minus_one`, slope.dims, new Float32Array(slope.values.length).fill(-1));
      const minusSlope = initializer(
        `${base}/minus_slope`,
        slope.dims,
        slope.values.map((v) => -v),
      );
      node('Relu', [x], `${base}/positive`);
      node('Mul', [x, minusOne], `${base}/negated`);
      node('Relu', [`${base}/negated`], `${base}/negative`);
      node('Mul', [`${base}/negative`, minusSlope], `${base}/scaled`);
      node('Add', [`${base}/positive`, `${base}/scaled`], output);
      continue;
    }
    const slopeName = prelu.slopeName ?? initializer(`${base}/slope`, slope.dims, slope.values);
    used.add(slopeName);
    if (slope.values.every((v) => v <= 1)) {
      node('Mul', [x, slopeName], `${base}/scaled`);
      node('Max', [x, `${base}/scaled`], output);
    } else {
      node('PRelu', [x, slopeName], output);
    }
  }
  // The slopes the rewrite no longer reads are dropped: onnxruntime warns about each unused initializer.
  const dropped = new Set(prelus.flatMap((p) => p.replaced.flatMap((n) => n.inputs)).filter((i) => floats.has(i) && !used.has(i)));
  for (const f of fields) {
    if (f.field !== GRAPH_INITIALIZER || !(f.value instanceof Uint8Array)) continue;
    if (!dropped.has(text(readFields(f.value).find((t) => t.field === TENSOR_NAME)))) out.raw(f.raw);
  }
  for (const t of added) out.message(GRAPH_INITIALIZER, t);
  return out.finish();
}

/** A float tensor's values (raw little-endian data or packed `float_data`), or undefined for any other tensor. */
function floatValues(tensor: ProtoField[]): Float32Array | undefined {
  if (tensor.find((t) => t.field === TENSOR_DATA_TYPE)?.value !== FLOAT) return undefined;
  const data = tensor.find((t) => t.field === TENSOR_RAW_DATA || (t.field === TENSOR_FLOAT_DATA && t.wireType === 2))?.value;
  if (!(data instanceof Uint8Array) || data.byteLength % 4 !== 0) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return Float32Array.from({ length: data.byteLength / 4 }, (_, i) => view.getFloat32(i * 4, true));
}
