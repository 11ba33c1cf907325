import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MedfaceError } from '../../src/errors.js';
import { FacePool } from '../../src/face/index.js';
import { grantConsent } from '../../src/services/patients/consent.js';
import { enrol } from '../../src/services/biometrics/enrol.js';
import { createPatientRecord } from '../../src/services/patients/patients.js';
import { actorOf } from '../../src/services/patients/records.js';
import { MAX_COMPARISONS, TelemedicineChecks } from '../../src/services/visits/telemedicine.js';
import { TestClock } from '../access/fixture.js';
import { PATIENTS, type Faces } from '../services/fixtures.js';
import { randomChallengeActions } from '../../src/liveness/types.js';
import { issueChallenge } from '../../src/services/biometrics/liveness.js';
import { genuineFrames } from '../services/liveness-sequences.js';
import { startFaceServer } from './face-server.js';
import { OPERATOR, type TestServer } from './harness.js';
import { FIXED_RANDOM, livenessAnswer } from './liveness-frames.js';

/**
 * Telemedicine identity checks through the API with the real face model: the integrator opens a check, the
 * patient verifies with the link (no account), the integrator reads the result; links are single-use and
 * expire. The server's clock is a test clock, so expiry needs no waiting.
 */

let pool: FacePool;
let images: Faces;
let server: TestServer;
let alice = '';
let unenrolled = '';
let integrator: { key: string; clientId: string };
const clock = new TestClock(new Date());

beforeAll(async () => {
  ({ pool, images, server } = await startFaceServer('telemedicine', {
    deployment: {
      access: { now: clock.now },
      // challenges whose actions a sequence rendered in advance performs; verifications of one link run one after another
      liveness: { random: FIXED_RANDOM, deadlineSeconds: 120 },
    },
    rateLimits: { biometric: { max: 1000, windowMs: 60_000 } },
  }));
  const { medface } = server.deployment;
  const actor = actorOf(OPERATOR);
  alice = (await createPatientRecord(medface, PATIENTS.alice, actor)).id as string;
  await grantConsent(medface, { patientId: alice, notice: 'v1' }, actor);
  await enrol(medface, { patientId: alice, images: [images.alice] }, actor);
  unenrolled = (await createPatientRecord(medface, PATIENTS.carol, actor)).id as string;
  integrator = await server.apiKey(['verify:patient'], 'telehealth');
}, 300_000);

afterAll(() => server?.close());

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

