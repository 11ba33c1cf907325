import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerKiosk } from '../../src/access/kiosks.js';
import { createPatientRecord } from '../../src/services/patients/patients.js';
import { actorOf } from '../../src/services/patients/records.js';
import { PATIENTS } from '../services/fixtures.js';
import { OPERATOR, routesOf, startTestServer, type Browser, type TestServer } from './harness.js';

/**
 * A kiosk device over HTTP: pairing sets the device cookie, and the kiosk's credential opens the check-in flow
 * and nothing else (security review, finding 7: the kiosk scope wrote any Encounter into any patient's record).
 */

/** What a kiosk does: its device routes, the liveness challenge and camera feedback, and the check-in. */
const CHECK_IN_FLOW = new Set(['POST /api/v1/check-in', 'POST /api/v1/kiosk/quality']);
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const NOBODY = 'c0ffee00-0000-4000-8000-00000000beef';

let server: TestServer;
let patientId: string;
let kiosk: Browser;

const encounter = (patient: string) => ({
  resourceType: 'Encounter',
  status: 'arrived',
  class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
  subject: { reference: `Patient/${patient}` },
});

/** A browser paired as a kiosk through the pairing route, as the kiosk page does it. */
async function pairedKiosk(name: string): Promise<Browser> {
  const { pairingCode } = await registerKiosk(server.deployment.access, OPERATOR, { name });
  const browser = await server.newBrowser();
  const paired = await server.as(browser, { method: 'POST', url: '/api/v1/kiosk/pair', payload: { code: pairingCode } });
  expect(paired.statusCode, paired.body).toBe(200);
  expect(paired.json()).toEqual({ state: 'paired', name });
  const cookie = (paired.cookies as { name: string; value: string; httpOnly?: boolean; maxAge?: number }[]).find((c) => c.name === 'medface_kiosk');
  expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
  expect(cookie?.maxAge).toBeGreaterThan(30 * 24 * 3600);
  // the link works once
  const again = await server.as(await server.newBrowser(), { method: 'POST', url: '/api/v1/kiosk/pair', payload: { code: pairingCode } });
  expect(again.statusCode).toBe(401);
  return { cookie: `${browser.cookie}; medface_kiosk=${cookie?.value}`, csrf: browser.csrf };
}

beforeAll(async () => {
  server = await startTestServer();
  patientId = (await createPatientRecord(server.deployment.medface, PATIENTS.alice, actorOf(OPERATOR))).id as string;
  kiosk = await pairedKiosk('Lobby');
}, 120_000);

afterAll(async () => {
  await server?.close();
});

describe('kiosk credential', () => {
  it('writes no Encounter through /api/v1/records, and answers the same for a patient that exists and one that does not', async () => {
    const { key } = await server.apiKey(['checkin:patient'], 'kiosk by key');
    const bearer = { authorization: `Bearer ${key}` };
    for (const send of [
      (patient: string) => server.app.inject({ method: 'POST', url: '/api/v1/records', headers: bearer, payload: encounter(patient) }),
      (patient: string) => server.as(kiosk, { method: 'POST', url: '/api/v1/records', payload: encounter(patient) }),
    ]) {
      const existing = await send(patientId);
      const missing = await send(NOBODY);
      expect(existing.statusCode, existing.body).toBe(403);
      expect(missing.statusCode).toBe(403);
      expect(missing.json()).toEqual(existing.json());
    }
    const { medface } = server.deployment;
    expect(await medface.store.listClinicalResources(patientId, ['Encounter'])).toEqual([]);
  });

  it('gets 401 or 403 on every API and FHIR route but the check-in flow, and no more than anonymous on the public ones', async () => {
    const anonymous = await server.newBrowser();
    const routes = routesOf(server.app).filter((r) => /^(GET|POST|PUT|PATCH|DELETE) \/(api\/v1|fhir)\//.test(r));
    expect(routes.length).toBeGreaterThan(50);
    const reached: string[] = [];
    for (const route of routes) {
      const [method, pattern] = route.split(' ') as [string, string];
      const request = { method: method as 'GET', url: pattern.replace(/:\w+/g, NOBODY), ...(UNSAFE.has(method) && { payload: {} }) };
      const asKiosk = await server.as(kiosk, request);
      if (asKiosk.statusCode === 401 || asKiosk.statusCode === 403) continue;
      // a public route answers the kiosk as it answers anyone
      const asAnyone = await server.as(anonymous, request);
      if (asAnyone.statusCode === asKiosk.statusCode && route !== 'GET /api/v1/kiosk/device') continue;
      reached.push(route);
    }
    expect(reached.sort()).toEqual([...CHECK_IN_FLOW, 'GET /api/v1/kiosk/device'].sort());
  });

  it('is the kiosk in a browser that also holds a staff session, and a revoked kiosk is refused at once', async () => {
    const desk = await server.signIn(['front-desk']);
    const both = { cookie: `${desk.cookie}; ${kiosk.cookie.split('; ').find((c) => c.startsWith('medface_kiosk='))}`, csrf: desk.csrf };
    expect((await server.as(desk, { method: 'GET', url: `/api/v1/patients/${patientId}` })).statusCode).toBe(200);
    expect((await server.as(both, { method: 'GET', url: `/api/v1/patients/${patientId}` })).statusCode).toBe(403);
    expect((await server.as(both, { method: 'GET', url: '/api/v1/auth/session' })).statusCode).toBe(403);

    const lobby2 = await pairedKiosk('Lobby 2');
    expect((await server.as(lobby2, { method: 'GET', url: '/api/v1/kiosk/device' })).json()).toEqual({ state: 'paired', name: 'Lobby 2' });
    const admin = await server.signIn(['admin']);
    const clients = (await server.as(admin, { method: 'GET', url: '/api/v1/api-clients' })).json<{ clients: { id: string; name: string; kind: string; pairedAt: string | null }[] }>().clients;
    const lobby2Client = clients.find((c) => c.name === 'Lobby 2');
    expect(lobby2Client).toMatchObject({ kind: 'kiosk', pairedAt: expect.any(String) });
    expect((await server.as(admin, { method: 'DELETE', url: `/api/v1/api-clients/${lobby2Client?.id}` })).statusCode).toBe(200);
    expect((await server.as(lobby2, { method: 'GET', url: '/api/v1/kiosk/device' })).json()).toEqual({ state: 'revoked', name: null });
    expect((await server.as(lobby2, { method: 'POST', url: '/api/v1/check-in', payload: {} })).statusCode).toBe(401);
  });

  it('is registered by an administrator, who gets the pairing link once', async () => {
    const admin = await server.signIn(['admin']);
    const created = await server.as(admin, { method: 'POST', url: '/api/v1/kiosks', payload: { name: 'Entrance' } });
    expect(created.statusCode, created.body).toBe(201);
    const { kiosk: registered, pairingCode, pairingPath } = created.json<{ kiosk: { kind: string; scopes: string[] }; pairingCode: string; pairingPath: string }>();
    expect(registered).toMatchObject({ kind: 'kiosk', scopes: ['checkin:patient'] });
    expect(pairingPath).toBe(`/kiosk/pair#${pairingCode}`);
    const desk = await server.signIn(['front-desk']);
    expect((await server.as(desk, { method: 'POST', url: '/api/v1/kiosks', payload: { name: 'Sneaky' } })).statusCode).toBe(403);
  });
});
