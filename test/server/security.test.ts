import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/access/policy.js';
import { base32Decode, totpCode } from '../../src/access/totp.js';
import { createUser } from '../../src/access/users.js';
import { FacePool } from '../../src/face/index.js';
import { demoFaces, PATIENTS, writeTestThresholds, type Faces } from '../services/fixtures.js';
import { OPERATOR, routesOf, startTestServer, type Browser, type TestServer } from './harness.js';

/**
 * Attacks on the HTTP surface: every API and FHIR route refuses a caller without credentials (the routes
 * are read from the server itself, so a route added without access control fails here), every
 * state-changing route refuses a cookie request without the CSRF token, a session token planted before
 * sign-in is never adopted, and a whole clinical scenario leaves no PHI, image bytes, embeddings or
 * secrets in the log.
 */

/** The routes that need no caller, each for a reason: sign-in itself (and its liveness challenge), the CSRF token, the telemedicine link (its id is the proof), FHIR's capability statement, kiosk pairing. */
const PUBLIC = new Set([
  'GET /api/v1/auth/csrf',
  'POST /api/v1/auth/sign-in',
  'POST /api/v1/auth/sign-out',
  'POST /api/v1/auth/face-sign-in',
  'POST /api/v1/auth/patient-sign-in',
  'POST /api/v1/telemedicine/verify',
  // a liveness challenge is asked for before a face sign-in, so before there is a caller
  'POST /api/v1/liveness/challenges',
  // feedback while that challenge is filmed: it grants and consumes nothing, and needs an unused challenge
  'POST /api/v1/liveness/progress',
  'GET /api/v1/telemedicine/link/:checkId',
  'GET /fhir/metadata',
  // a kiosk's pairing (the one-time code is the proof) and whether this browser is a paired kiosk
  'POST /api/v1/kiosk/pair',
  'GET /api/v1/kiosk/device',
]);

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

let pool: FacePool;
let images: Faces;
let server: TestServer;
let scratch: string;

beforeAll(async () => {
  pool = await FacePool.create({ size: 1, queueLimit: 8 });
  images = await demoFaces(pool);
  scratch = mkdtempSync(path.join(os.tmpdir(), 'medface-security-'));
  const thresholdsFile = path.join(scratch, 'thresholds.json');
  writeTestThresholds(thresholdsFile);
  server = await startTestServer({ deployment: { pool, thresholdsFile } });
}, 180_000);

