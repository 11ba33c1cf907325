import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { MedfaceError, type ErrorCode } from '../../src/errors.js';
import { DEFAULT_IMAGE_LIMITS, decodeImage } from '../../src/face/image.js';
import { FACE_API_DIR } from '../../src/face/runtime.js';

const SAMPLE = readFileSync(path.join(FACE_API_DIR, 'demo', 'sample1.jpg'));

async function refusal(bytes: Uint8Array, limits?: Parameters<typeof decodeImage>[1]): Promise<ErrorCode> {
  try {
    await decodeImage(bytes, limits);
  } catch (e) {
    expect(e).toBeInstanceOf(MedfaceError);
    return (e as MedfaceError).code;
  }
  throw new Error('decodeImage accepted bytes it should have refused');
}

/** A 40x20 image whose left half is red and right half blue, so orientation and colour can be checked. */
async function twoTone(channels: 3 | 4 = 3): Promise<Sharp> {
  const w = 40;
  const h = 20;
  const px = Buffer.alloc(w * h * channels);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * channels;
      px[i] = x < w / 2 ? 255 : 0;
      px[i + 2] = x < w / 2 ? 0 : 255;
      if (channels === 4) px[i + 3] = 255;
    }
  }
  return sharp(px, { raw: { width: w, height: h, channels } });
}

function pixel(img: { data: Uint8Array; width: number }, x: number, y: number): number[] {
  const i = (y * img.width + x) * 3;
  return [img.data[i]!, img.data[i + 1]!, img.data[i + 2]!];
}

/** Rewrites the frame size in a baseline JPEG's SOF0 segment, leaving the (small) pixel data as it is. */
function forgeJpegSize(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let i = 2; i < out.length - 9;) {
    if (out[i] !== 0xff) throw new Error('not at a JPEG marker');
    const marker = out[i + 1]!;
    const length = out.readUInt16BE(i + 2);
    if (marker === 0xc0) {
      out.writeUInt16BE(height, i + 5);
      out.writeUInt16BE(width, i + 7);
      return out;
    }
    i += 2 + length;
  }
  throw new Error('no SOF0 segment');
}

describe('decodeImage: accepted formats', () => {
  it('decodes a real JPEG photo to 8-bit RGB', async () => {
    const img = await decodeImage(SAMPLE);
    const meta = await sharp(SAMPLE).metadata();
    expect(img.format).toBe('jpeg');
    expect([img.width, img.height]).toEqual([meta.width, meta.height]);
    expect(img.data.length).toBe(img.width * img.height * 3);
  });

  const encoders: Array<[string, (s: Sharp) => Sharp]> = [
    ['jpeg', (s) => s.jpeg({ quality: 95 })],
    ['png', (s) => s.png()],
    ['webp', (s) => s.webp({ lossless: true })],
    ['gif', (s) => s.gif()],
    ['tiff', (s) => s.tiff()],
    ['avif', (s) => s.avif({ lossless: true })],
  ];
  for (const [format, encode] of encoders) {
    it(`round-trips ${format}`, async () => {
      const bytes = await encode(await twoTone()).toBuffer();
      const img = await decodeImage(bytes);
      expect(img.format).toBe(format);
      expect([img.width, img.height]).toEqual([40, 20]);
      expect(img.data.length).toBe(40 * 20 * 3);
      const [lr, , lb] = pixel(img, 5, 10);
      const [rr, , rb] = pixel(img, 35, 10);
      expect(lr).toBeGreaterThan(200);
      expect(lb).toBeLessThan(60);
      expect(rr).toBeLessThan(60);
      expect(rb).toBeGreaterThan(200);
    });
  }

  it('applies EXIF orientation 6 (rotate 90° clockwise), swapping width and height', async () => {
    const bytes = await (await twoTone()).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    const img = await decodeImage(bytes);
    expect([img.width, img.height]).toEqual([20, 40]);
    // Turned clockwise, the red left half of the stored image ends up on top.
    expect(pixel(img, 10, 5)[0]).toBeGreaterThan(200);
    expect(pixel(img, 10, 35)[2]).toBeGreaterThan(200);
  });

  it('gives greyscale input three equal channels', async () => {
    const bytes = await sharp(SAMPLE).resize(64).toColourspace('b-w').png().toBuffer();
    expect((await sharp(bytes).metadata()).channels).toBe(1);
    const img = await decodeImage(bytes);
    expect(img.data.length).toBe(img.width * img.height * 3);
    const [r, g, b] = pixel(img, 30, 20);
    expect(r).toBe(g);
    expect(g).toBe(b);
  });

  it('flattens RGBA onto white: transparent pixels become white, opaque ones keep their colour', async () => {
    const w = 10;
    const px = Buffer.alloc(w * w * 4);
    for (let i = 0; i < w * w; i++) {
      px[i * 4 + 2] = 255; // blue...
      px[i * 4 + 3] = i < (w * w) / 2 ? 0 : 255; // ...transparent in the top half
    }
    const bytes = await sharp(px, { raw: { width: w, height: w, channels: 4 } })
      .png()
      .toBuffer();
    const img = await decodeImage(bytes);
    expect(img.data.length).toBe(w * w * 3);
    expect(pixel(img, 2, 1)).toEqual([255, 255, 255]);
    expect(pixel(img, 2, 8)).toEqual([0, 0, 255]);
  });

  it('takes the first frame of an animated GIF', async () => {
    const frame = (r: number, b: number) => Buffer.alloc(20 * 10 * 3).map((_, i) => (i % 3 === 0 ? r : i % 3 === 2 ? b : 0));
    const frames = Buffer.concat([frame(255, 0), frame(0, 255)]);
    const bytes = await sharp(frames, { raw: { width: 20, height: 20, channels: 3, pageHeight: 10 } })
      .gif()
      .toBuffer();
    expect((await sharp(bytes).metadata()).pages).toBe(2);
    const img = await decodeImage(bytes);
    expect([img.width, img.height]).toEqual([20, 10]);
    expect(pixel(img, 10, 5)).toEqual([255, 0, 0]);
  });
});

