import path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs-core';
import { estimateSimilarity, warpAffine, type Affine2x3 } from '../align.js';
import { FACE_API_DIR, fileModelHandler, initTf } from '../runtime.js';
import type { DetectedFace, Point, RgbImage } from '../types.js';
import { LoadOnce, type ChipCutter, type ChipEmbedder } from './types.js';

type Tf = typeof tfTypes;

export const DLIB_EMBEDDER_ID = 'dlib-resnet@1+flip';

/** Side of dlib's face chip, and its padding around the mean face shape (dlib_face_recognition_resnet_model_v1). */
const CHIP_SIZE = 150;
const CHIP_PADDING = 0.25;

/**
 * dlib's mean face shape for iBUG-68 points 17..67 in unit coordinates (dlib/image_transforms/interpolation.h,
 * `get_face_chip_details`), indexed here by iBUG number.
 */
const MEAN_FACE_X = [
  0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124, 0.904991, 0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036, 0.490127, 0.554217, 0.613373,
  0.121737, 0.187122, 0.265825, 0.334606, 0.260918, 0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149, 0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159,
  0.556721, 0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874, 0.553364, 0.490127, 0.42689,
];
const MEAN_FACE_Y = [
  0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891, 0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326, 0.609345, 0.628106, 0.609345, 0.587326,
  0.216423, 0.178758, 0.179852, 0.231733, 0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099, 0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233,
  0.864805, 0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746, 0.784792, 0.824182, 0.831803, 0.824182,
];
const MEAN_FACE_FIRST = 17;

/**
 * The iBUG-68 points dlib aligns on (nose 27-35, eyes 36-47, upper lip 48-54 and 60-64: eyebrows, jaw and
 * lower lip move too much), each as the MediaPipe face-mesh vertices that sit where the iBUG annotation
 * puts it (averaged when the iBUG point falls between two vertices).
 */
const IBUG_FROM_MESH: ReadonlyArray<readonly [number, readonly number[]]> = [
  [27, [168, 6]],
  [28, [197, 195]],
  [29, [5]],
  [30, [4]],
  [31, [98]],
  [32, [97]],
  [33, [2]],
  [34, [326]],
  [35, [327]],
  [36, [33]],
  [37, [160]],
  [38, [158]],
  [39, [133]],
  [40, [153]],
  [41, [144]],
  [42, [362]],
  [43, [385]],
  [44, [387]],
  [45, [263]],
  [46, [373]],
  [47, [380]],
  [48, [61]],
  [49, [39]],
  [50, [37]],
  [51, [0]],
  [52, [267]],
  [53, [269]],
  [54, [291]],
  [60, [78]],
  [61, [82]],
  [62, [13]],
  [63, [312]],
  [64, [308]],
];

/** Where each alignment point lands on the chip (dlib: (padding + mean) / (2·padding + 1) · size). */
const CHIP_TARGETS: readonly Point[] = IBUG_FROM_MESH.map(([ibug]) => ({
  x: ((CHIP_PADDING + MEAN_FACE_X[ibug - MEAN_FACE_FIRST]!) / (2 * CHIP_PADDING + 1)) * CHIP_SIZE,
  y: ((CHIP_PADDING + MEAN_FACE_Y[ibug - MEAN_FACE_FIRST]!) / (2 * CHIP_PADDING + 1)) * CHIP_SIZE,
}));

/** dlib's input layer subtracts this mean colour and divides by 256 (input_rgb_image_sized). */
const MEAN_RGB = [122.782, 117.001, 104.298] as const;
const INPUT_SCALE = 1 / 256;

const MODEL_MANIFEST = path.join(FACE_API_DIR, 'model', 'face_recognition_model-weights_manifest.json');

/**
 * The map from image pixels to dlib's 150x150 face chip for a detected face: the least-squares similarity
 * from the face's landmarks to dlib's mean face shape, as `get_face_chip_details(shape, 150, 0.25)` builds it.
 * dlib then samples its chip so that chip columns 0..149 span 150 chip units (its extraction rectangle is
 * `size·scale` wide), a 150/149 stretch reproduced here so the crop matches the training data.
 */
export function dlibChipTransform(face: DetectedFace): Affine2x3 {
  const from = IBUG_FROM_MESH.map(([, vertices]) => meanPoint(face.mesh, vertices));
  const [a, b, tx, c, d, ty] = estimateSimilarity(from, CHIP_TARGETS);
  const k = (CHIP_SIZE - 1) / CHIP_SIZE;
  return [a * k, b * k, tx * k, c * k, d * k, ty * k];
}

