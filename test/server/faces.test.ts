import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../../src/access/users.js';
import { FacePool } from '../../src/face/index.js';
import { randomChallengeActions, type CapturedFrame } from '../../src/liveness/types.js';
import { demoFaces, PATIENTS, rememberingPool, writeTestThresholds, type Faces } from '../services/fixtures.js';
import { genuineFrames, stillFrames } from '../services/liveness-sequences.js';
import { livenessAnswer } from './liveness-frames.js';
import { afterResponse, OPERATOR, startTestServer, type Browser, type TestServer } from './harness.js';

/**
 * The face routes end to end with the real model: one pool for the file, with no queue, so a second
 * request while the worker is busy is turned away (ENGINE_BUSY) as an overloaded server would.
 */

let pool: FacePool;
let images: Faces;
let server: TestServer;
let scratch: string;
let frontDesk: Browser;
const b64 = (image: Uint8Array) => Buffer.from(image).toString('base64');
const FIXED_RANDOM = () => 0;

/**
 * The pool's frame work, one frame after another: the pool has no queue (for the ENGINE_BUSY test below), and the
 * liveness check observes and embeds as many frames at once as the machine has cores.
 */
let observing: Promise<unknown> = Promise.resolve();
function inTurn<T>(work: () => Promise<T>): Promise<T> {
  const run = observing.then(work);
  observing = run.catch(() => undefined);
  return run;
}

beforeAll(async () => {
  pool = await FacePool.create({ size: 1, queueLimit: 0 });
  images = await demoFaces(pool);
  const remembering = rememberingPool(pool);
  scratch = mkdtempSync(path.join(os.tmpdir(), 'medface-server-faces-'));
  const thresholdsFile = path.join(scratch, 'thresholds.json');
  writeTestThresholds(thresholdsFile);
  server = await startTestServer({
    deployment: {
      pool: {
        embedSingle: remembering.embedSingle,
        observe: (bytes, embed) => inTurn(() => pool.observe(bytes, embed)),
        embedObserved: (bytes, face) => inTurn(() => pool.embedObserved(bytes, face)),
        analyze: (bytes, options) => pool.analyze(bytes, options),
        stats: () => pool.stats(),
        close: () => pool.close(),
      },
      thresholdsFile,
      // challenges a sequence rendered in advance can answer
      liveness: { random: FIXED_RANDOM },
    },
  });
  frontDesk = await server.signIn(['front-desk']);
});

afterAll(async () => {
  await server?.close();
  await pool?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** A multipart/form-data body: files and text fields. */
function form(fields: Record<string, Buffer | string | Buffer[]>): { headers: Record<string, string>; payload: Buffer } {
  const boundary = 'medface-test-boundary';
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      const file = Buffer.isBuffer(item);
      parts.push(
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"${file ? `; filename="${name}.jpg"\r\nContent-Type: image/jpeg` : ''}\r\n\r\n`),
        file ? item : Buffer.from(item),
        Buffer.from('\r\n'),
      );
    }
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, payload: Buffer.concat(parts) };
}

