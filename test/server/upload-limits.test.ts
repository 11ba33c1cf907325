import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_FRAME_BYTES, MAX_LIVENESS_FRAMES } from '../../src/services/biometrics/liveness.js';
import { MAX_IMAGE_BYTES } from '../../src/server/images.js';
import { startTestServer, type TestServer } from './harness.js';

/**
 * An anonymous client could make the server hold 1.4 GiB with one multipart sign-in (40 `frames` parts of
 * 15 MiB, read whole and base64-encoded before the schema's 512 KiB per frame), 11.4 GiB with eight (security
 * review, issue 15 finding 1). A multipart body is held to the route's JSON limits while it streams: a
 * declared length past the route's limit is refused before a byte is read, a part past its field's limit as
 * soon as it crosses it. Over a real socket, writing only the start of each upload: the refusal must arrive
 * while the rest is still unsent.
 */

let server: TestServer;
let port: number;

beforeAll(async () => {
  // every refusal here comes before any face work: the models are not loaded
  server = await startTestServer({ deployment: { startFaces: 'on-first-use' }, rateLimits: { signIn: { max: 1000, windowMs: 60_000 } } });
  const address = await server.app.listen({ port: 0, host: '127.0.0.1' });
  port = Number(new URL(address).port);
}, 120_000);

afterAll(async () => {
  await server?.close();
});

const BOUNDARY = 'medface-upload-limit';

interface Answer {
  status: number;
  headers: string;
  body: { error?: { code: string; message: string } };
}

/**
 * Sends the request head and `start` of the body, then waits (the rest never comes) for the answer; rejects
 * when none arrives in `waitMs`. `chunked`: no Content-Length (the server cannot know the size up front).
 */
function partialUpload(url: string, headers: Record<string, string>, start: Buffer, chunked: boolean, waitMs = 10_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${waitMs} ms to a partly sent upload`));
    }, waitMs);
    const settle = () => {
      const text = Buffer.concat(received).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) return;
      const head = text.slice(0, split);
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? Number.NaN);
      const body = text.slice(split + 4);
      if (!(body.length >= length)) return;
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: Number(head.split(' ')[1]), headers: head.toLowerCase(), body: JSON.parse(body.slice(0, length)) as Answer['body'] });
    };
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      settle();
    });
    socket.on('error', () => undefined);
    const lines = [`POST ${url} HTTP/1.1`, 'Host: 127.0.0.1', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (start.length > 0) socket.write(chunked ? Buffer.concat([Buffer.from(`${start.length.toString(16)}\r\n`), start, Buffer.from('\r\n')]) : start);
  });
}

/** The head of a file part named `field`. */
const filePart = (field: string, i: number) => Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${field}"; filename="f${i}.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`);

/** An anonymous browser's cookie and CSRF token. */
async function anonymous(): Promise<Record<string, string>> {
  const browser = await server.newBrowser();
  return { cookie: browser.cookie, 'x-csrf-token': browser.csrf, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };
}

const FRAME_ROUTES = ['/api/v1/auth/patient-sign-in', '/api/v1/telemedicine/verify'];