afterAll(async () => {
  await server?.close();
  await pool?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** The API and FHIR routes the server answers, with a value in every path parameter. */
function apiRoutes(): Array<{ route: string; method: string; url: string }> {
  return routesOf(server.app)
    .filter((r) => /^(GET|POST|PUT|PATCH|DELETE) \/(api\/v1|fhir)\//.test(r))
    .map((route) => {
      const [method, pattern] = route.split(' ') as [string, string];
      // long enough for every id pattern (a telemedicine check id is at least 16 characters)
      return { route, method, url: pattern.replace(/:\w+/g, 'c0ffee00-0000-4000-8000-00000000beef') };
    });
}

function errorCode(response: { body: string }): string | undefined {
  try {
    return (JSON.parse(response.body) as { error?: { code?: string }; issue?: Array<{ details?: { coding?: Array<{ code?: string }> } }> }).error?.code;
  } catch {
    return undefined;
  }
}

describe('missing authentication', () => {
  it('every API and FHIR route but the public ones answers 401 without a session, and with a forged one or a bad key', async () => {
    const browser = await server.newBrowser();
    const session = `medface_session=mfs_${randomBytes(32).toString('base64url')}`;
    const bound = await server.app.inject({ method: 'GET', url: '/api/v1/auth/csrf', headers: { cookie: session } });
    const forged = { cookie: `${bound.cookies.map((c) => `${c.name}=${c.value}`).join('; ')}; ${session}`, csrf: bound.json<{ csrfToken: string }>().csrfToken };
    const routes = apiRoutes();
    expect(routes.length).toBeGreaterThan(50);
    const open: string[] = [];
    for (const [i, { route, method, url }] of routes.entries()) {
      const payload = UNSAFE.has(method) ? {} : undefined;
      const attempts = [
        // a browser with a CSRF token but no session
        await server.as(browser, { method: method as 'GET', url, ...(payload && { payload }) }),
        // a session token nobody issued (with the CSRF cookie GET /csrf binds to it)
        await server.as(forged, { method: method as 'GET', url, ...(payload && { payload }) }),
        // an API key nobody issued (from an address of its own: bad keys count towards an address's lockout)
        await server.app.inject({
          method: method as 'GET',
          url,
          remoteAddress: `198.18.${i >> 8}.${i & 255}`,
          headers: { authorization: `Bearer mfk_${randomBytes(32).toString('base64url')}` },
          ...(payload && { payload }),
        }),
      ];
      const refused = attempts.every((a) => a.statusCode === 401);
      if (!refused) {
        open.push(route);
        continue;
      }
      // JSON routes say UNAUTHENTICATED; FHIR routes answer an OperationOutcome with the same status
      if (!route.includes(' /fhir/')) for (const a of attempts) expect(errorCode(a), route).toBe('UNAUTHENTICATED');
    }
    expect(new Set(open)).toEqual(new Set([...PUBLIC].filter((r) => routes.some((x) => x.route === r))));
  });
});

describe('CSRF', () => {
  it('every state-changing route refuses a signed-in cookie request without the token, with a wrong one, and from another site', async () => {
    const admin = await server.signIn(['admin']);
    const unsafe = apiRoutes().filter((r) => UNSAFE.has(r.method));
    expect(unsafe.length).toBeGreaterThan(20);
    for (const { route, method, url } of unsafe) {
      const send = (headers: Record<string, string>) => server.app.inject({ method: method as 'POST', url, headers: { cookie: admin.cookie, ...headers }, payload: {} });
      for (const response of [await send({}), await send({ 'x-csrf-token': randomBytes(32).toString('base64url') }), await send({ 'x-csrf-token': admin.csrf, 'sec-fetch-site': 'cross-site' })]) {
        expect(response.statusCode, route).toBe(403);
        if (!route.includes(' /fhir/')) expect(errorCode(response), route).toBe('CSRF_REJECTED');
      }
    }
    // the token belongs to its cookie: another browser's token does not pass with this browser's cookie
    const other = await server.newBrowser();
    const crossed = await server.app.inject({ method: 'POST', url: '/api/v1/patients', headers: { cookie: admin.cookie, 'x-csrf-token': other.csrf }, payload: PATIENTS.bob });
    expect(errorCode(crossed)).toBe('CSRF_REJECTED');
  });

  it('binds the CSRF cookie to the session: a cookie and token from another browser or session, planted in a signed-in browser, are refused', async () => {
    const desk = await server.signIn(['front-desk']);
    const session = /medface_session=[^;]+/.exec(desk.cookie)![0];
    const csrfCookie = (browser: Browser) => /medface_csrf=[^;]+/.exec(browser.cookie)![0];
    // an empty body: past the CSRF check the route refuses it (400), so nothing is written either way
    const post = (browser: Browser) => server.as(browser, { method: 'POST', url: '/api/v1/patients', payload: {} });
    expect(errorCode(await post(desk))).toBe('VALIDATION_FAILED');
    const anonymous = await server.newBrowser();
    // a pair bound to another session: what GET /csrf hands a browser holding that session's cookie
    const other = `medface_session=mfs_${randomBytes(32).toString('base64url')}`;
    const issued = await server.app.inject({ method: 'GET', url: '/api/v1/auth/csrf', headers: { cookie: other } });
    const otherSession = { cookie: `${issued.cookies.map((c) => `${c.name}=${c.value}`).join('; ')}; ${other}`, csrf: issued.json<{ csrfToken: string }>().csrfToken };
    expect(errorCode(await post(otherSession))).toBe('UNAUTHENTICATED');
    for (const planted of [anonymous, otherSession]) {
      const response = await post({ cookie: `${csrfCookie(planted)}; ${session}`, csrf: planted.csrf });
      expect(response.statusCode).toBe(403);
      expect(errorCode(response)).toBe('CSRF_REJECTED');
    }
    // the browser's own token with the cookie it held before signing in is not bound to the session either
    const token = csrfCookie(desk).split('=')[1]!.split('.')[0]!;
    expect(errorCode(await post({ cookie: `medface_csrf=${token}; ${session}`, csrf: desk.csrf }))).toBe('CSRF_REJECTED');
    // GET /csrf hands the signed-in browser the token it holds, bound to its session
    const again = await server.as(desk, { method: 'GET', url: '/api/v1/auth/csrf' });
    expect(again.json()).toEqual({ csrfToken: desk.csrf });
  });
});

describe('session fixation', () => {
  /** A staff account, and its password and a TOTP code maker, to sign in by hand on a chosen browser. */
  async function account(roles: Role[]) {
    const username = `fixation-${randomBytes(4).toString('hex')}`;
    const password = `a first password for ${username}`;
    const created = await createUser(server.deployment.access, OPERATOR, { username, roles, password, totp: true });
    const secret = base32Decode(new URL(created.totpUri as string).searchParams.get('secret') as string);
    return { id: created.user.id, payload: () => ({ username, password, code: totpCode(secret, new Date()), newPassword: `${password}, renewed` }) };
  }
  const sessionOf = (response: { cookies: unknown }) => (response.cookies as Array<{ name: string; value: string }>).find((c) => c.name === 'medface_session')?.value;
  const holding = (browser: Browser, token: string): Browser => ({ ...browser, cookie: `${browser.cookie}; medface_session=${token}` });

  it('never adopts a session token planted before sign-in: sign-in issues its own', async () => {
    const browser = await server.newBrowser();
    const planted = `mfs_${randomBytes(32).toString('base64url')}`;
    expect((await server.as(holding(browser, planted), { method: 'GET', url: '/api/v1/auth/session' })).statusCode).toBe(401);

    const clinician = await account(['clinician']);
    const signedIn = await server.as(holding(browser, planted), { method: 'POST', url: '/api/v1/auth/sign-in', payload: clinician.payload() });
    expect(signedIn.statusCode).toBe(200);
    const issued = sessionOf(signedIn);
    expect(issued).toMatch(/^mfs_/);
    expect(issued).not.toBe(planted);
    // the planted token is worth nothing after the sign-in either
    expect((await server.as(holding(browser, planted), { method: 'GET', url: '/api/v1/auth/session' })).statusCode).toBe(401);
    expect((await server.as(holding(browser, issued!), { method: 'GET', url: '/api/v1/auth/session' })).json()).toMatchObject({ user: { id: clinician.id } });
  });

  it('does not elevate a session held while another account signs in on the same browser', async () => {
    const browser = await server.newBrowser();
    const frontDesk = await account(['front-desk']);
    const admin = await account(['admin']);
    const first = sessionOf(await server.as(browser, { method: 'POST', url: '/api/v1/auth/sign-in', payload: frontDesk.payload() }))!;
    const second = await server.as(holding(browser, first), { method: 'POST', url: '/api/v1/auth/sign-in', payload: admin.payload() });
    expect(second.statusCode).toBe(200);
    const adminToken = sessionOf(second)!;
    expect(adminToken).not.toBe(first);
    // the earlier token still belongs to the front desk, with its roles only
    expect((await server.as(holding(browser, first), { method: 'GET', url: '/api/v1/auth/session' })).json()).toMatchObject({ user: { id: frontDesk.id, roles: ['front-desk'] } });
    expect((await server.as(holding(browser, first), { method: 'GET', url: '/api/v1/users' })).statusCode).toBe(403);
    expect((await server.as(holding(browser, adminToken), { method: 'GET', url: '/api/v1/auth/session' })).json()).toMatchObject({ user: { id: admin.id, roles: ['admin'] } });
  });
});

describe('logs', () => {
  it('carry no PHI, image bytes, embeddings, passwords or tokens across a whole clinical scenario', async () => {
    const frontDesk = await server.signIn(['front-desk']);
    const clinician = await server.signIn(['clinician']);
    const integration = await server.apiKey(['verify:patient', 'identify:patient']);
    const b64 = (image: Buffer) => image.toString('base64');
    const patient = {
      ...PATIENTS.carol,
      identifier: [{ system: 'urn:test:mrn', value: 'MRN-SECRET-7731' }],
      name: [{ family: 'Zyxwvutsonian', given: ['Quillonia'] }],
      telecom: [{ system: 'phone', value: '+44 7700 900123' }],
    };
    const created = await server.as(frontDesk, { method: 'POST', url: '/api/v1/patients', payload: patient });
    expect(created.statusCode).toBe(201);
    const id = created.json<{ id: string }>().id;
    const steps = [
      await server.as(frontDesk, { method: 'POST', url: `/api/v1/patients/${id}/consent`, payload: { notice: 'v2' } }),
      await server.as(frontDesk, { method: 'POST', url: `/api/v1/patients/${id}/enrol`, payload: { images: [`data:image/jpeg;base64,${b64(images.carol)}`] } }),
      await server.app.inject({ method: 'POST', url: `/api/v1/patients/${id}/verify`, headers: { authorization: `Bearer ${integration.key}` }, payload: { image: b64(images.carol) } }),
      await server.app.inject({ method: 'POST', url: '/api/v1/identify', headers: { authorization: `Bearer ${integration.key}` }, payload: { image: b64(images.carol) } }),
      await server.as(clinician, { method: 'GET', url: `/api/v1/patients/${id}/chart` }),
      await server.as(frontDesk, { method: 'GET', url: `/fhir/Patient/${id}` }),
      await server.as(frontDesk, { method: 'GET', url: `/api/v1/patients?name=Zyxwvut&birthDate=${PATIENTS.carol.birthDate}&identifier=MRN-SECRET-7731` }),
      await server.as(frontDesk, { method: 'GET', url: `/fhir/Patient?name=Quillonia&birthdate=${PATIENTS.carol.birthDate}` }),
    ];
    expect(steps.map((s) => s.statusCode)).toEqual([201, 201, 200, 200, 200, 200, 200, 200]);
    const blank = await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 9, g: 9, b: 9 } } })
      .jpeg()
      .toBuffer();
    const failures = [
      await server.app.inject({ method: 'POST', url: `/api/v1/patients/${id}/verify`, headers: { authorization: `Bearer ${integration.key}` }, payload: { image: b64(blank) } }),
      await server.app.inject({ method: 'POST', url: '/api/v1/identify', headers: { authorization: `Bearer ${integration.key}` }, payload: { image: b64(images.stranger.subarray(0, 900)) } }),
      await server.as(frontDesk, { method: 'POST', url: `/api/v1/patients/${id}/enrol`, payload: { images: [b64(images.carol)], embedding: [0.12, 0.5, -0.33] } }),
      await server.as(await server.newBrowser(), { method: 'POST', url: '/api/v1/auth/sign-in', payload: { username: 'Quillonia.Zyxwvutsonian', password: 'hunter2-correct-horse', code: '123456' } }),
      await server.as(frontDesk, { method: 'PUT', url: `/api/v1/patients/${id}`, payload: { ...patient, birthDate: 'not a date' } }),
      await server.as(clinician, { method: 'GET', url: '/api/v1/patients/c0ffee00-0000-4000-8000-00000000beef/chart' }),
    ];
    expect(failures.map((f) => f.statusCode)).toEqual([422, 400, 400, 401, 400, 404]);

    const logs = server.logs.text;
    expect(server.logs.lines.length).toBeGreaterThan(20);
    const secrets = [
      'Zyxwvut',
      'Quillonia',
      'MRN-SECRET-7731',
      '7700 900123',
      PATIENTS.carol.birthDate,
      'hunter2',
      'mfs_',
      'mfk_',
      integration.key,
      frontDesk.csrf,
      ...[images.carol, images.stranger, blank].map((image) => b64(image).slice(0, 24)),
      '/9j/4', // every JPEG's base64 starts so
    ];
    for (const secret of secrets) expect(logs, secret).not.toContain(secret);
    // an embedding is a run of numbers; a log line has none
    expect(logs).not.toMatch(/\[\s*-?\d+(\.\d+)?(\s*,\s*-?\d+(\.\d+)?){7,}/);
    // and the ids in paths are not logged either: only route patterns
    expect(logs).not.toContain(id);
    expect(logs).toContain('"route":"/api/v1/patients/:patientId/verify"');
  }, 120_000);
});
