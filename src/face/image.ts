import sharp, { type Metadata, type OutputInfo, type SharpOptions } from 'sharp';
import { MedfaceError } from '../errors.js';
import { DEFAULT_IMAGE_LIMITS, type ImageLimits } from './limits.js';
import type { RgbImage } from './types.js';

export { DEFAULT_IMAGE_LIMITS, IMAGE_LIMITS, type ImageLimits } from './limits.js';

/** Decoded pixels plus the container format they came from (`jpeg`, `png`, `webp`, `gif`, `tiff`, `avif`). */
export type DecodedImage = RgbImage & { format: string };

/**
 * Signatures of the accepted containers. Sniffing them ourselves means bytes of any other kind (SVG, PDF, text)
 * never reach a decoder at all: SVG in particular would be handed to an XML parser and a renderer.
 */
const SIGNATURES: ReadonlyArray<{ family: string; offset: number; bytes: readonly number[] }> = [
  { family: 'jpeg', offset: 0, bytes: [0xff, 0xd8, 0xff] },
  { family: 'png', offset: 0, bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] },
  { family: 'gif', offset: 0, bytes: [0x47, 0x49, 0x46, 0x38] }, // GIF8
  { family: 'webp', offset: 8, bytes: [0x57, 0x45, 0x42, 0x50] }, // RIFF....WEBP
  { family: 'tiff', offset: 0, bytes: [0x49, 0x49, 0x2a, 0x00] }, // little-endian
  { family: 'tiff', offset: 0, bytes: [0x4d, 0x4d, 0x00, 0x2a] }, // big-endian
  { family: 'avif', offset: 4, bytes: [0x66, 0x74, 0x79, 0x70] }, // ISO BMFF 'ftyp': HEIC shares it, refused below
];

function sniffFamily(bytes: Uint8Array): string | undefined {
  return SIGNATURES.find((s) => s.bytes.every((b, i) => bytes[s.offset + i] === b))?.family;
}

/**
 * Turns untrusted image bytes into 8-bit RGB with EXIF orientation applied, in one pass of the decoder.
 *
 * Order matters for safety: byte size, then the container signature, and only then the decoder, which is given
 * the pixel limit: sharp compares the header's dimensions with it before allocating any pixel memory, so a tiny
 * file that claims a huge canvas (a decompression bomb) is refused before it is decoded. Only when decoding fails
 * is the header read on its own, to say why (see `refusal`). Animated GIF/WebP and multi-page TIFF give their
 * first frame.
 */
export async function decodeImage(bytes: Uint8Array, limits?: Partial<ImageLimits>): Promise<DecodedImage> {
  const { maxBytes, maxPixels } = { ...DEFAULT_IMAGE_LIMITS, ...limits };
  if (bytes.length === 0) throw new MedfaceError('EMPTY_IMAGE', 'The image is empty (0 bytes).');
  if (bytes.length > maxBytes) {
    throw new MedfaceError('IMAGE_TOO_LARGE', `The image is ${bytes.length} bytes; the limit is ${maxBytes}.`, {
      bytes: bytes.length,
      maxBytes,
    });
  }
  const family = sniffFamily(bytes);
  if (!family) {
    throw new MedfaceError('UNSUPPORTED_FORMAT', 'Not an accepted image format (JPEG, PNG, WebP, GIF, TIFF or AVIF).');
  }
  // Every other signature names its decoder, but AVIF and HEIC share ISO BMFF's: only the header tells them apart.
  if (family === 'avif') checkHeader(await readHeader(bytes, family), family, maxPixels);

  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await sharp(bytes, { ...DECODE_OPTIONS, limitInputPixels: maxPixels })
      // Transparent pixels carry whatever colour the encoder left under them (often black); white gives every
      // such image the same neutral, light background a face photo is expected to have.
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch {
    throw await refusal(bytes, family, maxPixels);
  }
  const { data, info } = decoded;
  if (info.channels !== 3) {
    throw new MedfaceError('CORRUPT_IMAGE', `The ${family} image decoded to ${info.channels} channels.`, { format: family });
  }
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    width: info.width,
    height: info.height,
    format: family,
  };
}

/** failOn 'warning' (sharp's advice for untrusted input): a JPEG whose data ends early is refused, not grey-filled. */
const DECODE_OPTIONS: SharpOptions = { pages: 1, page: 0, autoOrient: true, failOn: 'warning' };

/** The header's format and dimensions (sharp's metadata reads headers only); CORRUPT_IMAGE when unreadable. */
async function readHeader(bytes: Uint8Array, family: string): Promise<{ format: string; width: number; height: number }> {
  let meta: Metadata;
  try {
    // No pixel limit here: sharp would refuse an oversized header with an error indistinguishable from a corrupt one.
    meta = await sharp(bytes, { ...DECODE_OPTIONS, limitInputPixels: false }).metadata();
  } catch {
    throw new MedfaceError('CORRUPT_IMAGE', `The ${family} header could not be read.`, { format: family });
  }
  // libheif reads HEIC headers too, but this build of sharp can only decode the AV1 flavour.
  const format = meta.format === 'heif' ? (meta.compression === 'av1' ? 'avif' : 'heic') : meta.format;
  return { format, width: meta.width, height: meta.height };
}

/** Refuses a header of another format than the signature's, or of more pixels than `maxPixels`. */
function checkHeader(header: { format: string; width: number; height: number }, family: string, maxPixels: number): void {
  const { format, width, height } = header;
  if (format !== family) {
    throw new MedfaceError('UNSUPPORTED_FORMAT', `Images of format ${format} are not accepted.`, { format });
  }
  if (width * height > maxPixels) {
    throw new MedfaceError('IMAGE_DIMENSIONS_TOO_LARGE', `The image is ${width}x${height} pixels; the limit is ${maxPixels} pixels.`, { width, height, maxPixels });
  }
}

/** Why the decoder refused the bytes: the header's verdict when it has one, else truncated or corrupt data. */
async function refusal(bytes: Uint8Array, family: string, maxPixels: number): Promise<MedfaceError> {
  try {
    checkHeader(await readHeader(bytes, family), family, maxPixels);
  } catch (e) {
    return e as MedfaceError;
  }
  return new MedfaceError('CORRUPT_IMAGE', `The ${family} image data is truncated or corrupt.`, { format: family });
}
