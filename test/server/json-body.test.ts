import Fastify, { type FastifyInstance } from 'fastify';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendError } from '../../src/server/errors.js';
import { LIVENESS_FRAMES } from '../../src/server/frames.js';
import { BASE64_IMAGE, placeImages } from '../../src/server/images.js';
import { registerJsonBodies } from '../../src/server/json-body.js';

/**
 * JSON bodies with images are read as they stream (issue 15: a 26.7 MiB sign-in held 69 MiB as raw bytes,
 * a string and parsed base64 strings at once): each image is decoded into bytes as it arrives, the rest is
 * parsed as JSON. The parser and the server's handling of its placeholders, on a small app with the server's
 * own pieces: the handler answers what it received.
 */

const TEXT_LIMIT = 64 * 1024;
let app: FastifyInstance;

beforeAll(async () => {
  app = Fastify({ bodyLimit: TEXT_LIMIT });
  app.setErrorHandler((error, request, reply) => sendError(request, reply, error));
  registerJsonBodies(app, TEXT_LIMIT);
  app.addHook('preHandler', async (request) => placeImages(request));
  const describeValue = (v: unknown): unknown =>
    Buffer.isBuffer(v)
      ? { bytes: v.length, sha256: createHash('sha256').update(v).digest('hex') }
      : Array.isArray(v)
        ? v.map(describeValue)
        : v && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, describeValue(x)]))
          : v;
  app.post(
    '/images',
    {
      bodyLimit: 4 * 1024 * 1024,
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { name: { type: 'string' }, note: { type: 'object' }, photo: BASE64_IMAGE, frames: LIVENESS_FRAMES.frames },
        },
      },
    },
    async (request) => describeValue(request.body),
  );
  app.post('/plain', { schema: { body: { type: 'object', properties: { name: { type: 'string' } } } } }, async (request) => request.body);
  await app.ready();
});

afterAll(async () => {
  await app?.close();
});

const digest = (bytes: Buffer) => ({ bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });

/** Sends `body` to the route in pieces of `piece` bytes, as a slow client would. */
function post(url: string, body: string | Buffer, piece = 0, headers: Record<string, string> = {}) {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const payload = piece > 0 ? Readable.from(Array.from({ length: Math.ceil(bytes.length / piece) }, (_, i) => bytes.subarray(i * piece, (i + 1) * piece))) : bytes;
  return app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload });
}

describe('JSON bodies with images are decoded as they stream', () => {
  const photo = randomBytes(30_000);
  const frames = [randomBytes(1001), randomBytes(1002), randomBytes(1)];

  it.each([0, 1, 3, 7, 4096])('decodes base64, data: URLs and escaped slashes into the same bytes, in pieces of %i bytes', async (piece) => {
    const escaped = photo.toString('base64').replaceAll('/', '\\/');
    const body =
      JSON.stringify({ name: 'Zoë "\\" \u{1F600}', note: { a: [1, { b: 'x' }], frames: 'not an image here' } }).slice(0, -1) +
      `,"photo":"data:image\\/jpeg;base64,${escaped}","frames":[${frames.map((f, i) => `{"at":${i * 100},"image":"${i === 1 ? 'DATA:image/png;base64,' : ''}${f.toString('base64')}"}`).join(' , ')}]}`;
    const response = await post('/images', body, piece);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      name: 'Zoë "\\" \u{1F600}',
      note: { a: [1, { b: 'x' }], frames: 'not an image here' },
      photo: digest(photo),
      frames: frames.map((f, i) => ({ at: i * 100, image: digest(f) })),
    });
  });

  it('leaves bodies without image fields, and text that only looks like an image placeholder, as JSON.parse reads them', async () => {
    const body = { name: 'medface-image:00:0' };
    expect((await post('/plain', JSON.stringify(body), 5)).json()).toEqual(body);
    expect((await post('/images', JSON.stringify(body), 5)).json()).toEqual(body);
  });

  it.each([
    ['not base64', '{"photo":"abc$def"}', 400, 'VALIDATION_FAILED', 'body.photo is not base64'],
    ['padding inside', '{"frames":[{"at":0,"image":"AA==AA"}]}', 400, 'VALIDATION_FAILED', 'body.frames.0.image is not base64'],
    ['an escape other than a slash', '{"photo":"AA\\nAA"}', 400, 'VALIDATION_FAILED', 'body.photo is not base64'],
    ['a data: URL that is no image', '{"photo":"data:text/html;base64,AAAA"}', 400, 'VALIDATION_FAILED', 'body.photo is not base64'],
    ['an empty image', '{"photo":""}', 400, 'VALIDATION_FAILED', undefined],
    ['malformed JSON around images', '{"photo":"AAAA" "name":1}', 400, 'VALIDATION_FAILED', 'the body is not valid JSON'],
    ['a prototype key', '{"__proto__":{"x":1},"photo":"AAAA"}', 400, 'VALIDATION_FAILED', undefined],
  ])('refuses %s', async (_name, body, status, code, message) => {
    const response = await post('/images', body, 2);
    expect(response.statusCode).toBe(status);
    expect(response.json().error.code).toBe(code);
    if (message) expect(response.json().error.message).toBe(message);
  });

  it('refuses malformed UTF-8 and a charset other than UTF-8', async () => {
    const latin1 = Buffer.from('{"name":"Zo\xeb","photo":"AAAA"}', 'latin1');
    expect((await post('/images', latin1, 3)).json().error.code).toBe('VALIDATION_FAILED');
    expect((await post('/images', '{"photo":"AAAA"}', 0, { 'content-type': 'application/json; charset=latin1' })).statusCode).toBe(415);
  });

  it('refuses an image at the first character past its limit, and text fields past the text limit, with 413', async () => {
    const frame = 'A'.repeat(LIVENESS_FRAMES.frames.items.properties.image.maxLength + 1);
    const tooLarge = await post('/images', `{"frames":[{"at":0,"image":"${frame}"}]}`, 64 * 1024);
    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.json().error).toMatchObject({ code: 'IMAGE_TOO_LARGE' });
    expect(tooLarge.json().error.message).toMatch(/^body\.frames\.0\.image: /);
    const text = await post('/images', JSON.stringify({ name: 'x'.repeat(TEXT_LIMIT) }), 4096);
    expect(text.statusCode).toBe(413);
    expect(text.json().error.code).toBe('BODY_TOO_LARGE');
    // nested arrays follow by depth alone, however deep; JSON.parse judges them
    const deep = await post('/images', `{"note":${'['.repeat(20_000)}${']'.repeat(20_000)}}`, 1000);
    expect(deep.statusCode).toBe(400);
  });
});