/** The aligned 150x150 RGB chip dlib's network expects for `face`. */
export function dlibChip(image: RgbImage, face: DetectedFace): RgbImage {
  return warpAffine(image, dlibChipTransform(face), CHIP_SIZE, CHIP_SIZE);
}

function meanPoint(mesh: readonly Point[], vertices: readonly number[]): Point {
  let x = 0,
    y = 0;
  for (const v of vertices) {
    const p = mesh[v];
    if (!p) throw new RangeError(`face mesh has no vertex ${v}`);
    x += p.x;
    y += p.y;
  }
  return { x: x / vertices.length, y: y / vertices.length };
}

/**
 * Residual blocks of dlib's ResNet in order, by their weight-name prefix; `down` blocks halve the resolution
 * (and may widen the channels).
 */
const RESIDUAL_BLOCKS: ReadonlyArray<readonly [string, boolean]> = [
  ['conv32_1', false],
  ['conv32_2', false],
  ['conv32_3', false],
  ['conv64_down', true],
  ['conv64_1', false],
  ['conv64_2', false],
  ['conv64_3', false],
  ['conv128_down', true],
  ['conv128_1', false],
  ['conv128_2', false],
  ['conv256_down', true],
  ['conv256_1', false],
  ['conv256_2', false],
  ['conv256_down_out', true],
];

/** Every convolution layer's weight-name prefix. */
const CONV_LAYERS = ['conv32_down', ...RESIDUAL_BLOCKS.flatMap(([name]) => [`${name}/conv1`, `${name}/conv2`])];

/**
 * dlib's 128-D face recognition ResNet (dlib_face_recognition_resnet_model_v1, 29 conv layers), run on
 * tfjs-core ops with the weights face-api ships. Each face is embedded together with its mirror image in one
 * batch of two and the two descriptors averaged (flip test-time augmentation), then L2-normalised.
 */
export class DlibEmbedder implements ChipEmbedder {
  readonly id = DLIB_EMBEDDER_ID;
  readonly dimensions = 128;
  readonly chip: ChipCutter = dlibChip;
  private tf: Tf | undefined;
  /** Folded weights: `<layer>/filters` and `<layer>/bias` for each of CONV_LAYERS, and `fc`. */
  private params: tfTypes.NamedTensorMap | undefined;
  private readonly loading = new LoadOnce();

  load(): Promise<void> {
    return this.loading.run(() => this.loadParams());
  }

  embed(image: RgbImage, face: DetectedFace): Promise<Float32Array> {
    return this.embedChip(dlibChip(image, face));
  }

  /** The embedding of an already aligned 150x150 chip (see `dlibChip`). */
  async embedChip(chip: RgbImage): Promise<Float32Array> {
    const tf = this.tf;
    const params = this.params;
    if (!tf || !params) throw new Error('DlibEmbedder: load() must finish before embed()');
    if (chip.width !== CHIP_SIZE || chip.height !== CHIP_SIZE) throw new RangeError('dlib chips are 150x150');
    const batch = mirroredPair(chip);
    const descriptor = tf.tidy(() => {
      const input = tf.tensor4d(batch, [2, CHIP_SIZE, CHIP_SIZE, 3]);
      const both = forward(tf, params, input);
      const mean = tf.mean(both, 0);
      return tf.div(mean, tf.norm(mean));
    });
    try {
      return new Float32Array(await descriptor.data());
    } finally {
      descriptor.dispose();
    }
  }

  dispose(): void {
    for (const t of Object.values(this.params ?? {})) t.dispose();
    this.params = undefined;
    this.loading.reset();
  }

  private async loadParams(): Promise<void> {
    const tf = await initTf();
    const artifacts = await fileModelHandler(MODEL_MANIFEST).load?.();
    if (!artifacts?.weightData || !artifacts.weightSpecs) throw new Error('dlib face recognition weights missing');
    const weights = tf.io.decodeWeights(artifacts.weightData, artifacts.weightSpecs);
    try {
      this.params = tf.tidy(() => foldParams(tf, weights));
    } finally {
      for (const t of Object.values(weights)) t.dispose();
    }
    this.tf = tf;
  }
}