describe('decodeImage: refusals', () => {
  it('refuses zero bytes with EMPTY_IMAGE', async () => {
    expect(await refusal(new Uint8Array(0))).toBe('EMPTY_IMAGE');
  });

  it('refuses more bytes than the limit with IMAGE_TOO_LARGE, before looking at them', async () => {
    expect(await refusal(SAMPLE, { maxBytes: SAMPLE.length - 1 })).toBe('IMAGE_TOO_LARGE');
    expect(await refusal(new Uint8Array(DEFAULT_IMAGE_LIMITS.maxBytes + 1))).toBe('IMAGE_TOO_LARGE');
  });

  it('refuses a truncated JPEG with CORRUPT_IMAGE', async () => {
    expect(await refusal(SAMPLE.subarray(0, Math.floor(SAMPLE.length / 2)))).toBe('CORRUPT_IMAGE');
  });

  it('refuses a JPEG signature followed by garbage with CORRUPT_IMAGE', async () => {
    const bytes = Buffer.from(SAMPLE);
    for (let i = 4; i < bytes.length; i++) bytes[i] = (i * 7919) & 0xff;
    expect(await refusal(bytes)).toBe('CORRUPT_IMAGE');
  });

  it('refuses a PNG whose pixel data is corrupt with CORRUPT_IMAGE', async () => {
    const png = await sharp(SAMPLE).resize(64).png().toBuffer();
    const idat = png.indexOf('IDAT');
    for (let i = idat + 8; i < idat + 200; i++) png[i] = png[i]! ^ 0x5a;
    expect(await refusal(png)).toBe('CORRUPT_IMAGE');
  });

  it('refuses a real decompression bomb (8000x8000 PNG of a few hundred kB) with IMAGE_DIMENSIONS_TOO_LARGE', async () => {
    const bomb = await sharp({ create: { width: 8000, height: 8000, channels: 3, background: '#808080' } })
      .png({ compressionLevel: 9 })
      .toBuffer();
    expect(bomb.length).toBeLessThan(DEFAULT_IMAGE_LIMITS.maxBytes);
    expect(await refusal(bomb)).toBe('IMAGE_DIMENSIONS_TOO_LARGE');
  });

  it('refuses an image over a lowered pixel limit', async () => {
    const png = await sharp(SAMPLE).resize(100, 100).png().toBuffer();
    expect(await refusal(png, { maxPixels: 99 * 100 })).toBe('IMAGE_DIMENSIONS_TOO_LARGE');
    await expect(decodeImage(png, { maxPixels: 100 * 100 })).resolves.toMatchObject({ width: 100, height: 100 });
  });

  it('refuses a forged 30000x30000 header from its metadata, before decoding the pixels', async () => {
    const small = await sharp(SAMPLE).resize(16, 16).jpeg({ progressive: false }).toBuffer();
    const forged = forgeJpegSize(small, 30000, 30000);
    const meta = await sharp(forged, { limitInputPixels: false }).metadata();
    expect([meta.width, meta.height]).toEqual([30000, 30000]);
    expect(await refusal(forged)).toBe('IMAGE_DIMENSIONS_TOO_LARGE');
    // The same forgery within the limit is decoded and found corrupt (the data is for 16x16): so the refusal above
    // came from the header, before any decode.
    expect(await refusal(forgeJpegSize(small, 1000, 1000))).toBe('CORRUPT_IMAGE');
  });

  it('refuses plain text with UNSUPPORTED_FORMAT', async () => {
    expect(await refusal(new TextEncoder().encode('name,identity\nalice,1\n'))).toBe('UNSUPPORTED_FORMAT');
  });

  it('refuses a PDF with UNSUPPORTED_FORMAT', async () => {
    expect(await refusal(new TextEncoder().encode('%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n'))).toBe('UNSUPPORTED_FORMAT');
  });

  it('refuses SVG (which sharp could render) with UNSUPPORTED_FORMAT', async () => {
    const svg = new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle cx="32" cy="32" r="20"/></svg>');
    expect((await sharp(svg).metadata()).format).toBe('svg');
    expect(await refusal(svg)).toBe('UNSUPPORTED_FORMAT');
  });
});