describe('multipart uploads are held to the JSON limits while they stream', () => {
  it.each(FRAME_ROUTES)('%s: 40 frames of 15 MiB declared are refused before a byte of them is read', async (url) => {
    const declared = MAX_LIVENESS_FRAMES * (MAX_IMAGE_BYTES + 200);
    const answer = await partialUpload(url, { ...(await anonymous()), 'content-length': String(declared) }, Buffer.alloc(0), false);
    expect(answer.status).toBe(413);
    expect(answer.body.error?.code).toBe('BODY_TOO_LARGE');
    expect(answer.headers).toContain('connection: close');
  });

  it.each(FRAME_ROUTES)('%s: a streamed frame is refused as soon as it passes the 512 KiB a frame may have', async (url) => {
    // the first of 40 frames of 15 MiB, sent without a length: only a little past a frame's limit arrives
    const start = Buffer.concat([filePart('frames', 0), Buffer.alloc(MAX_FRAME_BYTES + 64 * 1024, 0xff)]);
    const answer = await partialUpload(url, { ...(await anonymous()), 'transfer-encoding': 'chunked' }, start, true);
    expect(answer.status).toBe(413);
    expect(answer.body.error?.code).toBe('IMAGE_TOO_LARGE');
    expect(answer.headers).toContain('connection: close');
  });

  it.each(FRAME_ROUTES)('%s: a frame in JSON is refused as soon as it passes the base64 a frame may have, while the rest is unsent', async (url) => {
    // JSON bodies are read as they stream (json-body.ts): before, the whole body was read first, up to the route's 26.7 MiB
    const { 'content-type': _multipart, ...browser } = await anonymous();
    const start = Buffer.from(`{"challengeId":"c0ffee00-0000-4000-8000-00000000beef","frames":[{"at":0,"image":"${'A'.repeat((4 * MAX_FRAME_BYTES) / 3 + 64 * 1024)}`);
    const answer = await partialUpload(url, { ...browser, 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, start, true);
    expect(answer.status).toBe(413);
    expect(answer.body.error).toMatchObject({ code: 'IMAGE_TOO_LARGE' });
    expect(answer.body.error?.message).toMatch(/^body\.frames\.0\.image: /);
    expect(answer.headers).toContain('connection: close');
  });

  it('refuses one frame more than a liveness check takes, and a file under a name that is no image field, as they arrive', async () => {
    const frames = Array.from({ length: MAX_LIVENESS_FRAMES + 1 }, (_, i) => Buffer.concat([filePart('frames', i), Buffer.from('not a frame\r\n')]));
    const tooMany = await partialUpload(FRAME_ROUTES[0]!, { ...(await anonymous()), 'transfer-encoding': 'chunked' }, Buffer.concat(frames), true);
    expect(tooMany.status).toBe(413);
    expect(tooMany.body.error?.code).toBe('BODY_TOO_LARGE');

    const stranger = Buffer.concat([filePart('embedding', 0), Buffer.alloc(MAX_FRAME_BYTES, 1)]);
    const refused = await partialUpload(FRAME_ROUTES[0]!, { ...(await anonymous()), 'transfer-encoding': 'chunked' }, stranger, true);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'VALIDATION_FAILED', message: 'body.embedding is not an image field' });

    // identification takes one image: a second file part is refused as it starts
    const desk = await server.signIn(['front-desk']);
    const signedIn = { cookie: desk.cookie, 'x-csrf-token': desk.csrf, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };
    const twice = Buffer.concat([filePart('image', 0), Buffer.alloc(1024, 1), Buffer.from('\r\n'), filePart('image', 1), Buffer.alloc(1024, 1)]);
    const again = await partialUpload('/api/v1/identify', { ...signedIn, 'transfer-encoding': 'chunked' }, twice, true);
    expect(again.status).toBe(413);
    expect(again.body.error?.code).toBe('BODY_TOO_LARGE');
  });

  it('still takes a whole frames upload within the limits to validation (the challenge is unknown: 400, not 413)', async () => {
    const frames = [0, 1].map((i) => Buffer.concat([filePart('frames', i), Buffer.alloc(1024, i), Buffer.from('\r\n')]));
    const body = Buffer.concat([
      ...frames,
      Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="at"\r\n\r\n0,100\r\n`),
      Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="challengeId"\r\n\r\nc0ffee00-0000-4000-8000-00000000beef\r\n`),
      Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="birthDate"\r\n\r\n1980-01-01\r\n--${BOUNDARY}--\r\n`),
    ]);
    const answer = await server.app.inject({ method: 'POST', url: FRAME_ROUTES[0]!, headers: await anonymous(), payload: body });
    expect(answer.statusCode).not.toBe(413);
    expect(answer.statusCode).toBeLessThan(500);
  });
});
