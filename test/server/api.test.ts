import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FACE_API_DIR } from '../../src/face/runtime.js';
import { startTestServer, routesOf, type Browser, type TestServer } from './harness.js';

/** Server behaviour that needs no face model: the pool starts on first use and no test here uses it. */

const PATIENT = { resourceType: 'Patient', name: [{ family: 'Okafor', given: ['Ada'] }], birthDate: '1961-09-14' };
const photo = readFileSync(path.join(FACE_API_DIR, 'demo', 'sample1.jpg'));

let server: TestServer;
let frontDesk: Browser & { userId: string };
let admin: Browser & { userId: string };

beforeAll(async () => {
  server = await startTestServer({ deployment: { startFaces: 'on-first-use' }, rateLimits: { signIn: { max: 3, windowMs: 60_000 } } });
  frontDesk = await server.signIn(['front-desk']);
  admin = await server.signIn(['admin']);
});

afterAll(async () => {
  await server?.close();
});

/** Every error the server sends: the one documented shape, and nothing from inside the server. */
function expectError(response: { statusCode: number; body: string; json<T>(): T }, status: number, code: string): void {
  expect(response.statusCode).toBe(status);
  const body = response.json<{ error: { code: string; message: string } }>();
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(Object.keys(body)).toEqual(['error']);
  expect(response.body).not.toMatch(/\bat .+\.(ts|js):\d+|stack|node_modules/);
}

describe('health', () => {
  it('answers liveness, and readiness is 503 with Retry-After until the face pool is warm', async () => {
    const health = await server.app.inject('/health');
    expect(health.statusCode).toBe(200);
    expect(health.json()).toEqual({ status: 'ok' });
    const ready = await server.app.inject('/ready');
    expect(ready.statusCode).toBe(503);
    expect(ready.headers['retry-after']).toBe('5');
    expect(ready.json()).toMatchObject({ ready: false, store: 'ok', faces: { workers: 0 } });
  });
});

