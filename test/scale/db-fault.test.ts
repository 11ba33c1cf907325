import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { base32Decode, totpCode } from '../../src/access/totp.js';
import { createUser } from '../../src/access/users.js';
import { FacePool } from '../../src/face/index.js';
import type { QualityReport } from '../../src/face/quality.js';
import { buildServer } from '../../src/server/app.js';
import type { Actor } from '../../src/services/auditing.js';
import { grantConsent } from '../../src/services/patients/consent.js';
import { openMedface, type Medface } from '../../src/services/context.js';
import { Deployment } from '../../src/services/operations/deployment.js';
import { erase } from '../../src/services/patients/erase.js';
import { createPatientRecord } from '../../src/services/patients/patients.js';
import { storeTemplates, syncGallery } from '../../src/services/biometrics/templates.js';
import { fourFaces } from '../resilience/harness.js';
import { OPERATOR } from '../server/harness.js';
import { describeOnPostgres, type TestDatabase } from '../store/harness.js';
import { TcpProxy } from './tcp-proxy.js';

/**
 * A node loses PostgreSQL and gets it back, without anyone stopping the shared server: the node reaches the
 * database through a TCP proxy the test controls. Meanwhile another node (direct connection) keeps writing.
 * While cut off: every request that needs the store is a clean 503 STORE_UNAVAILABLE with Retry-After, in
 * bounded time; /health still answers; /ready is 503. Once restored, without restart: requests succeed, /ready
 * is 200, and the gallery has caught up with what the other node committed meanwhile (full resync).
 */

const who: Actor = { actor: 'fault-test', client: 'test' };
const MODEL = 'fault-test@1';
const QUALITY: QualityReport = { passed: true, reasons: [], metrics: {} as QualityReport['metrics'] };

/** A cut-off request must be answered within this (pg connect timeout 5 s; a silent network: reply timeout 15 s). */
const REFUSED_ANSWER_MS = 7_000;
const SILENT_ANSWER_MS = 20_000;

