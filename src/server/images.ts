import type { FastifyRequest, RouteShorthandOptions } from 'fastify';
import { isMedfaceError, MedfaceError } from '../errors.js';
import type { Admission } from './admission.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Requests with images in flight (app.ts sets the limit): a burst of uploads is refused before it is read. */
    imageIntake: Admission;
  }
}

/**
 * Images arrive either as multipart uploads or base64 in JSON (a `data:` URL from a canvas is accepted too).
 * Both reach the handler in one shape: a multipart request is read into the JSON body's form (files as
 * base64, text fields typed as the schema says) before validation, so one schema, with `additionalProperties: false`, refuses any field a route
 * does not name — an `embedding` above all: embeddings are computed here, from the image, and never
 * accepted from a client.
 */

/**
 * The largest image the transport carries. The face engine applies its own limits on decoding
 * (src/face/image.ts); this one only bounds what a request may make the server hold.
 */
export const MAX_IMAGE_BYTES = 15 * 1024 * 1024;
const MAX_TEXT_FIELD_BYTES = 64 * 1024;
/** Room in a JSON body for everything but the images. */
const JSON_OVERHEAD_BYTES = 64 * 1024;
const DATA_URL_PREFIX = /^data:image\/[a-z0-9.+-]+;base64,/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

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
  properties: Record<string, JsonSchema>;
  required: string[];
  /** Image fields: a single image, or a list of at most `max`. */
  images: Record<string, { max: number } | 'single'>;
}

/** The body schema of a route taking images: the JSON form and the multipart form, both closed. */
export function imageBody(spec: ImageBodySpec): JsonSchema {
  const form = (image: JsonSchema): JsonSchema => ({
    type: 'object',
    additionalProperties: false,
    required: spec.required,
    properties: {
      ...spec.properties,
      ...Object.fromEntries(
        Object.entries(spec.images).map(([name, kind]) => [name, kind === 'single' ? image : { type: 'array', minItems: 1, maxItems: kind.max, items: image }]),
      ),
    },
  });
  return {
    content: {
      'application/json': { schema: form(BASE64_IMAGE) },
      'multipart/form-data': { schema: form(UPLOADED_IMAGE) },
    },
  };
}

/** Route options for an image route: a place in the image intake, the body limit its images need, and reading a multipart upload. */
export function imageRoute(spec: ImageBodySpec): Pick<RouteShorthandOptions, 'onRequest' | 'bodyLimit' | 'preValidation'> {
  const maxImages = Object.values(spec.images).reduce((n, kind) => n + (kind === 'single' ? 1 : kind.max), 0);
  const lists = new Set(Object.entries(spec.images).flatMap(([name, kind]) => (kind === 'single' ? [] : [name])));
  return {
    onRequest: (request, reply) => request.server.imageIntake.admit(request, reply),
    bodyLimit: maxImages * base64Length(MAX_IMAGE_BYTES) + JSON_OVERHEAD_BYTES,
    preValidation: async (request: FastifyRequest) => {
      if (request.isMultipart()) request.body = await readMultipart(request, spec.properties, lists, maxImages);
    },
  };
}

async function readMultipart(
  request: FastifyRequest,
  fields: ImageBodySpec['properties'],
  lists: ReadonlySet<string>,
  maxImages: number,
): Promise<Record<string, unknown>> {
  const body: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const limits = { fileSize: MAX_IMAGE_BYTES, files: maxImages, fields: 16, fieldSize: MAX_TEXT_FIELD_BYTES, parts: maxImages + 16 };
  try {
    for await (const part of request.parts({ limits })) {
      const value = part.type === 'file' ? (await part.toBuffer()).toString('base64') : typed(part.value, fields[part.fieldname]);
      const name = part.fieldname;
      if (lists.has(name)) ((body[name] ??= []) as unknown[]).push(value);
      else if (name in body) throw new MedfaceError('VALIDATION_FAILED', `body.${name} is given more than once`, { issues: [{ path: `body.${name}`, message: 'is given more than once' }] });
      else body[name] = value;
    }
  } catch (e) {
    // medface's refusals and Fastify's limits (errors.ts maps FST_ codes) as they are; the parser's own errors are a body that is not multipart
    if (isMedfaceError(e) || String((e as { code?: unknown }).code).startsWith('FST_')) throw e;
    throw new MedfaceError('VALIDATION_FAILED', 'the multipart body is malformed', { issues: [{ path: 'body', message: 'is not well-formed multipart/form-data' }] });
  }
  return { ...body };
}

/** A form field's text as the number or boolean its schema asks for (left as it is when it is not one). */
function typed(value: unknown, schema: JsonSchema | undefined): unknown {
  if (typeof value !== 'string') return value;
  const type = schema?.type;
  if ((type === 'integer' || type === 'number') && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  if (type === 'boolean' && (value === 'true' || value === 'false')) return value === 'true';
  return value;
}

/** The bytes of a validated image field. */
export function imageBytes(text: string, field: string): Buffer {
  const base64 = text.replace(DATA_URL_PREFIX, '');
  if (!BASE64.test(base64)) {
    throw new MedfaceError('VALIDATION_FAILED', `body.${field} is not base64`, { issues: [{ path: `body.${field}`, message: 'is not base64' }] });
  }
  return Buffer.from(base64, 'base64');
}
