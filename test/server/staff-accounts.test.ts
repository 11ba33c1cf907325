import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base32Decode, totpCode } from '../../src/access/totp.js';
import { createUser } from '../../src/access/users.js';
import { errorCurve } from '../../src/evaluation/metrics.js';
import { renderReport } from '../../src/evaluation/report.js';
import { afterResponse, OPERATOR, startTestServer, type Browser, type TestServer } from './harness.js';

/**
 * Staff self-service and administration without the face model: password change (every other session
 * ends), the administrator's reset, PUT Patient with If-Match, and the admin routes for thresholds (with
 * the newest evaluation report's figures) and key status, each refused to other roles.
 */

let server: TestServer;
let scratch: string;
let admin: Browser & { userId: string };
let frontDesk: Browser & { userId: string };
let clinician: Browser & { userId: string };
let officer: Browser & { userId: string };

/** A staff account with a known password, signed in `sessions` times (a TOTP step per sign-in, each used once). */
async function staffWithSessions(username: string, sessions: number): Promise<{ password: string; browsers: Browser[]; secret: Buffer }> {
  const first = `first password for ${username}`;
  const password = `${first} renewed`;
  const created = await createUser(server.deployment.access, OPERATOR, { username, roles: ['clinician'], password: first, totp: true });
  const secret = base32Decode(new URL(created.totpUri as string).searchParams.get('secret') as string);
  const browsers: Browser[] = [];
  for (let i = 0; i < sessions; i++) {
    const browser = await server.newBrowser();
    const payload = { username, password: i === 0 ? first : password, code: totpCode(secret, new Date(Date.now() + (i - 1) * 30_000)), ...(i === 0 && { newPassword: password }) };
    const response = await server.as(browser, { method: 'POST', url: '/api/v1/auth/sign-in', payload });
    expect(response.statusCode, response.body).toBe(200);
    browsers.push(afterResponse(browser, response));
  }
  return { password, browsers, secret };
}

beforeAll(async () => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'medface-staff-'));
  const reportsDir = path.join(scratch, 'reports');
  // an evaluation report as `medface evaluate --out reports/<set>` writes it, from scores made up for the test
  const genuine = Array.from({ length: 200 }, (_, i) => 0.9 + (i % 50) / 600);
  const impostor = Array.from({ length: 2000 }, (_, i) => 0.5 + (i % 400) / 900);
  mkdirSync(path.join(reportsDir, 'test-set'), { recursive: true });
  writeFileSync(
    path.join(reportsDir, 'test-set', 'report.html'),
    renderReport({ title: 'medface evaluation: test-set (verification)', summary: [['pairs', 2200]], curve: errorCurve(genuine, impostor), genuine, impostor, footer: 'medface evaluate test-set' }),
  );
  // more sign-ins than the default limit per address (the tests sign in many accounts from one address)
  server = await startTestServer({ deployment: { startFaces: 'on-first-use' }, reportsDir, rateLimits: { signIn: { max: 100, windowMs: 60_000 } } });
  admin = await server.signIn(['admin']);
  frontDesk = await server.signIn(['front-desk']);
  clinician = await server.signIn(['clinician']);
  officer = await server.signIn(['privacy-officer']);
});

