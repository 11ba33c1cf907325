import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base32Decode, totpCode } from '../../src/access/totp.js';
import { createUser } from '../../src/access/users.js';
import { FacePool } from '../../src/face/index.js';
import { rotateKeyEncryptionKey } from '../../src/services/operations/keys.js';
import { PATIENTS, type Faces } from '../services/fixtures.js';
import { FILMED_SIGN_INS, startFaceServer } from './face-server.js';
import { afterResponse, OPERATOR, type Browser, type TestServer } from './harness.js';
import { livenessAnswer } from './liveness-frames.js';

/**
 * Staff sign-in with password + face, with the real model: a staff member enrols their own face (with
 * consent) after signing in with TOTP, signs in with password + a live face (the active liveness check on
 * filmed frames, then 1:1 against their own templates; a still photo is refused), and removes it. Staff faces never take part in patient identification or the duplicate check; they
 * survive key rotation and go with a disabled account.
 */

let pool: FacePool;
let images: Faces;
let server: TestServer;
const b64 = (image: Buffer) => image.toString('base64');

/** A clinician signed in with password + TOTP, whose password the test knows. */
async function clinician(username: string): Promise<{ browser: Browser; password: string; userId: string }> {
  const first = `first password for ${username}`;
  const password = `${first} renewed`;
  const created = await createUser(server.deployment.access, OPERATOR, { username, roles: ['clinician'], password: first, totp: true });
  const secret = base32Decode(new URL(created.totpUri as string).searchParams.get('secret') as string);
  const browser = await server.newBrowser();
  const response = await server.as(browser, { method: 'POST', url: '/api/v1/auth/sign-in', payload: { username, password: first, newPassword: password, code: totpCode(secret, new Date()) } });
  expect(response.statusCode, response.body).toBe(200);
  return { browser: afterResponse(browser, response), password, userId: created.user.id };
}

/** Password + face sign-in with `face` filmed doing a staff-sign-in challenge (or held still when `still`). */
async function faceSignIn(username: string, password: string, face: Buffer, still = false) {
  const browser = await server.newBrowser();
  const live = await livenessAnswer(pool, (url, payload) => server.as(browser, { method: 'POST', url, payload }), face, 'staff-sign-in', still);
  return server.as(browser, { method: 'POST', url: '/api/v1/auth/face-sign-in', payload: { username, password, ...live } });
}

beforeAll(async () => {
  ({ pool, images, server } = await startFaceServer('staff-face', FILMED_SIGN_INS));
}, 180_000);

afterAll(() => server?.close());

