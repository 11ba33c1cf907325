import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { MedfaceError } from '../errors.js';
import { holdImage } from './images.js';

/**
 * JSON bodies (application/json and application/fhir+json), read as UTF-8 (RFC 8259): a body in another
 * encoding, or malformed UTF-8, is refused, never turned into U+FFFD and stored.
 *
 * A route whose JSON body has images (fields of its schema with `contentEncoding: 'base64'`: a photo, the
 * frames of a liveness check) is read as it streams: each image is decoded into bytes as it arrives, at most
 * its schema's `maxLength` of base64, and only the rest of the body (what is not an image, at most the
 * general body limit) is kept as text and parsed. Holding the whole body as bytes, then as a string, then
 * the parsed base64 strings, cost about 2.6 times the route's limit (69 MiB for one 26.7 MiB sign-in: issue
 * 15); now a body at the limit costs the decoded images, three quarters of it. In the parsed body an image
 * stands as a placeholder string until validation has passed (images.ts `placeImages`).
 */

type JsonParser = ReturnType<FastifyInstance['getDefaultJsonParser']>;

export function registerJsonBodies(app: FastifyInstance, textLimit: number): void {
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(['application/json', 'application/fhir+json'], (request: FastifyRequest, payload: Readable, done: (error: Error | null, body?: unknown) => void) => {
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '')?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      done(new MedfaceError('UNSUPPORTED_MEDIA_TYPE', 'JSON bodies are UTF-8: send charset=utf-8 or none'));
      return;
    }
    const plan = imagePlan(request);
    const reader = plan === undefined ? new WholeBody() : new ImageStreamingBody(request, plan, textLimit);
    readBody(request, payload, reader, json, done);
  });
}

/** What a body is read into: chunks of UTF-8 text as they arrive, then the text JSON.parse is given. */
interface BodyReader {
  write(text: string): void;
  end(): string;
}

/** A body without images: all of it, parsed at once. */
class WholeBody implements BodyReader {
  private readonly parts: string[] = [];
  write(text: string): void {
    this.parts.push(text);
  }
  end(): string {
    return this.parts.join('');
  }
}

/**
 * Reads the payload up to the route's body limit, as fatal UTF-8, into `reader`; a declared Content-Length
 * the body does not have is refused as Fastify refuses it. A refusal stops the reading at once: the
 * connection closes after the answer, so the rest of the upload is never read.
 */
