import sharp from 'sharp';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type Browser, type TestServer } from './harness.js';

/** Monitoring: Prometheus text at /metrics, for administrators and metrics-scoped keys only, with no one named in it. */

let server: TestServer;
let frontDesk: Browser & { userId: string };

beforeAll(async () => {
  server = await startTestServer({ deployment: { poolSize: 1 } });
  frontDesk = await server.signIn(['front-desk'], 'desk.metrics');
}, 120_000);

afterAll(async () => {
  await server?.close();
});

/** The value of one sample (`name{labels} value`), or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

it('answers only administrators and API keys with the metrics:read scope', async () => {
  expect((await server.app.inject('/metrics')).statusCode).toBe(401);
  expect((await server.as(frontDesk, { method: 'GET', url: '/metrics' })).statusCode).toBe(403);
  const { key: identifyKey } = await server.apiKey(['identify:patient']);
  expect((await server.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${identifyKey}` } })).statusCode).toBe(403);

  const admin = await server.signIn(['admin']);
  expect((await server.as(admin, { method: 'GET', url: '/metrics' })).statusCode).toBe(200);
  const { key } = await server.apiKey(['metrics:read'], 'prometheus');
  const scraped = await server.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${key}` } });
  expect(scraped.statusCode).toBe(200);
  expect(scraped.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
});

it('counts requests per route, face analyses, identification outcomes and the gallery, naming no one', async () => {
  const { key } = await server.apiKey(['metrics:read'], 'prometheus two');
  const scrape = async () => (await server.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${key}` } })).body;
  const before = await scrape();

  const blank = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#808080' } })
    .jpeg()
    .toBuffer();
  const noFace = await server.as(frontDesk, { method: 'POST', url: '/api/v1/identify', payload: { image: blank.toString('base64') } });
  expect(noFace.statusCode).toBe(422);
  const after = await scrape();

  const identified = 'medface_http_request_duration_seconds_count{method="POST",route="/api/v1/identify",status="422"}';
  expect(sample(before, identified)).toBeUndefined();
  expect(sample(after, identified)).toBe(1);
  const outcome = 'medface_outcomes_total{action="biometric.identify",outcome="failure",code="NO_FACE"}';
  expect(sample(after, outcome)).toBe((sample(before, outcome) ?? 0) + 1);
  const analysed = 'medface_face_analysis_seconds_count{kind="embed",outcome="refused"}';
  expect(sample(after, analysed)).toBe((sample(before, analysed) ?? 0) + 1);
  expect(sample(after, 'medface_face_workers')).toBe(1);
  expect(sample(after, 'medface_face_queue')).toBe(0);
  expect(sample(after, 'medface_gallery_templates')).toBe(0);

  // a URL that matches no route is one series, not one per path
  await server.app.inject('/api/v1/no-such-route/123');
  expect(await scrape()).toContain('route="unmatched"');
  expect(after).not.toContain('desk.metrics');
  expect(after).not.toContain(frontDesk.userId);
});
