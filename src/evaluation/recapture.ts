/**
 * A printed-photo attack simulated from a face photo, for testing and measuring the passive liveness score
 * (src/face/passive-liveness.ts) without photographing anybody: the photo is "printed" (ink gamut: raised blacks,
 * dimmed whites, weaker colour; a halftone dot screen) and "re-photographed" (the camera's optics blur it, its
 * sensor samples it more coarsely, it is saved as JPEG). It is a proxy for a real print attack, never a
 * measurement of one: it holds none of paper texture, glare, bending or a real printer's dithering.
 */
import sharp from 'sharp';

export interface RecaptureOptions {
  /** Output level of black and white ink, 0..255 (a print's contrast range is narrower than a screen's). */
  black: number;
  white: number;
  /** Saturation kept by the ink gamut, 0..1. */
  saturation: number;
  /** Halftone screen: period in pixels of the rotated dot grid, and how deep the dots modulate the ink (0..1). */
  halftonePeriod: number;
  halftoneDepth: number;
  /** The re-photographing camera: optical blur (Gaussian sigma, px) and the fraction of resolution it keeps. */
  blurSigma: number;
  resolution: number;
  jpegQuality: number;
}

export const DEFAULT_RECAPTURE: Readonly<RecaptureOptions> = {
  black: 30,
  white: 225,
  saturation: 0.7,
  halftonePeriod: 4,
  halftoneDepth: 0.15,
  blurSigma: 1,
  resolution: 0.6,
  jpegQuality: 85,
};

/** The image (any format sharp reads) printed and re-photographed, as JPEG bytes of the same size. */
export async function simulatePrintRecapture(bytes: Uint8Array, options: Partial<RecaptureOptions> = {}): Promise<Buffer> {
  const o = { ...DEFAULT_RECAPTURE, ...options };
  const { data, info } = await sharp(bytes).rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  const { width, height } = info;
  const printed = Buffer.alloc(width * height * 3);
  // A dot screen at 45°, as printers lay one down.
  const k = (2 * Math.PI) / (o.halftonePeriod * Math.SQRT2);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const r = data[i]!,
        g = data[i + 1]!,
        b = data[i + 2]!;
      const luma = 0.299 * r + 0.587 * g + 0.114 * b;
      const dots = 1 - o.halftoneDepth * (0.5 + 0.5 * Math.cos(k * (x + y)) * Math.cos(k * (x - y)));
      for (let c = 0; c < 3; c++) {
        const v = luma + o.saturation * (data[i + c]! - luma);
        printed[i + c] = Math.round(Math.min(255, Math.max(0, (o.black + ((o.white - o.black) * v) / 255) * dots)));
      }
    }
  }
  const small = await sharp(printed, { raw: { width, height, channels: 3 } })
    .blur(o.blurSigma)
    .resize(Math.max(1, Math.round(width * o.resolution)), Math.max(1, Math.round(height * o.resolution)))
    .raw()
    .toBuffer({ resolveWithObject: true });
  return sharp(small.data, { raw: { width: small.info.width, height: small.info.height, channels: 3 } })
    .resize(width, height)
    .jpeg({ quality: o.jpegQuality })
    .toBuffer();
}

/**
 * A screen-replay attack simulated from a face photo: the photo shown on an RGB-stripe display (each pixel three
 * coloured sub-pixel columns, emissive, a little more saturated) and photographed by a camera whose pixel grid
 * does not line up with the screen's (slightly rotated and scaled, so the sub-pixel grid aliases into moiré).
 * A proxy for a phone or monitor held up to the camera, not a measurement of one: no glare, bezel or refresh.
 */
export async function simulateScreenReplay(bytes: Uint8Array): Promise<Buffer> {
  const { data, info } = await sharp(bytes).rotate().removeAlpha().toColourspace('srgb').modulate({ saturation: 1.15 }).raw().toBuffer({ resolveWithObject: true });
  const { width, height } = info;
  const sub = 3;
  const screen = Buffer.alloc(width * sub * height * sub * 3);
  for (let y = 0; y < height * sub; y++) {
    for (let x = 0; x < width * sub; x++) {
      const i = (Math.floor(y / sub) * width + Math.floor(x / sub)) * 3;
      const o = (y * width * sub + x) * 3;
      // One lit sub-pixel column per colour; the row gap between pixels stays dark.
      const lit = y % sub !== sub - 1;
      for (let c = 0; c < 3; c++) screen[o + c] = lit && x % sub === c ? data[i + c]! : Math.round(data[i + c]! * 0.1);
    }
  }
  // Sub-pixels emit three times the light of one channel averaged over a pixel: restore the brightness.
  const photographed = await sharp(screen, { raw: { width: width * sub, height: height * sub, channels: 3 } })
    .linear(3, 0)
    .rotate(2, { background: '#000000' })
    .blur(0.8)
    .resize(Math.round(width * 0.93), Math.round(height * 0.93), { kernel: 'linear' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return sharp(photographed.data, { raw: { width: photographed.info.width, height: photographed.info.height, channels: 3 } })
    .resize(width, height)
    .jpeg({ quality: 85 })
    .toBuffer();
}
