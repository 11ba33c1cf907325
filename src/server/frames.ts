import type { RouteShorthandOptions } from 'fastify';
import { MedfaceError } from '../errors.js';
import { MAX_FRAME_BYTES, MAX_LIVENESS_FRAMES } from '../services/biometrics/liveness.js';
import { BASE64_IMAGE, imageBytes, imageRoute, type MultipartBody } from './images.js';
import { closedObject } from './schemas.js';
import type { CapturedFrame } from '../liveness/types.js';

/**
 * The frames of a liveness attempt: `{challengeId, frames: [{image, at}]}` in JSON (images base64 or `data:`
 * URLs), or multipart with one file part `frames` per frame, in capture order, and a text field `at` listing
 * their capture times (ms since the challenge was shown, comma-separated). A multipart request is read into
 * the JSON form before validation, so one closed schema checks both.
 */

const base64Length = (bytes: number) => 4 * Math.ceil(bytes / 3);

const FRAME_IMAGE = {
  ...BASE64_IMAGE,
  maxLength: base64Length(MAX_FRAME_BYTES) + 64,
  description: `A JPEG or PNG frame of at most ${MAX_FRAME_BYTES / 1024} KiB, base64-encoded (a data: URL is accepted)`,
} as const;

export const LIVENESS_FRAMES = {
  challengeId: { type: 'string', format: 'uuid', description: 'The liveness challenge these frames answer (POST /api/v1/liveness/challenges)' },
  frames: {
    type: 'array',
    minItems: 1,
    maxItems: MAX_LIVENESS_FRAMES,
    description: 'The frames filmed while the actions were asked for, in capture order',
    items: closedObject({ image: FRAME_IMAGE, at: { type: 'number', minimum: 0, description: 'Capture time, ms since the challenge was shown' } }, ['image', 'at']),
  },
} as const;

type Properties = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

export interface FramesOptions<Image extends string> {
  /** The frames (and challenge id) may be left out, as long as the body has this single image field instead. */
  orImage?: Image;
}

/**
 * A frames body's schema, as a type: the route's own fields, the challenge id and the frames; with `orImage`,
 * either that image or the frames. An image is typed as its base64 text and holds its bytes (`capturedFrames`).
 */
type FramesForm<P extends Properties, Required extends readonly string[], Image extends string> = [Image] extends [never]
  ? { type: 'object'; additionalProperties: false; required: readonly [...Required, 'challengeId', 'frames']; properties: P & typeof LIVENESS_FRAMES }
  : {
      type: 'object';
      additionalProperties: false;
      required: Required;
      properties: P & { [Name in Image]: typeof BASE64_IMAGE } & typeof LIVENESS_FRAMES;
      dependencies: { frames: readonly ['challengeId']; challengeId: readonly ['frames'] };
      oneOf: readonly [{ required: readonly [Image] }, { required: readonly ['frames'] }];
    };

/**
 * Body schema and route options of a route taking liveness frames beside other fields (`properties`). With
 * `orImage`, the body has either the frames or that single image field (base64 or a file part), not both.
 */
export function framesRoute<const P extends Properties, const Required extends readonly string[], const Image extends string = never>(
  properties: P,
  required: Required,
  options: FramesOptions<Image> = {},
): Pick<RouteShorthandOptions, 'bodyLimit' | 'preValidation' | 'onRequest'> & {
  body: { content: { 'application/json': { schema: FramesForm<P, Required, Image> }; 'multipart/form-data': { schema: FramesForm<P, Required, Image> } } };
} {
  const { orImage } = options;
  const images = imageRoute(
    {
      properties: { ...properties, challengeId: LIVENESS_FRAMES.challengeId, at: { type: 'string' } },
      required: [],
      images: { frames: { max: MAX_LIVENESS_FRAMES, maxBytes: MAX_FRAME_BYTES }, ...(orImage !== undefined && { [orImage]: 'single' as const }) },
    },
    framesOfParts,
  );
  // the same object FramesForm describes, built from the arguments at run time
  const schema = {
    type: 'object',
    additionalProperties: false,
    required: orImage === undefined ? [...required, 'challengeId', 'frames'] : required,
    properties: { ...properties, ...(orImage !== undefined && { [orImage]: BASE64_IMAGE }), ...LIVENESS_FRAMES },
    ...(orImage !== undefined && {
      dependencies: { frames: ['challengeId'], challengeId: ['frames'] },
      oneOf: [{ required: [orImage] }, { required: ['frames'] }],
    }),
  } as unknown as FramesForm<P, Required, Image>;
  return { ...images, body: { content: { 'application/json': { schema }, 'multipart/form-data': { schema } } } };
}

/** A multipart frames body in the JSON form: the file parts `frames` and the text field `at` paired into `{image, at}`. */
function framesOfParts(parts: MultipartBody): MultipartBody {
  const { frames, at, ...rest } = parts;
  if (frames === undefined && at === undefined) return parts;
  const times = (typeof at === 'string' ? at : '').split(',').map((t) => (t.trim() === '' ? Number.NaN : Number(t)));
  if (!Array.isArray(frames) || times.length !== frames.length) {
    throw new MedfaceError('VALIDATION_FAILED', 'body.at must give one capture time per frame', { issues: [{ path: 'body.at', message: 'must give one capture time per frame' }] });
  }
  return { ...rest, frames: frames.map((image: unknown, i) => ({ image, at: times[i] })) };
}

/** A validated frames body's frames, each image as the bytes the intake put in place of its base64 text. */
export function capturedFrames(frames: ReadonlyArray<{ image: unknown; at: number }>): CapturedFrame[] {
  return frames.map(({ image, at }) => ({ image: imageBytes(image), at }));
}