afterAll(async () => {
  await server?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

async function auditActions(actor: string): Promise<{ action: string; outcome: string; details: Record<string, unknown> }[]> {
  const events = await server.deployment.medface.store.listAuditEvents({ actor, limit: 500 });
  return events.map((e) => ({ action: e.action, outcome: e.outcome, details: JSON.parse(e.details) as Record<string, unknown> }));
}

describe('changing my own password', () => {
  it('needs the current password, keeps the policy, and signs out every other session', async () => {
    const { password, browsers } = await staffWithSessions('pw-changer', 3);
    const [mine, other1, other2] = browsers as [Browser, Browser, Browser];
    const me = await server.as(mine, { method: 'GET', url: '/api/v1/auth/session' });
    const userId = me.json<{ user: { id: string } }>().user.id;

    const wrong = await server.as(mine, { method: 'POST', url: '/api/v1/account/password', payload: { currentPassword: 'not my password at all', newPassword: 'a brand new long password' } });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error.details.issues[0].path).toBe('currentPassword');
    const short = await server.as(mine, { method: 'POST', url: '/api/v1/account/password', payload: { currentPassword: password, newPassword: 'short' } });
    expect(short.statusCode).toBe(400);
    const same = await server.as(mine, { method: 'POST', url: '/api/v1/account/password', payload: { currentPassword: password, newPassword: password } });
    expect(same.statusCode).toBe(400);

    const changed = await server.as(mine, { method: 'POST', url: '/api/v1/account/password', payload: { currentPassword: password, newPassword: 'the password I chose myself' } });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json()).toMatchObject({ sessionsEnded: 2, session: { established: { method: 'password+totp' } } });
    const fresh = afterResponse(mine, changed);

    for (const old of [mine, other1, other2]) expect((await server.as(old, { method: 'GET', url: '/api/v1/auth/session' })).statusCode).toBe(401);
    expect((await server.as(fresh, { method: 'GET', url: '/api/v1/auth/session' })).statusCode).toBe(200);

    const audit = await auditActions(userId);
    expect(audit.filter((e) => e.action === 'user.password-change').map((e) => e.outcome)).toEqual(['failure', 'success']);
    expect(JSON.stringify(audit)).not.toContain('the password I chose myself');
  });

  it('is refused to patients, API clients and the signed-out', async () => {
    const { key } = await server.apiKey(['verify:patient']);
    const api = await server.app.inject({ method: 'POST', url: '/api/v1/account/password', headers: { authorization: `Bearer ${key}` }, payload: { currentPassword: 'x', newPassword: 'y' } });
    expect(api.statusCode).toBe(401);
    const nobody = await server.as(await server.newBrowser(), { method: 'POST', url: '/api/v1/account/password', payload: { currentPassword: 'x', newPassword: 'y' } });
    expect(nobody.statusCode).toBe(401);
  });
});

describe("an administrator's password reset", () => {
  it('is a request another administrator approves: a temporary password, the TOTP removed, the sessions ended, the user enrols their own TOTP', async () => {
    const { browsers, secret } = await staffWithSessions('pw-forgetter', 1);
    const requested = await server.as(admin, { method: 'POST', url: '/api/v1/users/pw-forgetter/reset-password', payload: {} });
    expect(requested.statusCode, requested.body).toBe(202);
    const { request } = requested.json<{ request: { id: string } }>();
    // nothing changed yet
    expect((await server.as(browsers[0]!, { method: 'GET', url: '/api/v1/auth/session' })).statusCode).toBe(200);

    const secondAdmin = await server.signIn(['admin']);
    const approved = await server.as(secondAdmin, { method: 'POST', url: `/api/v1/account-requests/${request.id}/approve` });
    expect(approved.statusCode, approved.body).toBe(200);
    const temporary = approved.json<{ password: string; sessionsEnded: number }>();
    expect(temporary.sessionsEnded).toBe(1);
    expect((await server.as(browsers[0]!, { method: 'GET', url: '/api/v1/auth/session' })).statusCode).toBe(401);

    const browser = await server.newBrowser();
    const signIn = (payload: object) => server.as(browser, { method: 'POST', url: '/api/v1/auth/sign-in', payload: { username: 'pw-forgetter', password: temporary.password, ...payload } });
    const enrol = await signIn({ code: '' });
    expect(enrol.statusCode).toBe(403);
    const { totpUri } = enrol.json<{ error: { code: string; details: { totpUri: string } } }>().error.details;
    expect(enrol.json().error.code).toBe('TOTP_ENROLMENT_REQUIRED');
    const ownSecret = base32Decode(new URL(totpUri).searchParams.get('secret') as string);
    // a new secret: the authenticator enrolled before the reset no longer works
    expect(ownSecret.equals(secret)).toBe(false);
    const code = totpCode(ownSecret, new Date());
    const without = await signIn({ code });
    expect(without.json().error.code).toBe('PASSWORD_CHANGE_REQUIRED');
    // the refused attempt did not use up its code: only a sign-in that succeeds takes its time step
    const replaced = await signIn({ code, newPassword: 'remembered this time, really' });
    expect(replaced.statusCode, replaced.body).toBe(200);
  });

  it('is refused to anyone but an administrator', async () => {
    const response = await server.as(clinician, { method: 'POST', url: '/api/v1/users/pw-forgetter/reset-password', payload: {} });
    expect(response.statusCode).toBe(403);
  });
});