function readBody(request: FastifyRequest, payload: Readable, reader: BodyReader, json: JsonParser, done: (error: Error | null, body?: unknown) => void): void {
  const limit = request.routeOptions.bodyLimit;
  const declared = Number(request.headers['content-length']);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let received = 0;
  const stop = () => {
    payload.removeListener('data', onData);
    payload.removeListener('end', onEnd);
    payload.removeListener('error', onEnd);
  };
  const fail = (error: Error) => {
    stop();
    done(error);
  };
  function onData(chunk: Buffer | string) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    received += bytes.length;
    if (received > limit) {
      fail(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      return;
    }
    let text: string;
    try {
      text = utf8.decode(bytes, { stream: true });
    } catch {
      fail(notUtf8());
      return;
    }
    try {
      reader.write(text);
    } catch (e) {
      fail(e as Error);
    }
  }
  function onEnd(error?: Error) {
    stop();
    if (error) {
      done(Object.assign(error, { statusCode: 400 }));
      return;
    }
    if (!Number.isNaN(declared) && received !== declared) {
      done(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
      return;
    }
    let rest: string;
    try {
      rest = utf8.decode();
    } catch {
      done(notUtf8());
      return;
    }
    let text: string;
    try {
      reader.write(rest);
      text = reader.end();
    } catch (e) {
      done(e as Error);
      return;
    }
    json(request, text, done);
  }
  payload.on('data', onData);
  payload.on('end', onEnd);
  payload.on('error', onEnd);
  payload.resume();
}

const notUtf8 = () => new MedfaceError('VALIDATION_FAILED', 'the body is not valid UTF-8');

// ---- where a route's JSON body has images ---------------------------------------------------------------

/** The image fields of a body schema: an image (its largest base64 length), or where images are inside. */
interface Plan {
  image?: number;
  properties?: ReadonlyMap<string, Plan>;
  items?: Plan;
}

const plans = new WeakMap<object, Plan | null>();

function imagePlan(request: FastifyRequest): Plan | undefined {
  const body = request.routeOptions.schema?.body as { content?: Record<string, { schema?: unknown }> } | undefined;
  if (body === undefined || body === null) return undefined;
  let plan = plans.get(body);
  if (plan === undefined) {
    plan = planOf(body.content?.['application/json']?.schema ?? body) ?? null;
    plans.set(body, plan);
  }
  return plan ?? undefined;
}

function planOf(schema: unknown): Plan | undefined {
  if (schema === null || typeof schema !== 'object') return undefined;
  const s = schema as { type?: unknown; contentEncoding?: unknown; maxLength?: number; properties?: Record<string, unknown>; items?: unknown };
  if (s.type === 'string' && s.contentEncoding === 'base64') return { image: s.maxLength ?? Number.POSITIVE_INFINITY };
  const properties = new Map(Object.entries(s.properties ?? {}).flatMap(([name, p]) => (planOf(p) ? [[name, planOf(p) as Plan] as const] : [])));
  const items = planOf(s.items);
  if (properties.size === 0 && items === undefined) return undefined;
  return { ...(properties.size > 0 && { properties }), ...(items && { items }) };
}

// ---- reading a body with images ----------------------------------------------------------------------

/** A container being read that has images somewhere inside it. */
interface Container {
  plan: Plan;
  object: boolean;
  /** In an object: whether the next string is a key, and the key of the value being read. */
  expectKey: boolean;
  key: string | undefined;
  /** In an array: the index of the value being read. */
  index: number;
}

const STRUCTURE = /["{}[\]:,]/g;
const STRING_END = /["\\]/g;
const BASE64_CHARS = /^[A-Za-z0-9+/]*$/;
const PADDING = /^=*$/;
const DATA_URL_PREFIX = /^data:image\/[a-z0-9.+-]+;base64,$/i;
/** The longest `data:image/…;base64,` prefix looked for before an image's base64. */
const MAX_PREFIX = 64;

/**
 * A small JSON scanner that follows the body's structure only as far as it holds images: strings at an
 * image's place are decoded as base64 as they arrive (refused as soon as they pass their limit or hold a
 * character base64 has not), everything else is copied into the text that JSON.parse reads afterwards, with
 * each image replaced by its placeholder. Containers without images inside are followed by depth alone.
 * Malformed JSON is left to JSON.parse to refuse; images are only ever taken from where the schema has them.
 */
class ImageStreamingBody implements BodyReader {
  private readonly text: string[] = [];
  private textLength = 0;
  private readonly stack: Container[] = [];
  /** Depth inside containers that hold no image. */
  private untracked = 0;
  private rootTaken = false;
  private mode: 'none' | 'key' | 'string' | 'image' = 'none';
  private escaped = false;
  private key = '';
  private image: ImageBeingRead | undefined;

  constructor(
    private readonly request: FastifyRequest,
    private readonly root: Plan,
    private readonly textLimit: number,
  ) {}

  write(chunk: string): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.mode === 'image') i = this.imageChars(chunk, i);
      else if (this.mode !== 'none') i = this.stringChars(chunk, i);
      else i = this.structure(chunk, i);
    }
  }

  end(): string {
    return this.text.join('');
  }

  private emit(text: string): void {
    this.textLength += text.length;
    if (this.textLength > this.textLimit) {
      throw new MedfaceError('BODY_TOO_LARGE', `the fields of this body other than images are larger than ${this.textLimit} bytes`, { limit: this.textLimit });
    }
    this.text.push(text);
  }

  /** The plan of the value starting here (undefined: no image inside it). */
  private valuePlan(): Plan | undefined {
    if (this.untracked > 0) return undefined;
    const top = this.stack.at(-1);
    if (top === undefined) {
      if (this.rootTaken) return undefined;
      this.rootTaken = true;
      return this.root;
    }
    if (top.object) return top.expectKey || top.key === undefined ? undefined : top.plan.properties?.get(top.key);
    return top.plan.items;
  }

  private structure(chunk: string, start: number): number {
    const c = chunk[start] as string;
    const top = this.untracked === 0 ? this.stack.at(-1) : undefined;
    switch (c) {
      case '"':
        if (top?.object && top.expectKey) {
          this.mode = 'key';
          this.key = '';
          this.emit(c);
        } else {
          const plan = this.valuePlan();
          if (plan?.image !== undefined) {
            this.mode = 'image';
            this.image = new ImageBeingRead(this.path(), plan.image);
          } else {
            this.mode = 'string';
            this.emit(c);
          }
        }
        return start + 1;
      case '{':
      case '[': {
        if (this.untracked > 0) this.untracked++;
        else {
          const plan = this.valuePlan();
          if (plan?.properties || plan?.items) this.stack.push({ plan, object: c === '{', expectKey: c === '{', key: undefined, index: 0 });
          else this.untracked = 1;
        }
        this.emit(c);
        return start + 1;
      }
      case '}':
      case ']':
        if (this.untracked > 0) this.untracked--;
        else this.stack.pop();
        this.emit(c);
        return start + 1;
      case ':':
        if (top?.object) top.expectKey = false;
        this.emit(c);
        return start + 1;
      case ',':
        if (top?.object) {
          top.expectKey = true;
          top.key = undefined;
        } else if (top) top.index++;
        this.emit(c);
        return start + 1;
      default: {
        STRUCTURE.lastIndex = start;
        const end = STRUCTURE.exec(chunk)?.index ?? chunk.length;
        this.emit(chunk.slice(start, end));
        return end;
      }
    }
  }

  /** A key or a string that is no image: copied as it is, escapes and all, up to its closing quote. */
  private stringChars(chunk: string, start: number): number {
    let i = start;
    if (this.escaped) {
      this.escaped = false;
      this.copyString(chunk.slice(i, i + 1));
      i++;
    }
    STRING_END.lastIndex = i;
    const end = STRING_END.exec(chunk)?.index;
    if (end === undefined) {
      this.copyString(chunk.slice(i));
      return chunk.length;
    }
    this.copyString(chunk.slice(i, end + 1));
    if (chunk[end] === '\\') {
      this.escaped = true;
      return end + 1;
    }
    if (this.mode === 'key') {
      const top = this.stack.at(-1) as Container;
      top.key = keyOf(this.key.slice(0, -1));
    }
    this.mode = 'none';
    return end + 1;
  }

  private copyString(text: string): void {
    this.emit(text);
    if (this.mode === 'key') this.key += text;
  }

  /** An image's characters, decoded as they come; at its closing quote the placeholder takes its place. */
  private imageChars(chunk: string, start: number): number {
    const image = this.image as ImageBeingRead;
    let i = start;
    if (this.escaped) {
      this.escaped = false;
      // JSON may escape a slash (`\/`); base64 has no other character that needs escaping
      if (chunk[i] !== '/') throw image.notBase64();
      image.write('/');
      i++;
    }
    STRING_END.lastIndex = i;
    const end = STRING_END.exec(chunk)?.index;
    if (end === undefined) {
      image.write(chunk.slice(i));
      return chunk.length;
    }
    image.write(chunk.slice(i, end));
    if (chunk[end] === '\\') {
      this.escaped = true;
      return end + 1;
    }
    const bytes = image.end();
    this.emit(JSON.stringify(bytes === undefined ? '' : holdImage(this.request, bytes)));
    this.image = undefined;
    this.mode = 'none';
    return end + 1;
  }

  private path(): string {
    return ['body', ...this.stack.map((c) => (c.object ? (c.key ?? '') : String(c.index)))].join('.');
  }
}

