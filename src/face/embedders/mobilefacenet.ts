import { arcfaceChip } from './arcface-chip.js';
import { GraphModelEmbedder, humanModelsFile, type GraphEmbedderSpec, type GraphTopology } from './graph-model.js';

/**
 * sirius-ai's MobileFaceNet_TF (Apache-2.0; 192-D, trained on InsightFace's MS1M 112x112 chips), as converted
 * for Human. Its training pipeline decodes the chips as RGB and feeds (x − 127.5) / 128, on the ArcFace
 * five-point alignment. The converted graph computes its PReLUs wrongly (see `repairPrelu`), which, with Human's unaligned
 * 0..1 input, is why its outputs looked nearly constant there.
 */
export const MOBILEFACENET_SPEC: GraphEmbedderSpec = {
  id: 'mobilefacenet@1',
  dimensions: 192,
  modelFile: () => humanModelsFile('mobilefacenet.json'),
  chip: arcfaceChip,
  normalise: (pixels) => {
    for (let i = 0; i < pixels.length; i++) pixels[i] = (pixels[i]! - 127.5) / 128;
  },
  repair: repairPrelu,
};

export const MOBILEFACENET_EMBEDDER_ID = `${MOBILEFACENET_SPEC.id}+flip`;

export function createMobileFaceNetEmbedder(flip = true): GraphModelEmbedder {
  return new GraphModelEmbedder(MOBILEFACENET_SPEC, flip);
}

/**
 * The network's PReLU is written as relu(x) + c·(x − |x|) with c = α/2, and the converted graph gets it
 * wrong twice:
 * - the Relu of every depthwise convolution was fused into the convolution, while `Abs` and `Sub` kept
 *   reading the fused output; they see relu(x), the negative half is always 0 and each PReLU became a ReLU;
 * - the slope constants c carry the wrong sign. Measured on 100 lfw-dev pairs (scratch probe, ArcFace chips):
 *   ROC AUC 0.73 with the relu repair alone, 0.997 with the sign flipped too; flipping only the depthwise or
 *   only the pointwise slopes, or scaling them by 0.5 or 2, stays below 0.77.
 * This takes the Relu back out of each such convolution and gives it to the `Add` alone, and computes the
 * negative half as c·(|x| − x) by swapping the operands of each PReLU's `Sub`. On the native runtime,
 * `rewritePrelus` (src/face/onnx/prelu.ts) then runs each repaired relu(x) + c·(|x| − x) as one PReLU of slope −2c.
 */
export function repairPrelu(topology: GraphTopology): void {
  const byName = new Map(topology.node.map((n) => [n.name, n]));
  const consumers = new Map<string, GraphTopology['node']>();
  for (const node of topology.node) {
    for (const input of node.input ?? []) {
      const name = input.split(':')[0]!;
      consumers.set(name, [...(consumers.get(name) ?? []), node]);
    }
  }
  const added: GraphTopology['node'] = [];
  for (const node of topology.node) {
    // Sub(x, Abs(x)) is the negative half of a PReLU.
    const [x, abs] = node.input ?? [];
    if (node.op === 'Sub' && x && abs && byName.get(abs)?.op === 'Abs' && byName.get(abs)?.input?.[0] === x) {
      node.input = [abs, x];
    }
    const fused = (node.attr?.fused_ops as { list?: { s?: string[] } } | undefined)?.list;
    const readers = consumers.get(node.name) ?? [];
    if (!fused?.s || Buffer.from(fused.s.at(-1) ?? '', 'base64').toString() !== 'Relu' || !readers.some((r) => r.op === 'Abs')) continue;
    fused.s = fused.s.slice(0, -1);
    const relu = { name: `${node.name}/prelu_relu`, op: 'Relu', input: [node.name], attr: { T: { type: 'DT_FLOAT' } } };
    added.push(relu);
    for (const reader of readers) {
      if (reader.op === 'Add' || reader.op === 'AddV2') reader.input = reader.input!.map((i) => (i === node.name ? relu.name : i));
    }
  }
  topology.node.push(...added);
}