describe('PUT /api/v1/patients/:id', () => {
  const PATIENT = { resourceType: 'Patient', name: [{ family: 'Nakamura', given: ['Emi'] }], birthDate: '1979-03-30', gender: 'female' };

  it('updates demographics under If-Match, refuses a stale version (412 / 409) and invalid bodies (400), and audits', async () => {
    const created = await server.as(frontDesk, { method: 'POST', url: '/api/v1/patients', payload: PATIENT });
    const patient = created.json<{ id: string; meta: { versionId: string } }>();
    const url = `/api/v1/patients/${patient.id}`;
    const edited = { ...PATIENT, id: patient.id, name: [{ family: 'Nakamura-Smith', given: ['Emi'] }] };

    const ok = await server.as(frontDesk, { method: 'PUT', url, headers: { 'if-match': 'W/"1"' }, payload: edited });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.headers.etag).toBe('W/"2"');
    expect(ok.json()).toMatchObject({ meta: { versionId: '2' }, name: [{ family: 'Nakamura-Smith' }] });

    const stale = await server.as(frontDesk, { method: 'PUT', url, headers: { 'if-match': 'W/"1"' }, payload: { ...edited, gender: 'other' } });
    expect(stale.statusCode).toBe(412);
    expect(stale.json().error.code).toBe('PRECONDITION_FAILED');
    const staleBody = await server.as(frontDesk, { method: 'PUT', url, payload: { ...edited, meta: { versionId: '1' } } });
    expect(staleBody.statusCode).toBe(409);
    const read = await server.as(frontDesk, { method: 'GET', url });
    expect(read.json()).toMatchObject({ meta: { versionId: '2' }, gender: 'female' });

    const invalid = await server.as(frontDesk, { method: 'PUT', url, payload: { ...edited, birthDate: '30/03/1979' } });
    expect(invalid.statusCode).toBe(400);
    const otherId = await server.as(frontDesk, { method: 'PUT', url, payload: { ...edited, id: '2c8f3b8e-58b4-4b52-9a55-1bd1c3a2b0aa' } });
    expect(otherId.statusCode).toBe(400);
    const badHeader = await server.as(frontDesk, { method: 'PUT', url, headers: { 'if-match': 'yesterday' }, payload: edited });
    expect(badHeader.statusCode).toBe(400);

    const updates = (await auditActions(frontDesk.userId)).filter((e) => e.action === 'patient.update');
    expect(updates.map((e) => e.outcome)).toEqual(['success', 'failure', 'failure', 'failure']);
    expect(JSON.stringify(updates)).not.toContain('Nakamura');
  });

  it('FHIR PUT /fhir/Patient/:id updates under If-Match and answers a stale version with a 412 OperationOutcome', async () => {
    const created = await server.as(frontDesk, { method: 'POST', url: '/api/v1/patients', payload: PATIENT });
    const { id } = created.json<{ id: string }>();
    const fhir = (ifMatch: string, family: string) =>
      server.as(clinician, {
        method: 'PUT',
        url: `/fhir/Patient/${id}`,
        headers: { 'content-type': 'application/fhir+json', 'if-match': ifMatch },
        payload: JSON.stringify({ ...PATIENT, id, name: [{ family, given: ['Emi'] }] }),
      });
    const ok = await fhir('W/"1"', 'Sato');
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(ok.headers.etag).toBe('W/"2"');
    const stale = await fhir('W/"1"', 'Suzuki');
    expect(stale.statusCode).toBe(412);
    expect(stale.json()).toMatchObject({ resourceType: 'OperationOutcome' });
    const read = await server.as(clinician, { method: 'GET', url: `/fhir/Patient/${id}` });
    expect(read.json()).toMatchObject({ name: [{ family: 'Sato' }], meta: { versionId: '2' } });
    const capability = await server.app.inject('/fhir/metadata');
    expect(JSON.stringify(capability.json())).toContain('"update"');
  });

  it('is refused to roles without patient.write', async () => {
    const created = await server.as(frontDesk, { method: 'POST', url: '/api/v1/patients', payload: PATIENT });
    const { id } = created.json<{ id: string }>();
    for (const who of [admin, officer]) {
      const response = await server.as(who, { method: 'PUT', url: `/api/v1/patients/${id}`, payload: { ...PATIENT, id } });
      expect(response.statusCode).toBe(403);
    }
  });
});

