import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGE_LIMITS } from '../../src/face/limits.js';
import { FacePool } from '../../src/face/index.js';
import { startTestServer, type TestServer } from './harness.js';

/**
 * Liveness frames are 512 KiB encoded at most, but decoded up to the photo limit of 40 Mpx, so 40 frames of a
 * 116 KB PNG decoding to 6300×6300 held the engine for about 100 s per anonymous sign-in (security review,
 * issue 15 finding 6). A frame is held to the frame pixel limit (1920×1920), read from its header before any
 * pixel is decoded; a Full-HD frame still goes through.
 */

let pool: FacePool;
let server: TestServer;

beforeAll(async () => {
  pool = await FacePool.create({ size: 1 });
  server = await startTestServer({ deployment: { pool }, rateLimits: { signIn: { max: 1000, windowMs: 60_000 } } });
}, 180_000);

afterAll(async () => {
  await server?.close();
  await pool?.close();
});

/** A flat grey PNG of that size: a few KB, however many pixels it claims. */
const flatPng = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: '#808080' } })
    .png()
    .toBuffer();

/** An anonymous portal sign-in with six copies of `frame`, answering a fresh challenge. */
async function signInWith(frame: Buffer) {
  const browser = await server.newBrowser();
  const issued = await server.as(browser, { method: 'POST', url: '/api/v1/liveness/challenges', payload: { purpose: 'portal-sign-in' } });
  expect(issued.statusCode).toBe(201);
  const frames = Array.from({ length: 6 }, (_, i) => ({ image: frame.toString('base64'), at: i * 200 }));
  return server.as(browser, { method: 'POST', url: '/api/v1/auth/patient-sign-in', payload: { challengeId: issued.json<{ id: string }>().id, frames, birthDate: '1980-01-01' } });
}

describe('liveness frames', () => {
  it('are refused from their header when they claim more pixels than a camera frame', async () => {
    const bomb = await flatPng(2000, 2000);
    expect(bomb.length).toBeLessThan(IMAGE_LIMITS.frame.maxBytes);
    const answer = await signInWith(bomb);
    expect(answer.statusCode).toBe(413);
    expect(answer.json()).toMatchObject({ error: { code: 'IMAGE_DIMENSIONS_TOO_LARGE', details: { width: 2000, height: 2000, maxPixels: 1920 * 1920 } } });
  }, 120_000);

  it('still take a Full-HD frame in either orientation (decoded and looked at: no face, so the liveness check fails)', async () => {
    for (const [width, height] of [
      [1920, 1080],
      [1080, 1920],
    ] as const) {
      const answer = await signInWith(await flatPng(width, height));
      expect(answer.statusCode).toBe(422);
      expect(answer.json()).toMatchObject({ error: { code: 'LIVENESS_FAILED' } });
    }
  }, 120_000);
});