describe('face routes', () => {
  let alice: string;
  let bob: string;

  it('is ready once the pool is warm', async () => {
    const ready = await server.app.inject('/ready');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ ready: true, store: 'ok', faces: { workers: 1, expected: 1 } });
  });

  it('registers, records consent and enrols from an upload and from base64, returning no embedding', async () => {
    const register = async (patient: object) => {
      const created = await server.as(frontDesk, { method: 'POST', url: '/api/v1/patients', payload: patient });
      expect(created.statusCode).toBe(201);
      const id = created.json<{ id: string }>().id;
      expect((await server.as(frontDesk, { method: 'POST', url: `/api/v1/patients/${id}/consent`, payload: { notice: 'v2' } })).statusCode).toBe(201);
      return id;
    };
    alice = await register(PATIENTS.alice);
    bob = await register(PATIENTS.bob);

    const upload = await server.as(frontDesk, { method: 'POST', url: `/api/v1/patients/${alice}/enrol`, ...form({ images: [images.alice], keepPhoto: 'false' }) });
    expect(upload.statusCode).toBe(201);
    expect(upload.json()).toMatchObject({ patientId: alice, templateCount: 1, photosKept: 0, duplicates: [] });
    const json = await server.as(frontDesk, { method: 'POST', url: `/api/v1/patients/${bob}/enrol`, payload: { images: [`data:image/jpeg;base64,${b64(images.bob)}`] } });
    expect(json.statusCode).toBe(201);
    for (const body of [upload.body, json.body]) {
      expect(body).not.toMatch(/embedding|vector/i);
      expect(body).not.toMatch(/\[(-?\d\.\d+,){20}/);
    }
  });

  it('verifies 1:1 and identifies 1:N without naming strangers', async () => {
    const verified = await server.as(frontDesk, { method: 'POST', url: `/api/v1/patients/${alice}/verify`, payload: { image: b64(images.aliceAgain) } });
    expect(verified.statusCode).toBe(200);
    expect(verified.json()).toMatchObject({ patientId: alice, match: true });
    const wrong = await server.as(frontDesk, { method: 'POST', url: `/api/v1/patients/${bob}/verify`, ...form({ image: images.aliceAgain }) });
    expect(wrong.json()).toMatchObject({ patientId: bob, match: false });
    const stranger = await server.as(frontDesk, { method: 'POST', url: '/api/v1/identify', payload: { image: b64(images.stranger), top: 5 } });
    expect(stranger.json()).toMatchObject({ match: false, candidates: [] });
    // the capture's own refusals come back with their codes, so a camera page can ask for another one
    const blank = await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 128, g: 128, b: 128 } } })
      .jpeg()
      .toBuffer();
    const noFace = await server.as(frontDesk, { method: 'POST', url: '/api/v1/identify', payload: { image: b64(blank) } });
    expect(noFace.statusCode).toBe(422);
    expect(noFace.json()).toMatchObject({ error: { code: 'NO_FACE' } });
    const notAnImage = await server.as(frontDesk, { method: 'POST', url: '/api/v1/identify', ...form({ image: Buffer.from('%PDF-1.7 not a photo') }) });
    expect(notAnImage.statusCode).toBe(415);
    expect(notAnImage.json()).toMatchObject({ error: { code: 'UNSUPPORTED_FORMAT' } });
  });

  it('checks a patient in at the kiosk after the liveness check, and every failure says only "please see the front desk"', async () => {
    const { key } = await server.apiKey(['checkin:patient'], 'lobby kiosk');
    const kiosk = { authorization: `Bearer ${key}` };
    const challenge = async (): Promise<{ id: string; actions: string[] }> => {
      const issued = await server.app.inject({ method: 'POST', url: '/api/v1/liveness/challenges', headers: kiosk, payload: { purpose: 'check-in' } });
      expect(issued.statusCode).toBe(201);
      return issued.json();
    };
    const actions = randomChallengeActions(FIXED_RANDOM);
    const alive = await genuineFrames(pool, images.aliceAgain, actions);
    const send = (challengeId: string, frames: CapturedFrame[], birthDate: string) =>
      server.app.inject({
        method: 'POST',
        url: '/api/v1/check-in',
        headers: kiosk,
        payload: { challengeId, frames: frames.map((f) => ({ image: b64(f.image), at: f.at })), birthDate },
      });
    const checkIn = async (frames: CapturedFrame[], birthDate: string) => send((await challenge()).id, frames, birthDate);

    const first = await challenge();
    expect(first.actions).toEqual(actions);
    const welcome = await send(first.id, alive, PATIENTS.alice.birthDate);
    expect(welcome.statusCode, welcome.body).toBe(200);
    expect(welcome.json()).toMatchObject({ checkedIn: true, message: 'Welcome — you are checked in' });
    const encounterId = welcome.json<{ encounterId: string }>().encounterId;
    const encounter = await server.as(frontDesk, { method: 'GET', url: `/fhir/Encounter/${encounterId}` });
    expect(encounter.json()).toMatchObject({ resourceType: 'Encounter', status: 'arrived', subject: { reference: `Patient/${alice}` } });

    // the frames as a multipart upload: one file part per frame, their times in `at`
    const upload = form({ challengeId: (await challenge()).id, birthDate: '1990-04-02', frames: alive.map((f) => Buffer.from(f.image)), at: alive.map((f) => f.at).join(',') });
    const wrongBirthDate = await server.app.inject({ method: 'POST', url: '/api/v1/check-in', headers: { ...kiosk, ...upload.headers }, payload: upload.payload });
    const unknownFace = await checkIn(await genuineFrames(pool, images.stranger, actions), PATIENTS.alice.birthDate);
    const photo = await checkIn(stillFrames(images.aliceAgain), PATIENTS.alice.birthDate);
    const replayed = await send(first.id, alive, PATIENTS.alice.birthDate);
    for (const refused of [wrongBirthDate, unknownFace, photo, replayed]) {
      expect(refused.statusCode).toBe(200);
      expect(refused.json()).toEqual({ checkedIn: false, message: 'Please see the front desk' });
    }
    const { medface } = server.deployment;
    const audit = await medface.audit.search(medface.store, { action: 'encounter.check-in', limit: 10 });
    expect(audit.map((e) => [e.outcome, e.details.reason ?? null])).toEqual([
      ['success', null],
      ['failure', 'second-factor'],
      ['failure', 'no-match'],
      ['failure', 'liveness'],
      ['failure', 'liveness'],
    ]);
    const checks = await medface.audit.search(medface.store, { action: 'liveness.check', limit: 10 });
    expect(checks.map((e) => [e.outcome, e.details.code ?? (e.details.passed === false ? 'failed' : null)])).toEqual([
      ['success', null],
      ['success', null],
      ['success', null],
      ['failure', 'failed'],
      ['failure', 'CHALLENGE_USED'],
    ]);
  });

  it('refuses malformed liveness attempts with their codes', async () => {
    const { key } = await server.apiKey(['checkin:patient'], 'kiosk two');
    const kiosk = { authorization: `Bearer ${key}` };
    const frame = { image: b64(images.aliceAgain), at: 300 };
    const post = (payload: object) => server.app.inject({ method: 'POST', url: '/api/v1/check-in', headers: kiosk, payload });
    const id = (await server.app.inject({ method: 'POST', url: '/api/v1/liveness/challenges', headers: kiosk, payload: { purpose: 'check-in' } })).json<{ id: string }>().id;
    const tooMany = await post({ challengeId: id, birthDate: PATIENTS.alice.birthDate, frames: Array.from({ length: 41 }, () => frame) });
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED', details: { issues: [{ path: expect.stringMatching(/frames/) }] } } });
    // refused as it streams, at its first character past the base64 of 512 KiB (as an uploaded frame is)
    const big = await post({ challengeId: id, birthDate: PATIENTS.alice.birthDate, frames: [{ image: b64(Buffer.alloc(600 * 1024, 1)), at: 0 }] });
    expect(big.statusCode).toBe(413);
    expect(big.json()).toMatchObject({ error: { code: 'IMAGE_TOO_LARGE' } });
    const noChallenge = await post({ birthDate: PATIENTS.alice.birthDate, frames: [frame] });
    expect(noChallenge.statusCode).toBe(400);
    const image = await post({ challengeId: id, birthDate: PATIENTS.alice.birthDate, image: frame.image });
    expect(image.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    const purpose = await server.app.inject({ method: 'POST', url: '/api/v1/liveness/challenges', headers: kiosk, payload: { purpose: 'everything' } });
    expect(purpose.statusCode).toBe(400);
    // none of these used the challenge
    expect((await server.deployment.medface.store.getLivenessChallenge(id))?.consumedAt).toBeNull();
  });

  it('gives the kiosk live advice on a preview frame: reason codes and where the face is, to the front desk only', async () => {
    const quality = (browser: Browser, image: Buffer) => server.as(browser, { method: 'POST', url: '/api/v1/kiosk/quality', payload: { image: b64(image) } });
    const face = await quality(frontDesk, images.aliceAgain);
    expect(face.statusCode, face.body).toBe(200);
    const { reasons, box } = face.json<{ reasons: string[]; box: { x: number; y: number; width: number; height: number } }>();
    expect(reasons).toEqual([]);
    for (const v of [box.x, box.y, box.width, box.height]) expect(v).toBeGreaterThan(0);
    expect(box.x + box.width).toBeLessThanOrEqual(1);
    expect(Object.keys(face.json<object>()).sort()).toEqual(['box', 'reasons']);
    const blank = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#7f7f7f' } })
      .jpeg()
      .toBuffer();
    expect((await quality(frontDesk, blank)).json()).toEqual({ reasons: ['NO_FACE'], box: null });
    expect((await quality(await server.newBrowser(), images.aliceAgain)).statusCode).toBe(401);
    const privacy = await server.signIn(['privacy-officer']);
    expect((await quality(privacy, images.aliceAgain)).statusCode).toBe(403);
  });

  it('verifies with a liveness sequence for an integrator: reports the outcome, requires it when asked', async () => {
    const { key, clientId } = await server.apiKey(['verify:patient'], 'liveness integrator');
    const integrator = { authorization: `Bearer ${key}` };
    const challenge = async (patientId?: string) =>
      (await server.app.inject({ method: 'POST', url: '/api/v1/liveness/challenges', headers: integrator, payload: { purpose: 'verify', ...(patientId && { patientId }) } })).json<{ id: string }>().id;
    const verifyAlice = (payload: object) => server.app.inject({ method: 'POST', url: `/api/v1/patients/${alice}/verify`, headers: integrator, payload });
    const frames = (list: CapturedFrame[]) => list.map((f) => ({ image: b64(f.image), at: f.at }));
    const actions = randomChallengeActions(FIXED_RANDOM);
    const alive = frames(await genuineFrames(pool, images.aliceAgain, actions));

    const live = await verifyAlice({ challengeId: await challenge(alice), frames: alive, requireLiveness: true });
    expect(live.statusCode, live.body).toBe(200);
    expect(live.json()).toMatchObject({ patientId: alice, match: true, refreshed: false, liveness: { passed: true, observed: actions } });

    const required = await verifyAlice({ image: b64(images.aliceAgain), requireLiveness: true });
    expect(required.statusCode).toBe(400);
    expect(required.json()).toMatchObject({ error: { code: 'LIVENESS_REQUIRED' } });
    const photo = await verifyAlice({ challengeId: await challenge(), frames: frames(stillFrames(images.aliceAgain)) });
    expect(photo.statusCode).toBe(422);
    expect(photo.json()).toMatchObject({ error: { code: 'LIVENESS_FAILED', details: { reasons: expect.arrayContaining(['LIVENESS_ACTION_MISSING']) } } });
    const forBob = await verifyAlice({ challengeId: await challenge(bob), frames: alive });
    expect(forBob.statusCode).toBe(404);
    expect(forBob.json()).toMatchObject({ error: { code: 'CHALLENGE_UNKNOWN' } });
    const both = await verifyAlice({ image: b64(images.aliceAgain), challengeId: await challenge(), frames: alive });
    expect(both.statusCode).toBe(400);

    const { medface } = server.deployment;
    const verifications = await medface.audit.search(medface.store, { action: 'biometric.verify', actor: clientId, limit: 100 });
    expect(verifications.map((e) => [e.outcome, e.details.code ?? null])).toEqual([
      ['success', null],
      ['failure', 'LIVENESS_REQUIRED'],
      ['failure', 'LIVENESS_FAILED'],
    ]);
  });

  it('lets an integrator open a telemedicine check that the patient completes and the integrator reads', async () => {
    const integrator = await server.apiKey(['verify:patient'], 'telehealth');
    const other = await server.apiKey(['verify:patient'], 'another platform');
    const opened = await server.app.inject({ method: 'POST', url: '/api/v1/telemedicine/checks', headers: { authorization: `Bearer ${integrator.key}` }, payload: { patientId: alice } });
    expect(opened.statusCode).toBe(201);
    const { checkId } = opened.json<{ checkId: string }>();
    expect(checkId).not.toContain(alice);
    const result = (key: string, id = checkId) => server.app.inject({ method: 'GET', url: `/api/v1/telemedicine/checks/${id}`, headers: { authorization: `Bearer ${key}` } });
    expect((await result(integrator.key)).json()).toMatchObject({ status: 'pending', attempts: 0, verification: null });

    const patientBrowser = await server.newBrowser();
    // the frames as a multipart upload: one file part per frame, their times in `at`
    const live = await livenessAnswer(pool, (url, payload) => server.as(patientBrowser, { method: 'POST', url, payload }), images.aliceAgain, 'telemedicine');
    const upload = form({ checkId, challengeId: live.challengeId, frames: live.frames.map((f) => Buffer.from(f.image, 'base64')), at: live.frames.map((f) => f.at).join(',') });
    const verified = await server.as(patientBrowser, { method: 'POST', url: '/api/v1/telemedicine/verify', ...upload });
    expect(verified.statusCode).toBe(200);
    expect(verified.json()).toEqual({ match: true, attemptsLeft: 0 });

    const read = await result(integrator.key);
    expect(read.json()).toMatchObject({ status: 'verified', attempts: 1, attemptsLeft: 0, verification: { match: true } });
    expect((await result(other.key)).statusCode).toBe(404);
    const tampered = `${checkId.slice(0, -4)}${checkId.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    expect((await result(integrator.key, tampered)).statusCode).toBe(404);
  });

  it('opens a record in an emergency only through break-glass, which lands in the review queue', async () => {
    const emergency = await server.signIn(['emergency']);
    const found = await server.as(emergency, { method: 'POST', url: '/api/v1/break-glass/identify', ...form({ image: images.aliceAgain, top: '3' }) });
    expect(found.statusCode).toBe(200);
    const { candidates } = found.json<{ candidates: { patientId: string; grade: string }[] }>();
    expect(candidates[0]).toMatchObject({ patientId: alice, grade: expect.stringMatching(/^(certain|probable)$/) });
    expect(candidates.every((c) => c.grade !== 'certainly-not')).toBe(true);
    expect((await server.as(emergency, { method: 'GET', url: `/api/v1/patients/${alice}/chart` })).statusCode).toBe(403);
    const tooShort = await server.as(emergency, { method: 'POST', url: '/api/v1/break-glass', payload: { patientId: alice, reason: 'urgent' } });
    expect(tooShort.statusCode).toBe(400);
    const grant = await server.as(emergency, { method: 'POST', url: '/api/v1/break-glass', payload: { patientId: alice, reason: 'unresponsive on arrival, allergies unknown', minutes: 30 } });
    expect(grant.statusCode).toBe(201);
    const grantId = grant.json<{ id: string }>().id;
    const chart = await server.as(emergency, { method: 'GET', url: `/api/v1/patients/${alice}/chart` });
    expect(chart.statusCode).toBe(200);
    expect(chart.json()).toMatchObject({ patient: { id: alice }, breakGlass: { grantId } });
    expect(Object.keys(chart.json<{ resources: object }>().resources)).toContain('Condition');

    const officer = await server.signIn(['privacy-officer']);
    const queue = await server.as(officer, { method: 'GET', url: '/api/v1/break-glass/grants' });
    expect(queue.json<{ grants: { id: string }[] }>().grants.map((g) => g.id)).toEqual([grantId]);
    const reviewed = await server.as(officer, { method: 'POST', url: `/api/v1/break-glass/grants/${grantId}/review`, payload: { note: 'appropriate: patient unconscious' } });
    expect(reviewed.json()).toMatchObject({ reviewStatus: 'reviewed' });
  });

  it('signs a patient in with face and date of birth, to their own record only', async () => {
    await createUser(server.deployment.access, OPERATOR, { username: 'alice.liddell', roles: ['patient'], patientId: alice });
    const browser = await server.newBrowser();
    const live = () => livenessAnswer(pool, (url, payload) => server.as(browser, { method: 'POST', url, payload }), images.aliceAgain, 'portal-sign-in');
    const wrong = await server.as(browser, { method: 'POST', url: '/api/v1/auth/patient-sign-in', payload: { ...(await live()), birthDate: '1991-04-01' } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toEqual({ error: { code: 'SIGN_IN_FAILED', message: 'sign-in failed' } });
    const signedIn = await server.as(browser, {
      method: 'POST',
      url: '/api/v1/auth/patient-sign-in',
      payload: { ...(await live()), birthDate: PATIENTS.alice.birthDate },
    });
    expect(signedIn.statusCode).toBe(200);
    expect(signedIn.json()).toMatchObject({ user: { roles: ['patient'], patientId: alice }, session: { established: { method: 'face+birth-date' } } });
    const patient = afterResponse(browser, signedIn);
    const own = await server.as(patient, { method: 'GET', url: `/api/v1/patients/${alice}/chart` });
    expect(own.statusCode).toBe(200);
    expect(own.json()).toMatchObject({ identity: { method: 'face+birth-date' }, breakGlass: null });
    expect((await server.as(patient, { method: 'GET', url: `/api/v1/patients/${bob}/chart` })).statusCode).toBe(403);
  });

  it('answers 503 ENGINE_BUSY with Retry-After when every face worker is busy', async () => {
    const identify = (image: Buffer) => server.as(frontDesk, { method: 'POST', url: '/api/v1/identify', payload: { image: b64(image) } });
    const answers = await Promise.all([identify(images.carol), identify(images.bob)]);
    const busy = answers.find((a) => a.statusCode === 503);
    expect(busy, answers.map((a) => a.statusCode).join(',')).toBeDefined();
    expect(busy!.json()).toMatchObject({ error: { code: 'ENGINE_BUSY' } });
    expect(busy!.headers['retry-after']).toBe('2');
    expect(answers.some((a) => a.statusCode === 200)).toBe(true);
  });

  it('logs every request without PHI, images, secrets or tokens', () => {
    const logs = server.logs.text;
    expect(server.logs.lines.filter((l) => l.includes('"route":"/api/v1/check-in"')).length).toBe(9);
    expect(logs).toMatch(/"route":"\/api\/v1\/patients\/:patientId\/enrol","status":201/);
    for (const secret of [
      PATIENTS.alice.birthDate,
      PATIENTS.bob.birthDate,
      '1990-04-02',
      'Liddell',
      'Builder',
      'first password',
      'unresponsive on arrival',
      alice,
      bob,
      'mfs_',
      'mfk_',
      'medface_session',
      'medface_csrf',
      frontDesk.csrf,
      ...Object.values(images).map((image: Buffer) => b64(image).slice(100, 140)),
    ]) {
      expect(logs, secret).not.toContain(secret);
    }
  });
});