describe('reads of accounts, integrations, keys, thresholds and the duplicate queue (issue 15, low)', () => {
  it('are audited with who read and how much', async () => {
    const reader = await server.signIn(['admin']);
    for (const url of ['/api/v1/users', '/api/v1/api-clients', '/api/v1/admin/keys', '/api/v1/admin/thresholds', '/api/v1/admin/templates', '/api/v1/account-requests']) {
      const response = await server.as(reader, { method: 'GET', url });
      expect(response.statusCode, `${url} ${response.body}`).toBe(200);
    }
    const duplicates = await server.as(clinician, { method: 'GET', url: '/api/v1/duplicates?status=pending' });
    expect(duplicates.statusCode, duplicates.body).toBe(200);
    const entries = await auditActions(reader.userId);
    expect(entries.filter((e) => e.outcome === 'success').map((e) => e.action)).toEqual(
      expect.arrayContaining(['user.list', 'apiclient.list', 'keys.read', 'thresholds.read', 'templates.read', 'user.request-list']),
    );
    expect(entries.find((e) => e.action === 'user.list')?.details).toMatchObject({ accounts: expect.any(Number), patientAccounts: 0 });
    expect((await auditActions(clinician.userId)).filter((e) => e.action === 'duplicate.list')).toMatchObject([{ outcome: 'success', details: { status: 'pending', links: 0 } }]);
  });
});

describe('admin: thresholds and key status', () => {
  it('shows the calibrated thresholds and the newest evaluation report with its ROC and DET figures', async () => {
    const response = await server.as(admin, { method: 'GET', url: '/api/v1/admin/thresholds' });
    expect(response.statusCode, response.body).toBe(200);
    const status = response.json<{ models: { model: string; match: number; grades: Record<string, { minScore: number }> }[]; evaluation: { set: string; figures: { id: string }[] } }>();
    expect(status.models.length).toBeGreaterThan(0);
    for (const m of status.models) expect(m.grades.certain!.minScore).toBeGreaterThanOrEqual(m.grades.possible!.minScore);
    expect(status.evaluation).toMatchObject({ set: 'test-set', title: 'medface evaluation: test-set (verification)' });
    expect(status.evaluation.figures.map((f) => f.id)).toEqual(['roc', 'det', 'scores']);

    for (const figure of ['roc', 'det']) {
      const svg = await server.as(admin, { method: 'GET', url: `/api/v1/admin/evaluation/figures/${figure}` });
      expect(svg.statusCode).toBe(200);
      expect(svg.headers['content-type']).toMatch(/^image\/svg\+xml/);
      expect(svg.body).toMatch(/^<svg[^>]*>[\s\S]*<polyline[\s\S]*<\/svg>$/);
    }
    expect((await server.as(admin, { method: 'GET', url: '/api/v1/admin/evaluation/figures/secret' })).statusCode).toBe(400);
  });

  it('shows key ids, dates and records per key, never key material', async () => {
    const response = await server.as(admin, { method: 'GET', url: '/api/v1/admin/keys' });
    expect(response.statusCode, response.body).toBe(200);
    const status = response.json<{ keys: { id: string; purpose: string; current: boolean; records: Record<string, number> }[]; lastRotation: string | null }>();
    const { keys } = server.deployment.medface.templates;
    expect(
      status.keys
        .filter((k) => k.current)
        .map((k) => k.id)
        .sort(),
    ).toEqual([keys.currentKekId, keys.currentTransformId].sort());
    expect(status.lastRotation).toBeNull();
    expect(response.body).not.toMatch(/checkValue|"secret"|"kek"\s*:\s*"/);
  });

  it('is refused to every other role (the policy decides, and the refusal is audited)', async () => {
    for (const who of [frontDesk, clinician, officer]) {
      for (const url of ['/api/v1/admin/thresholds', '/api/v1/admin/keys', '/api/v1/admin/templates', '/api/v1/admin/evaluation/figures/roc']) {
        const response = await server.as(who, { method: 'GET', url });
        expect(response.statusCode, `${url}`).toBe(403);
      }
    }
    const denied = (await auditActions(officer.userId)).filter((e) => e.outcome === 'denied').map((e) => e.action);
    expect(denied).toEqual(expect.arrayContaining(['thresholds.read', 'keys.read', 'templates.read']));
  });
});
