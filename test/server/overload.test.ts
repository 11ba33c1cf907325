import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { FacePool } from '../../src/face/index.js';
import { demoFaces, PATIENTS, writeTestThresholds, type Faces } from '../services/fixtures.js';
import { startTestServer, type Browser, type TestServer } from './harness.js';

/**
 * Overload over real HTTP: one worker with a queue of one, and room for four image requests in flight. A
 * burst is answered at once — 503 ENGINE_BUSY with Retry-After, either unread at the intake or turned away
 * by the full pool — while the requests that got in succeed, and the server serves normally afterwards.
 */

const WORKERS = 1;
const QUEUE = 1;
const IMAGE_REQUESTS = 4;
const BURST = 12;

let pool: FacePool;
let images: Faces;
let server: TestServer;
let scratch: string;
let base: string;
let frontDesk: Browser;
let apiKey: string;
let alice: string;

beforeAll(async () => {
  pool = await FacePool.create({ size: WORKERS, queueLimit: QUEUE });
  images = await demoFaces(pool);
  scratch = mkdtempSync(path.join(os.tmpdir(), 'medface-overload-'));
  const thresholdsFile = path.join(scratch, 'thresholds.json');
  writeTestThresholds(thresholdsFile);
  server = await startTestServer({
    deployment: { pool, thresholdsFile },
    maxImageRequests: IMAGE_REQUESTS,
    rateLimits: { biometric: { max: 10_000, windowMs: 60_000 }, signIn: { max: 10_000, windowMs: 60_000 } },
  });
  base = await server.app.listen({ port: 0, host: '127.0.0.1' });
  frontDesk = await server.signIn(['front-desk']);
  apiKey = (await server.apiKey(['verify:patient', 'identify:patient'])).key;
  const created = await server.as(frontDesk, { method: 'POST', url: '/api/v1/patients', payload: PATIENTS.alice });
  alice = created.json<{ id: string }>().id;
  await server.as(frontDesk, { method: 'POST', url: `/api/v1/patients/${alice}/consent`, payload: { notice: 'v2' } });
  const enrolled = await server.as(frontDesk, { method: 'POST', url: `/api/v1/patients/${alice}/enrol`, payload: { images: [images.alice.toString('base64')] } });
  expect(enrolled.statusCode).toBe(201);
}, 180_000);

afterAll(async () => {
  await server?.close();
  await pool?.close();
  rmSync(scratch, { recursive: true, force: true });
});

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { error?: { code: string; message: string } } & Record<string, unknown>;
  ms: number;
}

/** A face request over HTTP: JSON with base64, or a multipart upload; timed from the start of the burst. */
async function faceRequest(kind: 'verify' | 'identify', multipart: boolean, started: number): Promise<Answer> {
  const url = kind === 'verify' ? `${base}/api/v1/patients/${alice}/verify` : `${base}/api/v1/identify`;
  const headers: Record<string, string> = { authorization: `Bearer ${apiKey}` };
  let body: string | FormData;
  if (multipart) {
    body = new FormData();
    body.append('image', new Blob([images.aliceAgain], { type: 'image/jpeg' }), 'capture.jpg');
  } else {
    body = JSON.stringify({ image: images.aliceAgain.toString('base64') });
    headers['content-type'] = 'application/json';
  }
  const response = await fetch(url, { method: 'POST', headers, body });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as Answer['body'], ms: performance.now() - started };
}

describe('overload', () => {
  it('answers a burst beyond capacity with immediate 503 ENGINE_BUSY and Retry-After, and serves the rest', async () => {
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: BURST }, (_, i) => faceRequest(i % 2 === 0 ? 'verify' : 'identify', i % 3 === 0, started)));
    const busy = answers.filter((a) => a.status === 503);
    const served = answers.filter((a) => a.status === 200);
    expect(busy.length + served.length).toBe(BURST);
    // the intake holds at most four, the pool runs one and queues one: at least the other eight are refused
    expect(busy.length).toBeGreaterThanOrEqual(BURST - IMAGE_REQUESTS);
    expect(served.length).toBeGreaterThanOrEqual(WORKERS + QUEUE);
    for (const refused of busy) {
      expect(refused.body).toEqual({ error: { code: 'ENGINE_BUSY', message: expect.any(String) } });
      expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    for (const ok of served) expect(ok.body).toMatchObject({ match: true });
    // refused at once, not after waiting: every refusal is back before the last served request, which queued
    const slowestServed = Math.max(...served.map((a) => a.ms));
    expect(Math.max(...busy.map((a) => a.ms))).toBeLessThan(slowestServed);
  }, 120_000);

  it('serves normally afterwards, with nothing left in flight', async () => {
    const after = performance.now();
    expect((await faceRequest('verify', false, after)).status).toBe(200);
    expect((await faceRequest('identify', true, after)).body).toMatchObject({ match: true, candidates: [{ patientId: alice }] });
    expect(pool.stats()).toEqual({ workers: WORKERS, busy: 0, queued: 0 });
    expect(server.app.imageIntake.inFlight).toBe(0);
  }, 60_000);

  it('bounds password sign-ins in flight: a flood gets 503 SERVER_BUSY, never a 5xx of another kind', async () => {
    const csrf = await fetch(`${base}/api/v1/auth/csrf`);
    const cookie = csrf.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const { csrfToken } = (await csrf.json()) as { csrfToken: string };
    const attempts = await Promise.all(
      Array.from({ length: 48 }, async (_, i) => {
        const response = await fetch(`${base}/api/v1/auth/sign-in`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': csrfToken },
          body: JSON.stringify({ username: `flood-${i}`, password: 'not the password at all', code: '000000' }),
        });
        return { status: response.status, retryAfter: response.headers.get('retry-after'), code: ((await response.json()) as { error: { code: string } }).error.code };
      }),
    );
    const busy = attempts.filter((a) => a.status === 503);
    expect(busy.length).toBeGreaterThan(0);
    for (const a of busy) {
      expect(a.code).toBe('SERVER_BUSY');
      expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    // the others were judged: a failed sign-in, or throttled once the address had failed often enough
    for (const a of attempts.filter((x) => x.status !== 503)) expect(['SIGN_IN_FAILED', 'TOO_MANY_ATTEMPTS']).toContain(a.code);
  }, 120_000);

  it('sizes the image intake from the configured pool: twice the workers plus the queue (MEDFACE_FACE_QUEUE)', async () => {
    const config = loadConfig({ MEDFACE_FACE_QUEUE: '5', MEDFACE_FACE_TIMEOUT_MS: '9000' });
    expect(config).toMatchObject({ faceQueueLimit: 5, faceTaskTimeoutMs: 9000 });
    expect(() => loadConfig({ MEDFACE_FACE_QUEUE: '-1' })).toThrow(/MEDFACE_FACE_QUEUE/);
    expect(() => loadConfig({ MEDFACE_FACE_TIMEOUT_MS: '0' })).toThrow(/MEDFACE_FACE_TIMEOUT_MS/);
    const configured = await startTestServer({ deployment: { startFaces: 'on-first-use', poolSize: 2, queueLimit: config.faceQueueLimit as number } });
    try {
      expect(configured.app.imageIntake.limit).toBe(2 * 2 + 5);
    } finally {
      await configured.close();
    }
  });
});