/**
 * Folds what dlib applies after each convolution (bias, then a per-channel affine "scale" layer) into the
 * convolution itself, so inference runs one fused conv+bias(+relu) per layer. The input normalisation is
 * folded into the first convolution too: it is 'valid'-padded, so (x − mean)/256 ∗ W equals
 * x ∗ (W/256) − Σ W·mean/256 exactly, and the network can take raw 0..255 pixels.
 */
function foldParams(tf: Tf, w: tfTypes.NamedTensorMap): tfTypes.NamedTensorMap {
  const take = (name: string): tfTypes.Tensor => {
    const t = w[name];
    if (!t) throw new Error(`dlib face recognition weights lack ${name}`);
    return t;
  };
  const folded: tfTypes.NamedTensorMap = {};
  for (const layer of CONV_LAYERS) {
    const scale = take(`${layer}/scale/weights`);
    folded[`${layer}/filters`] = tf.mul(take(`${layer}/conv/filters`), scale);
    folded[`${layer}/bias`] = tf.add(tf.mul(take(`${layer}/conv/bias`), scale), take(`${layer}/scale/biases`));
  }
  const filters = tf.mul(folded['conv32_down/filters']!, INPUT_SCALE);
  const meanResponse = tf.sum(tf.mul(filters, tf.reshape(tf.tensor1d([...MEAN_RGB]), [1, 1, 3, 1])), [0, 1, 2]);
  folded['conv32_down/filters'] = filters;
  folded['conv32_down/bias'] = tf.sub(folded['conv32_down/bias']!, meanResponse);
  folded.fc = tf.clone(take('fc'));
  return folded;
}

/** Raw descriptors [batch, 128] for chips of raw 0..255 RGB, [batch, 150, 150, 3]. */
function forward(tf: Tf, params: tfTypes.NamedTensorMap, input: tfTypes.Tensor4D): tfTypes.Tensor2D {
  const conv = (x: tfTypes.Tensor4D, layer: string, stride: 1 | 2, relu: boolean): tfTypes.Tensor4D =>
    tf.fused.conv2d({
      x,
      filter: params[`${layer}/filters`] as tfTypes.Tensor4D,
      bias: params[`${layer}/bias`],
      strides: stride,
      // dlib pads stride-1 convolutions to keep the size and does not pad strided ones.
      pad: stride === 1 ? 'same' : 'valid',
      activation: relu ? 'relu' : 'linear',
    });

  let out = tf.maxPool(conv(input, 'conv32_down', 2, true), 3, 2, 'valid');
  for (const [name, down] of RESIDUAL_BLOCKS) {
    let branch = conv(conv(out, `${name}/conv1`, down ? 2 : 1, true), `${name}/conv2`, 1, false);
    let shortcut = out;
    if (down) {
      shortcut = tf.avgPool(out, 2, 2, 'valid');
      // dlib's add_prev zero-pads the smaller operand: extra channels on the shortcut, and an extra row and
      // column on the branch where an odd size made the strided convolution one smaller than the pooling.
      const extraChannels = branch.shape[3] - shortcut.shape[3];
      if (extraChannels > 0)
        shortcut = tf.pad(shortcut, [
          [0, 0],
          [0, 0],
          [0, 0],
          [0, extraChannels],
        ]);
      const extraRows = shortcut.shape[1] - branch.shape[1];
      const extraCols = shortcut.shape[2] - branch.shape[2];
      if (extraRows > 0 || extraCols > 0)
        branch = tf.pad(branch, [
          [0, 0],
          [0, extraRows],
          [0, extraCols],
          [0, 0],
        ]);
    }
    out = tf.relu(tf.add(branch, shortcut)) as tfTypes.Tensor4D;
  }
  return tf.matMul(tf.mean(out, [1, 2]) as tfTypes.Tensor2D, params.fc as tfTypes.Tensor2D);
}

/** The chip and its left-right mirror as one float batch [2, 150, 150, 3]. */
function mirroredPair(chip: RgbImage): Float32Array {
  const { data, width, height } = chip;
  const plane = width * height * 3;
  const out = new Float32Array(plane * 2);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const src = (y * width + x) * 3;
      const dst = plane + (y * width + (width - 1 - x)) * 3;
      out[src] = data[src]!;
      out[src + 1] = data[src + 1]!;
      out[src + 2] = data[src + 2]!;
      out[dst] = data[src]!;
      out[dst + 1] = data[src + 1]!;
      out[dst + 2] = data[src + 2]!;
    }
  }
  return out;
}
