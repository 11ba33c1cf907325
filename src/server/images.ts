import type { FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify';
import { randomBytes } from 'node:crypto';
import { isMedfaceError, MedfaceError } from '../errors.js';
import { IMAGE_LIMITS } from '../face/limits.js';
import type { Admission } from './admission.js';
// request.isMultipart() and request.parts() are @fastify/multipart's (app.ts registers it)
import type {} from '@fastify/multipart';

declare module 'fastify' {
  interface FastifyInstance {
    /** Requests with images in flight (app.ts sets the limit): a burst of uploads is refused before it is read. */
    imageIntake: Admission;
  }
}

/**
 * Images arrive either as multipart uploads or base64 in JSON (a `data:` URL from a canvas is accepted too).
 * Both reach the handler in one shape: a multipart request is read into the JSON body's form (text fields
 * typed as the schema says) before validation, so one schema, with `additionalProperties: false`, refuses any
 * field a route does not name — an `embedding` above all: embeddings are computed here, from the image, and
 * never accepted from a client. Either way each image is held as its bytes as soon as it has arrived (JSON:
 * decoded while the body streams, json-body.ts), never as base64 text; in the body it stands as a
 * placeholder string until validation has passed, then the handler finds the bytes (a Buffer) in its place.
 */

/**
 * The largest image the transport carries. The face engine applies its own limits on decoding
 * (src/face/image.ts); this one only bounds what a request may make the server hold.
 */
export const MAX_IMAGE_BYTES = IMAGE_LIMITS.photo.maxBytes;
const MAX_TEXT_FIELD_BYTES = 64 * 1024;
/** Room in a JSON body for everything but the images. */
const JSON_OVERHEAD_BYTES = 64 * 1024;

function base64Length(bytes: number): number {
  return 4 * Math.ceil(bytes / 3);
}

const IMAGE_DESCRIPTION = 'A JPEG, PNG, WebP, GIF, TIFF or AVIF photo of at most 15 MiB';

/** An image in a JSON body: base64, or a `data:image/...;base64,` URL. */
export const BASE64_IMAGE = {
  type: 'string',
  minLength: 1,
  maxLength: base64Length(MAX_IMAGE_BYTES) + 64,
  contentEncoding: 'base64',
  description: `${IMAGE_DESCRIPTION}, base64-encoded (a data: URL is accepted)`,
} as const;

const UPLOADED_IMAGE = { type: 'string', format: 'binary', description: IMAGE_DESCRIPTION } as const;

type JsonSchema = Record<string, unknown>;

export interface ImageBodySpec {
  /** Fields that are not images. */
  properties: Readonly<Record<string, JsonSchema>>;
  required: readonly string[];
  /** Image fields: a single image, or a list of at most `max`, each of at most `maxBytes` (default MAX_IMAGE_BYTES). */
  images: Record<string, { max: number; maxBytes?: number } | 'single'>;
}

/** One image field's limits: how many images, and the largest one (decoded bytes). */
interface ImageLimit {
  count: number;
  bytes: number;
  list: boolean;
}

function imageLimits(spec: ImageBodySpec): Map<string, ImageLimit> {
  return new Map(
    Object.entries(spec.images).map(([name, kind]) => [
      name,
      kind === 'single' ? { count: 1, bytes: MAX_IMAGE_BYTES, list: false } : { count: kind.max, bytes: kind.maxBytes ?? MAX_IMAGE_BYTES, list: true },
    ]),
  );
}

/** The JSON form of an image route's body, as a schema type: each image field base64 text (its bytes: `imageBytes`). */
type JsonForm<Spec extends ImageBodySpec> = {
  type: 'object';
  additionalProperties: false;
  required: Spec['required'];
  properties: Spec['properties'] & { [Name in keyof Spec['images']]: Spec['images'][Name] extends 'single' ? typeof BASE64_IMAGE : { type: 'array'; items: typeof BASE64_IMAGE } };
};

/** The body schema of a route taking images: the JSON form and the multipart form, both closed. */
export function imageBody<const Spec extends ImageBodySpec>(spec: Spec): { content: { 'application/json': { schema: JsonForm<Spec> }; 'multipart/form-data': { schema: JsonSchema } } } {
  const form = (image: JsonSchema): JsonSchema => ({
    type: 'object',
    additionalProperties: false,
    required: spec.required,
    properties: {
      ...spec.properties,
      ...Object.fromEntries(Object.entries(spec.images).map(([name, kind]) => [name, kind === 'single' ? image : { type: 'array', minItems: 1, maxItems: kind.max, items: image }])),
    },
  });
  return {
    content: {
      // the same object the type describes, built from the spec at run time
      'application/json': { schema: form(BASE64_IMAGE) as JsonForm<Spec> },
      'multipart/form-data': { schema: form(UPLOADED_IMAGE) },
    },
  };
}

/**
 * Route options for an image route: a place in the image intake, the body limit its images need, and reading
 * a multipart upload. The JSON body limit and the multipart limits are the same limits: each image field's
 * count and largest image, and in all at most what the JSON form of the body may hold. A multipart upload is
 * held to them while it streams: a part over its field's size, one part too many, or a body past the total
 * stops the reading at once (413), so a request never makes the server hold more than its JSON limit.
 */
export function imageRoute(
  spec: ImageBodySpec,
  intoJsonForm: (parts: MultipartBody) => Record<string, unknown> = (parts) => parts,
): Pick<RouteShorthandOptions, 'onRequest' | 'bodyLimit' | 'preValidation'> {
  const limits = imageLimits(spec);
  const bodyLimit = [...limits.values()].reduce((n, l) => n + l.count * base64Length(l.bytes), JSON_OVERHEAD_BYTES);
  return {
    onRequest: (request, reply) => request.server.imageIntake.admit(request, reply),
    bodyLimit,
    preValidation: async (request: FastifyRequest, reply: FastifyReply) => {
      if (!request.isMultipart()) return;
      let parts: MultipartBody;
      try {
        parts = await readMultipart(request, spec.properties, limits, bodyLimit);
      } catch (e) {
        // the rest of the upload is not read: the connection closes after the refusal
        reply.header('connection', 'close');
        throw e;
      }
      request.body = intoJsonForm(parts);
    },
  };
}

/**
 * A multipart body as read, before validation: text fields typed as the schema says (still unchecked), each
 * image field its placeholder (a list field: the placeholders, in order). `imageRoute`'s `intoJsonForm`
 * rearranges it where the JSON form is not the parts' (the frames of a liveness check: frames.ts).
 */
export type MultipartBody = Record<string, unknown>;

async function readMultipart(request: FastifyRequest, fields: ImageBodySpec['properties'], images: ReadonlyMap<string, ImageLimit>, bodyLimit: number): Promise<MultipartBody> {
  const body: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const files = [...images.values()].reduce((n, l) => n + l.count, 0);
  const largest = Math.max(...[...images.values()].map((l) => l.bytes));
  // one byte past the largest image: busboy hands that byte over (then skips to the part's end, which may never come), and readFile refuses at once
  const limits = { fileSize: largest + 1, files, fields: 16, fieldSize: MAX_TEXT_FIELD_BYTES, parts: files + 16 };
  /** What the body holds so far, counted as its JSON form would be (images as base64). */
  let held = 0;
  try {
    for await (const part of request.parts({ limits })) {
      const name = part.fieldname;
      let value: unknown;
      if (part.type === 'file') {
        const limit = images.get(name);
        if (!limit) throw new MedfaceError('VALIDATION_FAILED', `body.${name} is not an image field`, { issues: [{ path: `body.${name}`, message: 'is not an image field' }] });
        if (!limit.list && name in body) throw givenTwice(name);
        if (limit.list && ((body[name] as unknown[] | undefined)?.length ?? 0) >= limit.count) {
          throw new MedfaceError('BODY_TOO_LARGE', `body.${name} has more than ${limit.count} images`, { limit: limit.count });
        }
        const bytes = await readFile(part.file, limit.bytes, name);
        held += base64Length(bytes.length);
        if (held > bodyLimit) throw bodyTooLarge(bodyLimit);
        value = holdImage(request, bytes);
      } else {
        held += Buffer.byteLength(String(part.value));
        if (held > bodyLimit) throw bodyTooLarge(bodyLimit);
        value = typed(part.value, fields[name]);
      }
      if (images.get(name)?.list) ((body[name] ??= []) as unknown[]).push(value);
      else if (name in body) throw givenTwice(name);
      else body[name] = value;
    }
  } catch (e) {
    // medface's refusals and Fastify's limits (errors.ts maps FST_ codes) as they are; the parser's own errors are a body that is not multipart
    if (isMedfaceError(e) || String((e as { code?: unknown }).code).startsWith('FST_')) throw e;
    throw new MedfaceError('VALIDATION_FAILED', 'the multipart body is malformed', { issues: [{ path: 'body', message: 'is not well-formed multipart/form-data' }] });
  }
  return { ...body };
}

/** A file part's bytes, refused (413) as soon as they pass the field's limit, before the rest arrives. */
async function readFile(file: AsyncIterable<Buffer> & { truncated: boolean }, maxBytes: number, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of file) {
    size += chunk.length;
    if (size > maxBytes) break;
    chunks.push(chunk);
  }
  if (size > maxBytes || file.truncated) {
    throw new MedfaceError('IMAGE_TOO_LARGE', `body.${name}: an uploaded image is larger than ${maxBytes} bytes`, { limit: maxBytes });
  }
  return Buffer.concat(chunks);
}