describe('staff sign-in with password and face', () => {
  let me: Awaited<ReturnType<typeof clinician>>;
  const username = 'dr-face';

  it('enrols my own face only with my consent, and keeps no image or embedding in the answer', async () => {
    me = await clinician(username);
    const none = await server.as(me.browser, { method: 'GET', url: '/api/v1/account/face' });
    expect(none.json()).toEqual({ templates: [], limit: 3 });
    const refused = await server.as(me.browser, { method: 'POST', url: '/api/v1/account/face', payload: { image: b64(images.alice), consent: false } });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.code).toBe('CONSENT_REQUIRED');
    const enrolled = await server.as(me.browser, { method: 'POST', url: '/api/v1/account/face', payload: { image: b64(images.alice), consent: true } });
    expect(enrolled.statusCode, enrolled.body).toBe(200);
    expect(enrolled.json().templates).toHaveLength(1);
    expect(enrolled.json().templates[0].consentNotice).toMatch(/^urn:medface:notice:staff-face/);
    expect(enrolled.body).not.toMatch(/embedding|vector|ciphertext/);
    const injected = await server.as(me.browser, { method: 'POST', url: '/api/v1/account/face', payload: { image: b64(images.alice), consent: true, embedding: [0.1, 0.2] } });
    expect(injected.statusCode).toBe(400);
  });

  it('signs in with password and the same face (1:1), recording how identity was established', async () => {
    const response = await faceSignIn(username, me.password, images.aliceAgain);
    expect(response.statusCode, response.body).toBe(200);
    const { session } = response.json<{ session: { established: { method: string; matchGrade: string; matchScore: number } } }>();
    expect(session.established.method).toBe('password+face');
    expect(['certain', 'probable']).toContain(session.established.matchGrade);
    const audit = await server.deployment.medface.store.listAuditEvents({ actor: me.userId, action: 'auth.sign-in', limit: 50 });
    const last = JSON.parse(audit[audit.length - 1]!.details) as Record<string, unknown>;
    expect(last).toMatchObject({ method: 'password+face', grade: session.established.matchGrade });
  });

  it('refuses a still photo of my face in place of the live check: as a single image, or as frames held still', async () => {
    const browser = await server.newBrowser();
    const photo = await server.as(browser, { method: 'POST', url: '/api/v1/auth/face-sign-in', payload: { username, password: me.password, image: b64(images.aliceAgain) } });
    expect(photo.statusCode, photo.body).toBe(400);
    expect(photo.cookies.map((c) => c.name)).not.toContain('medface_session');
    const held = await faceSignIn(username, me.password, images.aliceAgain, true);
    expect(held.statusCode, held.body).toBe(401);
    expect(held.json().error.code).toBe('SIGN_IN_FAILED');
    const checks = await server.deployment.medface.store.listAuditEvents({ actor: me.userId, action: 'liveness.check', limit: 50 });
    expect(checks.map((e) => e.outcome)).toContain('failure');
    const failures = await server.deployment.medface.store.listAuditEvents({ actor: me.userId, action: 'auth.sign-in', outcome: 'failure', limit: 50 });
    expect(JSON.parse(failures[failures.length - 1]!.details)).toMatchObject({ method: 'password+face', reason: 'face-error', code: 'LIVENESS_FAILED' });
    // a successful sign-in clears the account's count, so the next test counts from zero
    expect((await faceSignIn(username, me.password, images.aliceAgain)).statusCode).toBe(200);
  });

  it('refuses another face or a wrong password with the one sign-in failure, and counts it', async () => {
    const otherFace = await faceSignIn(username, me.password, images.bob);
    expect(otherFace.statusCode).toBe(401);
    expect(otherFace.json().error.code).toBe('SIGN_IN_FAILED');
    const wrongPassword = await faceSignIn(username, 'not the password at all', images.aliceAgain);
    expect(wrongPassword.json().error.code).toBe('SIGN_IN_FAILED');
    const failures = (await server.deployment.medface.store.listAuditEvents({ actor: me.userId, action: 'auth.sign-in', outcome: 'failure', limit: 50 })).map(
      (e) => JSON.parse(e.details) as { reason: string; failures: { account: number } },
    );
    expect(failures.map((f) => f.reason)).toEqual(['face-error', 'face', 'password']);
    expect(failures[2]!.failures.account).toBe(2);
  });

  it('never shows a staff face to patient identification or the duplicate check', async () => {
    const desk = await server.signIn(['front-desk']);
    const identify = await server.as(desk, { method: 'POST', url: '/api/v1/identify', payload: { image: b64(images.aliceAgain) } });
    expect(identify.statusCode, identify.body).toBe(200);
    expect(identify.json()).toMatchObject({ match: false, candidates: [] });
    const emergency = await server.signIn(['emergency']);
    const breakGlass = await server.as(emergency, { method: 'POST', url: '/api/v1/break-glass/identify', payload: { image: b64(images.aliceAgain) } });
    expect(breakGlass.json().candidates).toEqual([]);

    // a patient with the staff member's face enrols without any duplicate suspicion
    const patient = (await server.as(desk, { method: 'POST', url: '/api/v1/patients', payload: PATIENTS.alice })).json<{ id: string }>();
    await server.as(desk, { method: 'POST', url: `/api/v1/patients/${patient.id}/consent`, payload: { notice: 'v1' } });
    const enrol = await server.as(desk, { method: 'POST', url: `/api/v1/patients/${patient.id}/enrol`, payload: { images: [b64(images.alice)] } });
    expect(enrol.statusCode, enrol.body).toBe(201);
    expect(enrol.json().duplicates ?? []).toEqual([]);
    expect(server.deployment.medface.templates.gallery.size).toBe(1);
  });

  it('keeps working after the key-encryption key is rotated (staff templates are re-protected too)', async () => {
    const result = await rotateKeyEncryptionKey(server.deployment.medface, { actor: 'cli:test' });
    expect(result.staffTemplates).toBe(1);
    const keys = await server.as(await server.signIn(['admin']), { method: 'GET', url: '/api/v1/admin/keys' });
    const current = keys.json<{ keys: { current: boolean; purpose: string; records: { staffTemplates: number; templates: number } }[]; lastRotation: string | null }>();
    expect(current.keys.find((k) => k.current && k.purpose === 'kek')?.records).toMatchObject({ staffTemplates: 1, templates: 1 });
    expect(current.lastRotation).not.toBeNull();
    const response = await faceSignIn(username, me.password, images.aliceAgain);
    expect(response.statusCode, response.body).toBe(200);
  });

  it('removes my face on request: face sign-in then fails', async () => {
    const signedIn = await clinician('dr-remover');
    await server.as(signedIn.browser, { method: 'POST', url: '/api/v1/account/face', payload: { image: b64(images.carol), consent: true } });
    expect((await faceSignIn('dr-remover', signedIn.password, images.carol)).statusCode).toBe(200);
    const removed = await server.as(signedIn.browser, { method: 'DELETE', url: '/api/v1/account/face' });
    expect(removed.json()).toEqual({ removed: 1 });
    expect((await faceSignIn('dr-remover', signedIn.password, images.carol)).statusCode).toBe(401);
    const actions = (await server.deployment.medface.store.listAuditEvents({ actor: signedIn.userId, limit: 50 })).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['user.face-enrol', 'user.face-remove']));
  });

  it('deletes the face with the account: disabling it removes every staff template', async () => {
    expect(await server.deployment.medface.store.listStaffTemplates(me.userId)).toHaveLength(1);
    const admin = await server.signIn(['admin']);
    const disabled = await server.as(admin, { method: 'POST', url: `/api/v1/users/${username}/disable` });
    expect(disabled.statusCode).toBe(200);
    expect(await server.deployment.medface.store.listStaffTemplates(me.userId)).toEqual([]);
  });
});