describeOnPostgres('database connection lost and restored', (postgres) => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let dir: string;
  let pool: FacePool;
  let deployment: Deployment;
  let app: FastifyInstance;
  let other: Medface;
  let cookie: string;
  let csrf: string;
  let face: Buffer;

  const request = (method: 'GET' | 'POST', url: string, payload?: object) =>
    app.inject({ method, url, headers: { cookie, ...(method === 'POST' && { 'x-csrf-token': csrf }) }, ...(payload && { payload }) });

  /** The answer and how long it took. */
  async function timed(send: () => Promise<LightMyRequestResponse>): Promise<{ response: LightMyRequestResponse; ms: number }> {
    const start = performance.now();
    const response = await send();
    return { response, ms: performance.now() - start };
  }

  function expectUnavailable(response: LightMyRequestResponse): void {
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ error: { code: 'STORE_UNAVAILABLE' } });
    expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
  }

  async function within<T>(ms: number, what: string, attempt: () => Promise<T | undefined>): Promise<T> {
    const start = performance.now();
    for (;;) {
      const result = await attempt();
      if (result !== undefined) return result;
      if (performance.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
      await sleep(50);
    }
  }

  async function enrolSynthetic(patientId: string): Promise<string> {
    const vector = new Float32Array(128).map((_, i) => Math.sin(i + patientId.charCodeAt(0)));
    const items = [{ sealed: await other.templates.seal({ model: MODEL, vector }, patientId), quality: QUALITY }];
    const change = await other.store.transaction(async (tx) => {
      const stored = await storeTemplates(tx, patientId, items, { source: 'enrol', limit: 5, replaceOldest: false });
      await other.audit.append(tx, { ...who, action: 'biometric.enrol', outcome: 'success', patientId, details: {} });
      return stored;
    });
    await syncGallery(other, change);
    return change.inserted[0]!.id;
  }

  async function newPatient(family: string): Promise<string> {
    const id = (await createPatientRecord(other, { resourceType: 'Patient', name: [{ family, given: ['Test'] }], birthDate: '1970-01-01' }, who)).id!;
    await grantConsent(other, { patientId: id, notice: 'v1' }, who);
    return id;
  }

  const gallery = () => deployment.medface.templates.gallery;

  beforeAll(async () => {
    db = await postgres.create();
    const direct = new URL(db.config.databaseUrl!);
    proxy = await TcpProxy.start({ host: direct.hostname, port: Number(direct.port || 5432) });
    const viaProxy = new URL(direct);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    dir = mkdtempSync(path.join(tmpdir(), 'medface-fault-'));
    pool = await FacePool.create({ size: 1 });
    face = (await fourFaces())[0]!;
    deployment = await Deployment.start({ dataDir: dir, databaseUrl: viaProxy.toString(), keyFile: undefined }, { pool });
    app = await buildServer({ deployment, webRoot: null, log: { level: 'silent' } });
    await app.ready();
    other = await openMedface({ dataDir: dir, databaseUrl: direct.toString(), keyFile: undefined });

    const password = 'a long enough first password';
    const created = await createUser(deployment.access, OPERATOR, { username: 'fault-tester', roles: ['front-desk'], password, totp: true });
    const secret = base32Decode(new URL(created.totpUri as string).searchParams.get('secret') as string);
    const start = await app.inject({ method: 'GET', url: '/api/v1/auth/csrf' });
    csrf = start.json<{ csrfToken: string }>().csrfToken;
    cookie = `medface_csrf=${csrf}`;
    const signIn = await request('POST', '/api/v1/auth/sign-in', { username: 'fault-tester', password, code: totpCode(secret, new Date()), newPassword: `${password} renewed` });
    expect(signIn.statusCode).toBe(200);
    // the session cookie, and the CSRF cookie bound to it
    cookie = (signIn.cookies as { name: string; value: string }[]).map((c) => `${c.name}=${c.value}`).join('; ');
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await deployment?.close();
    await other?.close();
    await pool?.close();
    await proxy?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves normally through the proxy, following the other node', async () => {
    expect((await app.inject('/ready')).json()).toMatchObject({ ready: true, store: 'ok', gallery: 'live' });
    const patientId = await newPatient('Before');
    const templateId = await enrolSynthetic(patientId);
    await within(1000, 'the enrolment reaching the node', async () => (gallery().templatesOf(patientId).includes(templateId) ? true : undefined));
    expect((await request('GET', `/api/v1/patients/${patientId}`)).statusCode).toBe(200);
    expect((await request('POST', '/api/v1/identify', { image: face.toString('base64') })).statusCode).toBe(200);
  }, 60_000);

  it('database host down: clean 503s at once, /health up, /ready 503; back without restart, gallery resynced', async () => {
    const kept = await newPatient('Kept');
    const keptTemplate = await enrolSynthetic(kept);
    await within(1000, 'the enrolment reaching the node', async () => (gallery().templatesOf(kept).length === 1 ? true : undefined));
    const sizeBefore = gallery().size;

    await proxy.cut();
    for (const send of [
      () => request('GET', `/api/v1/patients/${kept}`),
      () => request('POST', '/api/v1/identify', { image: face.toString('base64') }),
      () => request('GET', '/api/v1/auth/session'),
    ]) {
      const { response, ms } = await timed(send);
      expectUnavailable(response);
      expect(ms).toBeLessThan(REFUSED_ANSWER_MS);
    }
    expect((await app.inject('/health')).statusCode).toBe(200);
    const ready = await timed(() => app.inject('/ready'));
    expect(ready.response.statusCode).toBe(503);
    expect(ready.response.json()).toMatchObject({ ready: false, store: 'unavailable' });
    expect(ready.ms).toBeLessThan(REFUSED_ANSWER_MS);
    await within(2000, 'the listener noticing', async () => ((await app.inject('/ready')).json<{ gallery: string }>().gallery === 'reconnecting' ? true : undefined));

    // the other node keeps working: this node hears nothing of it
    const added = await newPatient('Added');
    const addedTemplate = await enrolSynthetic(added);
    await erase(other, kept, who);
    await sleep(1500);
    expect(gallery().templatesOf(added)).toEqual([]);
    expect(gallery().templatesOf(kept)).toEqual([keptTemplate]);

    await proxy.restore();
    const restoredAt = performance.now();
    await within(5000, 'ready again', async () => ((await app.inject('/ready')).statusCode === 200 ? true : undefined));
    await within(5000, 'the gallery resynced', async () => (gallery().templatesOf(added).includes(addedTemplate) && gallery().templatesOf(kept).length === 0 ? true : undefined));
    console.info(`[db-fault] ready and resynced ${(performance.now() - restoredAt).toFixed(0)} ms after the database came back`);
    expect(gallery().size).toBe(sizeBefore);
    expect((await request('GET', `/api/v1/patients/${added}`)).statusCode).toBe(200);
    expect((await request('POST', '/api/v1/identify', { image: face.toString('base64') })).statusCode).toBe(200);
    // and it follows live changes again
    const later = await newPatient('Later');
    const laterTemplate = await enrolSynthetic(later);
    await within(1000, 'a live enrolment after recovery', async () => (gallery().templatesOf(later).includes(laterTemplate) ? true : undefined));
  }, 90_000);

  it('silent network (no reset, no answer): 503s in bounded time, not a hang; recovers', async () => {
    proxy.stall();
    const answers = await Promise.all([
      timed(() => request('GET', '/api/v1/auth/session')),
      timed(() => request('POST', '/api/v1/identify', { image: face.toString('base64') })),
      timed(() => app.inject('/ready')),
    ]);
    for (const { ms } of answers) expect(ms).toBeLessThan(SILENT_ANSWER_MS);
    expectUnavailable(answers[0]!.response);
    expectUnavailable(answers[1]!.response);
    expect(answers[2]!.response.statusCode).toBe(503);
    console.info(`[db-fault] silent network: answers after ${answers.map((a) => a.ms.toFixed(0)).join(', ')} ms`);
    await proxy.restore();
    await within(10_000, 'ready again', async () => ((await app.inject('/ready')).statusCode === 200 ? true : undefined));
    expect((await request('GET', '/api/v1/auth/session')).statusCode).toBe(200);
  }, 90_000);
});
