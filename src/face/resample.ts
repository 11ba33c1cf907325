import type { RgbImage } from './types.js';

/**
 * tfjs's two bilinear image samplers (`tf.image.resizeBilinear`, `tf.image.cropAndResize`) on 8-bit RGB pixels,
 * writing a network's float input (NHWC) straight into a caller's buffer. The networks around them were trained
 * and are run by Human with exactly these sampling conventions, so the same maths (from tfjs-backend-cpu's
 * reference kernels) keeps the native pipeline's inputs equal to Human's up to float rounding, without the
 * whole-image tensors and their copies.
 */

/**
 * `resizeBilinear(image, [height, width])` with tfjs's defaults (alignCorners and halfPixelCenters false: the
 * source of output pixel r is row r·inHeight/height), each value v written as v·scale + offset.
 */
export function resizeBilinear(image: RgbImage, width: number, height: number, scale: number, offset: number, out: Float32Array): void {
  const { data, width: inWidth, height: inHeight } = image;
  const rowRatio = inHeight / height;
  const colRatio = inWidth / width;
  const stride = inWidth * 3;
  let o = 0;
  for (let r = 0; r < height; r++) {
    const fy = rowRatio * r;
    const y0 = Math.max(0, Math.floor(fy));
    const dy = fy - y0;
    const top = y0 * stride;
    const bottom = Math.min(inHeight - 1, Math.ceil(fy)) * stride;
    for (let c = 0; c < width; c++) {
      const fx = colRatio * c;
      const x0 = Math.max(0, Math.floor(fx));
      const dx = fx - x0;
      const left = x0 * 3;
      const right = Math.min(inWidth - 1, Math.ceil(fx)) * 3;
      for (let k = 0; k < 3; k++) {
        const tl = data[top + left + k]!,
          tr = data[top + right + k]!;
        const bl = data[bottom + left + k]!,
          br = data[bottom + right + k]!;
        const t = tl + (tr - tl) * dx;
        const b = bl + (br - bl) * dx;
        out[o++] = (t + (b - t) * dy) * scale + offset;
      }
    }
  }
}

/**
 * `cropAndResize(image, [box], [0], [height, width])`, bilinear, extrapolation value 0: `box` is
 * `[y1, x1, y2, x2]` in units of the image's side minus one (x1 > x2 mirrors the crop), and output pixel (y, x)
 * samples the image at y1·(H−1) + y·(y2−y1)(H−1)/(height−1). Values are multiplied by `scale`; samples outside
 * the image are 0. Written at `at` in `out`, so several crops can fill one batch.
 */
export function cropAndResize(image: RgbImage, box: readonly [number, number, number, number], width: number, height: number, scale: number, out: Float32Array, at = 0): void {
  const { data, width: inWidth, height: inHeight } = image;
  const [y1, x1, y2, x2] = box;
  const heightScale = height > 1 ? ((y2 - y1) * (inHeight - 1)) / (height - 1) : 0;
  const widthScale = width > 1 ? ((x2 - x1) * (inWidth - 1)) / (width - 1) : 0;
  const stride = inWidth * 3;
  let o = at;
  for (let y = 0; y < height; y++) {
    const fy = height > 1 ? y1 * (inHeight - 1) + y * heightScale : 0.5 * (y1 + y2) * (inHeight - 1);
    if (fy < 0 || fy > inHeight - 1) {
      out.fill(0, o, o + width * 3);
      o += width * 3;
      continue;
    }
    const y0 = Math.floor(fy);
    const dy = fy - y0;
    const top = y0 * stride;
    const bottom = Math.ceil(fy) * stride;
    for (let x = 0; x < width; x++) {
      const fx = width > 1 ? x1 * (inWidth - 1) + x * widthScale : 0.5 * (x1 + x2) * (inWidth - 1);
      if (fx < 0 || fx > inWidth - 1) {
        out[o++] = 0;
        out[o++] = 0;
        out[o++] = 0;
        continue;
      }
      const x0 = Math.floor(fx);
      const dx = fx - x0;
      const left = x0 * 3;
      const right = Math.ceil(fx) * 3;
      for (let k = 0; k < 3; k++) {
        const tl = data[top + left + k]!,
          tr = data[top + right + k]!;
        const bl = data[bottom + left + k]!,
          br = data[bottom + right + k]!;
        const t = tl + (tr - tl) * dx;
        const b = bl + (br - bl) * dx;
        out[o++] = (t + (b - t) * dy) * scale;
      }
    }
  }
}