function keyOf(raw: string): string {
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return raw;
  }
}

/**
 * One image's base64 (after an optional `data:image/…;base64,` prefix), decoded four characters at a time:
 * the same bytes as decoding the whole string, and only the characters of base64 (and `=` padding at the end, two at most).
 */
class ImageBeingRead {
  private head = '';
  private inPrefix = true;
  private carry = '';
  private padding = 0;
  private length = 0;
  private readonly decoded: Buffer[] = [];

  constructor(
    private readonly path: string,
    private readonly maxLength: number,
  ) {}

  write(text: string): void {
    this.length += text.length;
    if (this.length > this.maxLength) {
      const bytes = Math.floor((this.maxLength * 3) / 4);
      throw new MedfaceError('IMAGE_TOO_LARGE', `${this.path}: the image is larger than this route accepts (about ${bytes} bytes)`, { limit: bytes });
    }
    if (this.inPrefix) {
      this.head += text;
      const lower = this.head.slice(0, 5).toLowerCase();
      if (!'data:'.startsWith(lower) && !lower.startsWith('data:')) {
        this.inPrefix = false;
        text = this.head;
      } else {
        const comma = this.head.indexOf(',');
        if (comma < 0) {
          if (this.head.length > MAX_PREFIX) throw this.notBase64();
          return;
        }
        if (!DATA_URL_PREFIX.test(this.head.slice(0, comma + 1))) throw this.notBase64();
        this.inPrefix = false;
        text = this.head.slice(comma + 1);
      }
      this.head = '';
    }
    this.base64(text);
  }

  private base64(text: string): void {
    const pad = text.indexOf('=');
    const chars = pad < 0 ? text : text.slice(0, pad);
    if ((this.padding > 0 && chars.length > 0) || !BASE64_CHARS.test(chars)) throw this.notBase64();
    if (pad >= 0) {
      const tail = text.slice(pad);
      this.padding += tail.length;
      if (!PADDING.test(tail) || this.padding > 2) throw this.notBase64();
    }
    const all = this.carry + chars;
    const whole = all.length - (all.length % 4);
    if (whole > 0) this.decoded.push(Buffer.from(all.slice(0, whole), 'base64'));
    this.carry = all.slice(whole);
  }

  /** The image's bytes; undefined for an empty string (the schema refuses it). */
  end(): Buffer | undefined {
    if (this.inPrefix) {
      // a string too short to be a data: URL is base64 (or not)
      if (this.head.toLowerCase().startsWith('data:')) throw this.notBase64();
      this.base64(this.head);
    }
    if (this.length === 0) return undefined;
    if (this.carry.length > 0) this.decoded.push(Buffer.from(this.carry, 'base64'));
    return Buffer.concat(this.decoded);
  }

  notBase64(): MedfaceError {
    return new MedfaceError('VALIDATION_FAILED', `${this.path} is not base64`, { issues: [{ path: this.path, message: 'is not base64' }] });
  }
}
