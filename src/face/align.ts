import type { Point, RgbImage } from './types.js';

/**
 * A 2-D affine map as the first two rows of its 3x3 matrix, `[a, b, tx, c, d, ty]`:
 * x' = a·x + b·y + tx, y' = c·x + d·y + ty.
 */
export type Affine2x3 = readonly [number, number, number, number, number, number];

/**
 * The similarity transform (uniform scale, rotation, translation; no reflection or shear) that maps
 * `src` onto `dst` with the least squared error (Umeyama 1991, which in 2-D has this closed form).
 * Pixel coordinates follow the usual convention: the centre of pixel (i, j) is the point (i, j).
 */
export function estimateSimilarity(src: readonly Point[], dst: readonly Point[]): Affine2x3 {
  if (src.length !== dst.length || src.length < 2) {
    throw new RangeError('estimateSimilarity needs two equally long lists of at least two points');
  }
  const n = src.length;
  let sx = 0,
    sy = 0,
    dx = 0,
    dy = 0;
  for (let i = 0; i < n; i++) {
    sx += src[i]!.x;
    sy += src[i]!.y;
    dx += dst[i]!.x;
    dy += dst[i]!.y;
  }
  sx /= n;
  sy /= n;
  dx /= n;
  dy /= n;
  // With centred points, the best [a -b; b a] is ( Σ s·d , Σ s×d ) / Σ |s|².
  let dot = 0,
    cross = 0,
    norm = 0;
  for (let i = 0; i < n; i++) {
    const px = src[i]!.x - sx,
      py = src[i]!.y - sy;
    const qx = dst[i]!.x - dx,
      qy = dst[i]!.y - dy;
    dot += px * qx + py * qy;
    cross += px * qy - py * qx;
    norm += px * px + py * py;
  }
  if (norm === 0) throw new RangeError('estimateSimilarity: source points all coincide');
  const a = dot / norm,
    b = cross / norm;
  return [a, -b, dx - a * sx + b * sy, b, a, dy - b * sx - a * sy];
}

/** The map that undoes `m`. */
export function invertAffine(m: Affine2x3): Affine2x3 {
  const [a, b, tx, c, d, ty] = m;
  const det = a * d - b * c;
  if (det === 0) throw new RangeError('invertAffine: the map is singular');
  const ia = d / det,
    ib = -b / det,
    ic = -c / det,
    id = a / det;
  return [ia, ib, -(ia * tx + ib * ty), ic, id, -(ic * tx + id * ty)];
}

/** Applies `m` to a point. */
export function applyAffine(m: Affine2x3, p: Point): Point {
  return { x: m[0] * p.x + m[1] * p.y + m[2], y: m[3] * p.x + m[4] * p.y + m[5] };
}

/**
 * Resamples `image` into a `width`×`height` image whose pixel q shows the image at m⁻¹(q), where `m` maps
 * image coordinates to output coordinates. Bilinear interpolation; outside the image is black, as in
 * dlib's chip extraction. When the map shrinks the face (more than one source pixel per output pixel) each
 * output pixel averages a grid of bilinear samples, so a large face is not aliased the way a plain bilinear
 * lookup would alias it.
 */
export function warpAffine(image: RgbImage, m: Affine2x3, width: number, height: number): RgbImage {
  const inv = invertAffine(m);
  const [a, b, tx, c, d, ty] = inv;
  const sourcePixelsPerOutput = Math.sqrt(Math.abs(a * d - b * c));
  const grid = Math.max(1, Math.ceil(sourcePixelsPerOutput - 1e-9));
  const out = new Uint8Array(width * height * 3);
  const { data, width: w, height: h } = image;
  const weight = 1 / (grid * grid);
  // One loop nest with the bilinear sample written out: a chip is cut for every embedding, and a closure with an
  // array accumulator per sample cost a quarter more (4.5 against 3.5 ms CPU for a 112 px chip of a 654x634
  // image). The operations and their order are those of a plain bilinear lookup, so the chip is the same to the bit.
  for (let qy = 0; qy < height; qy++) {
    for (let qx = 0; qx < width; qx++) {
      let red = 0,
        green = 0,
        blue = 0;
      for (let sy = 0; sy < grid; sy++) {
        // Sub-sample offsets spread evenly inside the output pixel, centred on it.
        const oy = qy + (sy + 0.5) / grid - 0.5;
        for (let sx = 0; sx < grid; sx++) {
          const ox = qx + (sx + 0.5) / grid - 0.5;
          // Bilinear sample at (x, y); neighbours outside the image count as black.
          const x = a * ox + b * oy + tx,
            y = c * ox + d * oy + ty;
          const x0 = Math.floor(x),
            y0 = Math.floor(y);
          const fx = x - x0,
            fy = y - y0;
          if (x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h) {
            // All four neighbours inside (nearly every sample): the loop below unrolled, the same products added
            // in the same order (a zero weight adds an exact zero), so the chip stays the same to the bit.
            const w0 = weight * (1 - fy),
              w1 = weight * fy;
            const w00 = w0 * (1 - fx),
              w01 = w0 * fx,
              w10 = w1 * (1 - fx),
              w11 = w1 * fx;
            const o00 = (y0 * w + x0) * 3,
              o10 = o00 + w * 3;
            red += w00 * data[o00]!;
            green += w00 * data[o00 + 1]!;
            blue += w00 * data[o00 + 2]!;
            red += w01 * data[o00 + 3]!;
            green += w01 * data[o00 + 4]!;
            blue += w01 * data[o00 + 5]!;
            red += w10 * data[o10]!;
            green += w10 * data[o10 + 1]!;
            blue += w10 * data[o10 + 2]!;
            red += w11 * data[o10 + 3]!;
            green += w11 * data[o10 + 4]!;
            blue += w11 * data[o10 + 5]!;
            continue;
          }
          for (let j = 0; j < 2; j++) {
            const yy = y0 + j;
            if (yy < 0 || yy >= h) continue;
            const wy = weight * (j === 0 ? 1 - fy : fy);
            const row = yy * w;
            for (let i = 0; i < 2; i++) {
              const xx = x0 + i;
              if (xx < 0 || xx >= w) continue;
              const wxy = wy * (i === 0 ? 1 - fx : fx);
              if (wxy === 0) continue;
              const o = (row + xx) * 3;
              red += wxy * data[o]!;
              green += wxy * data[o + 1]!;
              blue += wxy * data[o + 2]!;
            }
          }
        }
      }
      const o = (qy * width + qx) * 3;
      out[o] = Math.round(red);
      out[o + 1] = Math.round(green);
      out[o + 2] = Math.round(blue);
    }
  }
  return { data: out, width, height };
}