function givenTwice(name: string): MedfaceError {
  return new MedfaceError('VALIDATION_FAILED', `body.${name} is given more than once`, { issues: [{ path: `body.${name}`, message: 'is given more than once' }] });
}

function bodyTooLarge(limit: number): MedfaceError {
  return new MedfaceError('BODY_TOO_LARGE', `the request body is larger than this route accepts (${limit} bytes as JSON)`, { limit });
}

/** A form field's text as the number or boolean its schema asks for (left as it is when it is not one). */
function typed(value: unknown, schema: JsonSchema | undefined): unknown {
  if (typeof value !== 'string') return value;
  const type = schema?.type;
  if ((type === 'integer' || type === 'number') && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  if (type === 'boolean' && (value === 'true' || value === 'false')) return value === 'true';
  return value;
}

/** Images of a request held while its body is validated, under their placeholders. */
const heldImages = new WeakMap<FastifyRequest, { prefix: string; images: Map<string, Buffer> }>();

/**
 * Holds an image's bytes and returns the placeholder that stands for it in the body until `placeImages`: a
 * string the image's schema accepts, unguessable, so no other field can be made to receive the bytes.
 */
export function holdImage(request: FastifyRequest, bytes: Buffer): string {
  let held = heldImages.get(request);
  if (held === undefined) {
    held = { prefix: `medface-image:${randomBytes(12).toString('hex')}:`, images: new Map() };
    heldImages.set(request, held);
  }
  const placeholder = `${held.prefix}${held.images.size}`;
  held.images.set(placeholder, bytes);
  return placeholder;
}

/**
 * An image field of a validated body: its schema types it as base64 text, `placeImages` put the bytes there.
 * A string here would be a route that skipped the image intake (a programming error, 500).
 */
export function imageBytes(image: unknown): Buffer {
  if (!Buffer.isBuffer(image)) throw new Error('an image field holds no bytes: the route does not take images through images.ts');
  return image;
}

/** After validation: each image placeholder in the body replaced by the image's bytes. */
export function placeImages(request: FastifyRequest): void {
  const held = heldImages.get(request);
  if (held === undefined) return;
  heldImages.delete(request);
  const pending: unknown[] = [request.body];
  while (pending.length > 0) {
    const value = pending.pop();
    if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) continue;
    const holder = value as Record<string, unknown>;
    for (const key of Object.keys(holder)) {
      const item = holder[key];
      if (typeof item === 'string') {
        const bytes = held.images.get(item);
        if (bytes !== undefined) holder[key] = bytes;
      } else pending.push(item);
    }
  }
}