async function openCheck(patientId = alice, minutes?: number): Promise<{ checkId: string; link: string; expiresAt: string }> {
  const response = await server.app.inject({ method: 'POST', url: '/api/v1/telemedicine/checks', headers: bearer(integrator.key), payload: { patientId, ...(minutes && { minutes }) } });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

/** The patient's page: no account, no session — a fresh browser with the link, filming the face for a telemedicine liveness challenge. */
async function verifyWith(checkId: string, face: Buffer, still = false) {
  const browser = await server.newBrowser();
  const live = await livenessAnswer(pool, (url, payload) => server.as(browser, { method: 'POST', url, payload }), face, 'telemedicine', still);
  return server.as(browser, { method: 'POST', url: '/api/v1/telemedicine/verify', payload: { checkId, ...live } });
}

const linkState = async (checkId: string) => (await server.app.inject({ method: 'GET', url: `/api/v1/telemedicine/link/${checkId}` })).json<{ state: string; attemptsLeft: number }>();
const result = (checkId: string, key = integrator.key) => server.app.inject({ method: 'GET', url: `/api/v1/telemedicine/checks/${checkId}`, headers: bearer(key) });

describe('telemedicine checks', () => {
  it('are opened only by an integrator allowed to verify, for a patient with an enrolled face', async () => {
    const identifyOnly = await server.apiKey(['identify:patient']);
    const refused = await server.app.inject({ method: 'POST', url: '/api/v1/telemedicine/checks', headers: bearer(identifyOnly.key), payload: { patientId: alice } });
    expect(refused.statusCode).toBe(403);
    const noFace = await server.app.inject({ method: 'POST', url: '/api/v1/telemedicine/checks', headers: bearer(integrator.key), payload: { patientId: unenrolled } });
    expect(noFace.statusCode).toBe(404);
    const opened = await openCheck();
    expect(opened.link).toBe(`/telemedicine#${opened.checkId}`);
    expect(opened.checkId).not.toContain(alice);
    // short enough for a text message with the clinic's address (issue 16: it was 300 characters), still a sealed
    // token: 67 bytes, of which 12 are a random IV and 16 the AES-GCM tag
    expect(opened.checkId).toMatch(/^[A-Za-z0-9_-]{90}$/);
    expect(opened.link.length).toBeLessThanOrEqual(104);
    expect(Buffer.from(opened.checkId, 'base64url').toString('latin1')).not.toContain(Buffer.from(alice.replaceAll('-', ''), 'hex').toString('latin1'));
    // two checks for the same patient by the same integrator share nothing a reader could compare
    const twice = await openCheck();
    expect(twice.checkId.slice(0, 20)).not.toBe(opened.checkId.slice(0, 20));
  });

  it('tell a verify key nothing about a patient id beyond whether the face it holds is that patient (issue 15 L7)', async () => {
    const nobody = 'c0ffee00-0000-4000-8000-00000000beef';
    const verify = (patientId: string, image: Buffer) =>
      server.app.inject({ method: 'POST', url: `/api/v1/patients/${patientId}/verify`, headers: bearer(integrator.key), payload: { image: image.toString('base64') } });
    const open = (patientId: string) => server.app.inject({ method: 'POST', url: '/api/v1/telemedicine/checks', headers: bearer(integrator.key), payload: { patientId } });
    // an unknown patient and one without a face: the same answer, word for word, but for the id sent
    const answers = async (patientId: string) => [await verify(patientId, images.bob), await open(patientId)].map((r) => `${r.statusCode} ${r.body.replaceAll(patientId, 'ID')}`);
    expect(await answers(nobody)).toEqual(await answers(unenrolled));
    expect((await answers(nobody))[0]).toMatch(/^404 /);
    // and after the same work: the capture is analysed before the patient is looked up (a group photo is refused for anyone)
    for (const patientId of [nobody, unenrolled, alice]) expect((await verify(patientId, images.group)).json().error.code).toBe('MULTIPLE_FACES');
  });

  it('verifies the patient once; the integrator alone reads the result, without images or vectors', async () => {
    const { checkId } = await openCheck();
    expect(await linkState(checkId)).toMatchObject({ state: 'open', attemptsLeft: MAX_COMPARISONS });
    const verified = await verifyWith(checkId, images.aliceAgain);
    expect(verified.statusCode).toBe(200);
    expect(verified.json()).toEqual({ match: true, attemptsLeft: 0 });

    const read = await result(checkId);
    expect(read.statusCode).toBe(200);
    const body = read.json<Record<string, unknown>>();
    expect(body).toMatchObject({
      status: 'verified',
      attempts: 1,
      attemptsLeft: 0,
      clinicianConfirmation: 'required',
      verification: { match: true, grade: expect.stringMatching(/^(certain|probable)$/) },
    });
    expect(Object.keys(body).sort()).toEqual(['attempts', 'attemptsLeft', 'clinicianConfirmation', 'expiresAt', 'refusedCaptures', 'status', 'verification']);
    expect(Object.keys(body.verification as object).sort()).toEqual(['at', 'grade', 'match', 'score']);
    const other = await server.apiKey(['verify:patient'], 'another platform');
    expect((await result(checkId, other.key)).statusCode).toBe(404);

    // the link is spent: a second use is refused, and says so
    const again = await verifyWith(checkId, images.aliceAgain);
    expect(again.statusCode).toBe(410);
    expect(again.json()).toMatchObject({ error: { code: 'CHECK_USED' } });
    expect(await linkState(checkId)).toMatchObject({ state: 'verified', attemptsLeft: 0 });
    expect((await result(checkId)).json()).toMatchObject({ status: 'verified', attempts: 1 });
  });

  it('does not verify a wrong face, and spends the link after a few tries; a failed liveness check costs no try', async () => {
    const { checkId } = await openCheck();
    const photo = await verifyWith(checkId, images.aliceAgain, true);
    expect(photo.statusCode).toBe(422);
    expect(photo.json()).toMatchObject({ error: { code: 'LIVENESS_FAILED' } });
    expect(await linkState(checkId)).toMatchObject({ state: 'open', attemptsLeft: MAX_COMPARISONS });
    // the refused capture is counted apart: no "attempts: 1, attemptsLeft: 3" (issue 16)
    expect((await result(checkId)).json()).toMatchObject({ status: 'pending', attempts: 0, attemptsLeft: MAX_COMPARISONS, refusedCaptures: 1 });
    for (let left = MAX_COMPARISONS - 1; left >= 0; left--) {
      const wrong = await verifyWith(checkId, images.bob);
      expect(wrong.statusCode).toBe(200);
      expect(wrong.json()).toEqual({ match: false, attemptsLeft: left });
    }
    expect(await linkState(checkId)).toMatchObject({ state: 'spent', attemptsLeft: 0 });
    // even the right face is too late now
    expect((await verifyWith(checkId, images.aliceAgain)).json()).toMatchObject({ error: { code: 'CHECK_USED' } });
    const read = (await result(checkId)).json<{ status: string; attempts: number; verification: { match: boolean; grade: string } }>();
    expect(read).toMatchObject({ status: 'not-verified', attempts: MAX_COMPARISONS, attemptsLeft: 0, refusedCaptures: 1, verification: { match: false } });
  });

  it('compares at most the permitted number of captures when verifications race with one link', async () => {
    // the service itself, so that every request reaches it at once (the HTTP layer would turn some away as busy)
    const { medface } = server.deployment;
    const checks = await TelemedicineChecks.forMedface(medface, clock.now);
    const { checkId } = await checks.open(medface, { principal: { kind: 'api-client', id: integrator.clientId, scopes: ['verify:patient'] } }, alice);
    const frames = await genuineFrames(pool, images.bob, randomChallengeActions(FIXED_RANDOM));
    const attempts = await Promise.all(Array.from({ length: MAX_COMPARISONS + 2 }, async () => ({ challengeId: (await issueChallenge(medface, { purpose: 'telemedicine' })).id, frames })));
    const answers = await Promise.allSettled(attempts.map((attempt) => checks.verify(medface, checkId, attempt, '127.0.0.1')));
    expect(answers.filter((a) => a.status === 'fulfilled').map((a) => a.value)).toEqual(Array.from({ length: MAX_COMPARISONS }, (_, i) => ({ match: false, attemptsLeft: MAX_COMPARISONS - 1 - i })));
    expect(answers.filter((a) => a.status === 'rejected').map((a) => (a.reason as MedfaceError).code)).toEqual(['CHECK_USED', 'CHECK_USED']);
  });

  it('refuses an expired link, saying so, and audits the refusal', async () => {
    const { checkId, expiresAt } = await openCheck(alice, 5);
    expect(Date.parse(expiresAt) - clock.now().getTime()).toBe(5 * 60_000);
    clock.advance(5 * 60_000);
    expect(await linkState(checkId)).toMatchObject({ state: 'expired', attemptsLeft: 0 });
    const late = await verifyWith(checkId, images.aliceAgain);
    expect(late.statusCode).toBe(410);
    expect(late.json()).toMatchObject({ error: { code: 'CHECK_EXPIRED' } });
    expect((await result(checkId)).json()).toMatchObject({ status: 'pending', attempts: 0, attemptsLeft: 0 });
    const { medface } = server.deployment;
    const denied = await medface.audit.search(medface.store, { action: 'telemedicine.verify', limit: 100 });
    expect(denied.map((e) => [e.outcome, e.details.reason])).toContainEqual(['denied', 'expired']);
    expect(denied.every((e) => e.patientRef === medface.audit.patientRef(alice) && e.actor === 'anonymous' && e.client?.startsWith('telemedicine:'))).toBe(true);
  });

  it('answers a forged or damaged link with 404', async () => {
    const { checkId } = await openCheck();
    const damaged = `${checkId.slice(0, -6)}${checkId.slice(-6) === 'AAAAAA' ? 'BBBBBB' : 'AAAAAA'}`;
    expect((await server.app.inject({ method: 'GET', url: `/api/v1/telemedicine/link/${damaged}` })).statusCode).toBe(404);
    expect((await verifyWith(damaged, images.aliceAgain)).statusCode).toBe(404);
  });
});