describe('errors', () => {
  it('400: a body that breaks the schema names the path, not the value', async () => {
    const response = await server.as(frontDesk, { method: 'POST', url: '/api/v1/patients/2c8f3b8e-58b4-4b52-9a55-1bd1c3a2b0aa/consent', payload: { notice: 7 } });
    expectError(response, 400, 'VALIDATION_FAILED');
    expect(response.json<{ error: { details: { issues: { path: string }[] } } }>().error.details.issues[0]!.path).toBe('body.notice');
  });

  it('400: malformed JSON', async () => {
    const response = await server.as(frontDesk, { method: 'POST', url: '/api/v1/patients', headers: { 'content-type': 'application/json' }, payload: '{"resourceType":' });
    expectError(response, 400, 'VALIDATION_FAILED');
  });

  it('401 without a session, and with a session token that does not exist', async () => {
    expectError(await server.app.inject('/api/v1/patients?name=ada'), 401, 'UNAUTHENTICATED');
    const forged = await server.app.inject({ url: '/api/v1/patients?name=ada', headers: { cookie: `medface_session=mfs_${'A'.repeat(43)}` } });
    expectError(forged, 401, 'UNAUTHENTICATED');
    expect(String(forged.headers['set-cookie'])).toMatch(/medface_session=;/);
    expectError(await server.app.inject({ method: 'POST', url: '/api/v1/identify', headers: { authorization: 'Bearer mfk_nope' } }), 401, 'UNAUTHENTICATED');
  });

  it('403: the policy refuses an operation the role does not have (the administrator sees no patients)', async () => {
    const response = await server.as(admin, { method: 'GET', url: '/api/v1/patients?name=ada' });
    expectError(response, 403, 'FORBIDDEN');
    const denied = await server.deployment.medface.audit.search(server.deployment.medface.store, { actor: admin.userId, outcome: 'denied', limit: 10 });
    expect(denied.map((e) => e.action)).toContain('patient.search');
  });

  it('404 for an unknown route, an unknown patient, and FHIR answers OperationOutcome', async () => {
    expectError(await server.as(frontDesk, { method: 'GET', url: '/api/v1/no-such-thing' }), 404, 'NOT_FOUND');
    expectError(await server.app.inject('/nothing-here'), 404, 'NOT_FOUND');
    expectError(await server.as(frontDesk, { method: 'GET', url: '/api/v1/patients/2c8f3b8e-58b4-4b52-9a55-1bd1c3a2b0aa' }), 404, 'NOT_FOUND');
    const fhir = await server.as(frontDesk, { method: 'GET', url: '/fhir/Patient/2c8f3b8e-58b4-4b52-9a55-1bd1c3a2b0aa' });
    expect(fhir.statusCode).toBe(404);
    expect(fhir.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(fhir.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found', details: { coding: [{ code: 'NOT_FOUND' }] } }] });
    expectError(await server.as(frontDesk, { method: 'GET', url: `/api/v1/patients/${'x'.repeat(600)}` }), 400, 'VALIDATION_FAILED');
    const unknownType = await server.as(frontDesk, { method: 'GET', url: '/fhir/Spaceship/1' });
    expect(unknownType.statusCode).toBe(404);
    expect(unknownType.json()).toMatchObject({ resourceType: 'OperationOutcome' });
  });

  it('413 for a JSON body over the limit, and for an uploaded image over 15 MiB', async () => {
    const big = { ...PATIENT, name: [{ family: 'x'.repeat(2 * 1024 * 1024) }] };
    expectError(await server.as(frontDesk, { method: 'POST', url: '/api/v1/patients', payload: big }), 413, 'BODY_TOO_LARGE');
    const { key } = await server.apiKey(['identify:patient']);
    const boundary = 'medface-boundary';
    const upload = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="huge.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
      Buffer.alloc(16 * 1024 * 1024, 0xff),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const response = await server.app.inject({
      method: 'POST',
      url: '/api/v1/identify',
      headers: { authorization: `Bearer ${key}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload: upload,
    });
    expectError(response, 413, 'IMAGE_TOO_LARGE');
  });

  it('415 for a body that is neither JSON nor multipart', async () => {
    const response = await server.as(frontDesk, { method: 'POST', url: '/api/v1/patients', headers: { 'content-type': 'text/plain' }, payload: 'Ada Okafor' });
    expectError(response, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('500 when the store is gone: INTERNAL with the request id, the cause only in the log', async () => {
    const broken = await startTestServer({ deployment: { startFaces: 'on-first-use' } });
    try {
      const desk = await broken.signIn(['front-desk']);
      await broken.deployment.medface.store.close();
      const response = await broken.as(desk, { method: 'GET', url: '/api/v1/patients?name=ada' });
      expect(response.statusCode).toBeGreaterThanOrEqual(500);
      const body = response.json<{ error: { code: string; message: string } }>();
      expect(['INTERNAL', 'STORE_UNAVAILABLE']).toContain(body.error.code);
      expect(response.body).not.toMatch(/\bat .+\.(ts|js):\d+|stack|node_modules/);
      if (body.error.code === 'INTERNAL') expect(body.error.message).toContain(String(response.headers['x-request-id']));
      expect(broken.logs.text).toMatch(/"msg":"request failed"/);
    } finally {
      await broken.app.close();
    }
  });
});

describe('embeddings never come from a client', () => {
  it('refuses an embedding field in JSON and in a multipart upload, before any face work', async () => {
    const { key } = await server.apiKey(['identify:patient', 'verify:patient']);
    const bearer = { authorization: `Bearer ${key}` };
    const embedding = Array.from({ length: 128 }, (_, i) => Math.sin(i));
    const json = await server.app.inject({ method: 'POST', url: '/api/v1/identify', headers: bearer, payload: { image: photo.toString('base64'), embedding } });
    expectError(json, 400, 'VALIDATION_FAILED');
    expect(json.body).toContain('body.embedding');

    const boundary = 'medface-boundary';
    const multipart = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="face.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
      photo,
      Buffer.from(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="embedding"\r\n\r\n${JSON.stringify(embedding)}\r\n--${boundary}--\r\n`),
    ]);
    const upload = await server.app.inject({
      method: 'POST',
      url: '/api/v1/patients/2c8f3b8e-58b4-4b52-9a55-1bd1c3a2b0aa/verify',
      headers: { ...bearer, 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload: multipart,
    });
    expectError(upload, 400, 'VALIDATION_FAILED');
    expect(upload.body).toContain('body.embedding');

    const enrol = await server.as(frontDesk, {
      method: 'POST',
      url: '/api/v1/patients/2c8f3b8e-58b4-4b52-9a55-1bd1c3a2b0aa/enrol',
      payload: { images: [photo.toString('base64')], embedding },
    });
    expectError(enrol, 400, 'VALIDATION_FAILED');
    // the face pool was never started: nothing was embedded
    expect((await server.deployment.readiness()).faces.workers).toBe(0);
  });
});

describe('CSRF', () => {
  it('refuses a cookie-authenticated change without the token, with a wrong one, or from another site', async () => {
    const post = (headers: Record<string, string>) => server.app.inject({ method: 'POST', url: '/api/v1/patients', headers: { cookie: frontDesk.cookie, ...headers }, payload: PATIENT });
    expectError(await post({}), 403, 'CSRF_REJECTED');
    expectError(await post({ 'x-csrf-token': 'A'.repeat(43) }), 403, 'CSRF_REJECTED');
    expectError(await post({ 'x-csrf-token': frontDesk.csrf, 'sec-fetch-site': 'cross-site' }), 403, 'CSRF_REJECTED');
    const accepted = await post({ 'x-csrf-token': frontDesk.csrf, 'sec-fetch-site': 'same-origin' });
    expect(accepted.statusCode).toBe(201);
    expect(accepted.json()).toMatchObject({ resourceType: 'Patient', birthDate: '1961-09-14' });
  });

  it('covers sign-in too, and exempts API clients with a bearer key', async () => {
    expectError(await server.app.inject({ method: 'POST', url: '/api/v1/auth/sign-in', payload: { username: 'x', password: 'y', code: '1' } }), 403, 'CSRF_REJECTED');
    const { key } = await server.apiKey(['verify:patient']);
    const response = await server.app.inject({
      method: 'POST',
      url: '/api/v1/telemedicine/checks',
      headers: { authorization: `Bearer ${key}` },
      payload: { patientId: '2c8f3b8e-58b4-4b52-9a55-1bd1c3a2b0aa' },
    });
    expectError(response, 404, 'NOT_FOUND');
  });
});

describe('rate limits', () => {
  it('answers 429 RATE_LIMITED with Retry-After once a client exceeds the sign-in limit', async () => {
    const browser = await server.newBrowser();
    // a client of its own: the accounts signed in above came from the default test address
    const attempt = (n: number) =>
      server.as(browser, {
        method: 'POST',
        url: '/api/v1/auth/sign-in',
        remoteAddress: '192.0.2.7',
        payload: { username: `nobody-${n}`, password: 'wrong password', code: '000000' },
      });
    for (let n = 0; n < 3; n++) expectError(await attempt(n), 401, 'SIGN_IN_FAILED');
    const limited = await attempt(3);
    expectError(limited, 429, 'RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
  });
});

describe('OpenAPI', () => {
  it('documents every route the server answers, with its schemas', async () => {
    const response = await server.app.inject('/docs/json');
    expect(response.statusCode).toBe(200);
    const doc = response.json<{ paths: Record<string, Record<string, { responses: Record<string, unknown>; parameters?: unknown[] }>> }>();
    const documented = new Set(Object.entries(doc.paths).flatMap(([url, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${url.replace(/\{(\w+)\}/g, ':$1')}`)));
    const served = routesOf(server.app).filter((r) => !r.startsWith('HEAD ') && /^\w+ \/(api|fhir|health|ready|metrics)/.test(r));
    expect(served.length).toBeGreaterThan(40);
    expect(served.filter((r) => !documented.has(r))).toEqual([]);
    for (const [url, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        expect(Object.keys(operation.responses), `${method} ${url}`).toEqual(expect.arrayContaining(['4XX', '5XX']));
      }
    }
    const security = (url: string, method: string) => (doc.paths[url]![method] as { security?: unknown[] }).security;
    expect(security('/health', 'get')).toEqual([]);
    expect(security('/api/v1/auth/sign-in', 'post')).toEqual([]);
    expect(security('/api/v1/patients', 'post')).toBeUndefined(); // the document's default: session cookie or API key
    const ui = await server.app.inject('/docs/');
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toMatch(/text\/html/);
  });
});

describe('security headers and cookies', () => {
  it('sends a same-origin CSP, no-store on API answers, and session cookies that scripts cannot read', async () => {
    const response = await server.app.inject('/api/v1/auth/csrf');
    const csp = String(response.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['permissions-policy']).toContain('camera=(self)');
    expect(response.headers['strict-transport-security']).toBeUndefined();
    expect(String(response.headers['set-cookie'])).toMatch(/medface_csrf=.+; Path=\/; HttpOnly; SameSite=Strict$/);
  });
});

describe('body encoding (issue 15, low)', () => {
  const patient = (family: string) => JSON.stringify({ resourceType: 'Patient', name: [{ family }], birthDate: '1970-01-01' });

  it('refuses a body that is not UTF-8 instead of storing U+FFFD, and a declared charset other than UTF-8', async () => {
    const latin1 = Buffer.from(patient('Müller'), 'latin1');
    const notUtf8 = await server.as(frontDesk, { method: 'POST', url: '/api/v1/patients', headers: { 'content-type': 'application/json' }, payload: latin1 });
    expect(notUtf8.statusCode, notUtf8.body).toBe(400);
    expect(notUtf8.json().error.code).toBe('VALIDATION_FAILED');
    const declared = await server.as(frontDesk, { method: 'POST', url: '/api/v1/patients', headers: { 'content-type': 'application/json; charset=iso-8859-1' }, payload: latin1 });
    expect(declared.statusCode).toBe(415);
    expect(declared.json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const fhir = await server.as(frontDesk, { method: 'POST', url: '/api/v1/patients', headers: { 'content-type': 'application/fhir+json' }, payload: latin1 });
    expect(fhir.statusCode).toBe(400);

    const utf8 = await server.as(frontDesk, {
      method: 'POST',
      url: '/api/v1/patients',
      headers: { 'content-type': 'application/json; charset=UTF-8' },
      payload: Buffer.from(patient('Müller'), 'utf8'),
    });
    expect(utf8.statusCode, utf8.body).toBe(201);
    expect(utf8.json<{ name: { family: string }[] }>().name[0]!.family).toBe('Müller');
  });
});

describe('patients and records through REST and FHIR', () => {
  it('registers a patient, records consent, and reads them back as FHIR with a searchset Bundle', async () => {
    const created = await server.as(frontDesk, { method: 'POST', url: '/api/v1/patients', payload: { ...PATIENT, name: [{ family: 'Mbeki', given: ['Thabo'] }] } });
    expect(created.statusCode).toBe(201);
    const id = created.json<{ id: string }>().id;
    const consent = await server.as(frontDesk, { method: 'POST', url: `/api/v1/patients/${id}/consent`, payload: { notice: 'v1' } });
    expect(consent.statusCode).toBe(201);

    const search = await server.as(frontDesk, { method: 'GET', url: '/fhir/Patient?name=mbeki' });
    expect(search.statusCode).toBe(200);
    expect(search.headers['content-type']).toMatch(/^application\/fhir\+json/);
    const bundle = search.json<{ resourceType: string; type: string; total: number; entry: { fullUrl: string; resource: { id: string } }[] }>();
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 1 });
    expect(bundle.entry[0]!.resource.id).toBe(id);
    expect(bundle.entry[0]!.fullUrl).toMatch(new RegExp(`/fhir/Patient/${id}$`));
    // issue 15 (low): the client's Host header is never written into the links (MEDFACE_PUBLIC_URL is their base)
    const hostile = await server.as(frontDesk, { method: 'GET', url: '/fhir/Patient?name=mbeki', headers: { host: 'attacker.example' } });
    expect(hostile.statusCode).toBe(200);
    expect(hostile.body).not.toContain('attacker.example');

    const consents = await server.as(frontDesk, { method: 'GET', url: `/fhir/Consent?patient=Patient/${id}` });
    expect(consents.json()).toMatchObject({ type: 'searchset', total: 1, entry: [{ resource: { resourceType: 'Consent', status: 'active' } }] });

    // front desk sees encounters but no clinical content
    const visit = await server.as(frontDesk, {
      method: 'POST',
      url: '/api/v1/records',
      payload: { resourceType: 'Encounter', status: 'arrived', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: `Patient/${id}` } },
    });
    expect(visit.statusCode).toBe(201);
    expectError(await server.as(frontDesk, { method: 'POST', url: '/api/v1/records', payload: { resourceType: 'Encounter', status: 'arrived' } }), 400, 'VALIDATION_FAILED');
    const condition = { resourceType: 'Condition', subject: { reference: `Patient/${id}` }, code: { text: 'Asthma' } };
    expectError(await server.as(frontDesk, { method: 'POST', url: '/api/v1/records', payload: condition }), 403, 'FORBIDDEN');
    const chart = await server.as(frontDesk, { method: 'GET', url: `/api/v1/patients/${id}/chart` });
    expect(chart.statusCode).toBe(200);
    expect(Object.keys(chart.json<{ resources: object }>().resources)).toEqual(['Encounter']);
    expect(chart.json()).toMatchObject({ identity: { method: 'password+totp' }, breakGlass: null });
    const conditions = await server.as(frontDesk, { method: 'GET', url: `/fhir/Condition?patient=${id}` });
    expect(conditions.statusCode).toBe(403);
    expect(conditions.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'forbidden', details: { coding: [{ code: 'FORBIDDEN' }] } }] });
    const encounters = await server.as(frontDesk, { method: 'GET', url: `/fhir/Encounter?patient=${id}` });
    expect(encounters.json()).toMatchObject({ total: 1, entry: [{ resource: { resourceType: 'Encounter', status: 'arrived' } }] });
  });
});

describe('web application', () => {
  it('serves the built app at /, its client-side routes as index.html, and keeps API misses JSON', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'medface-web-'));
    mkdirSync(path.join(root, 'assets'));
    writeFileSync(path.join(root, 'index.html'), '<!doctype html><title>medface</title><script type="module" src="/assets/app-1a2b.js"></script>');
    writeFileSync(path.join(root, 'assets', 'app-1a2b.js'), 'console.log("medface")');
    const web = await startTestServer({ deployment: { startFaces: 'on-first-use' }, webRoot: root });
    try {
      const index = await web.app.inject('/');
      expect(index.statusCode).toBe(200);
      expect(index.body).toContain('<title>medface</title>');
      expect(index.headers['cache-control']).toBe('no-cache');
      expect(index.headers['content-security-policy']).toContain("script-src 'self'");
      const asset = await web.app.inject('/assets/app-1a2b.js');
      expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      const page = await web.app.inject({ url: '/kiosk', headers: { accept: 'text/html,application/xhtml+xml' } });
      expect(page.statusCode).toBe(200);
      expect(page.body).toContain('<title>medface</title>');
      expectError(await web.app.inject({ url: '/api/v1/kiosk', headers: { accept: 'text/html' } }), 404, 'NOT_FOUND');
      expectError(await web.app.inject('/missing.js'), 404, 'NOT_FOUND');
    } finally {
      await web.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
