import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../../src/access/users.js';
import { FacePool } from '../../src/face/index.js';
import { actorOf } from '../../src/services/patients/records.js';
import { PATIENTS, registerPatient, type Faces } from '../services/fixtures.js';
import { FILMED_SIGN_INS, startFaceServer } from './face-server.js';
import { OPERATOR, type Browser, type TestServer } from './harness.js';
import { livenessAnswer } from './liveness-frames.js';

/**
 * The second factor as a filter over the 1:N candidates, over HTTP with the real model: a wrong patient
 * enrolled with the very photo the live capture is filmed from outranks the right one, and the right one is
 * still found at the kiosk and in the portal, by date of birth or PIN; every failure reads the same.
 */

let pool: FacePool;
let images: Faces;
let server: TestServer;
const ids = { alice: '', lookalike: '', bob: '' };
/** Not Alice, registered with Alice's second photo (the one the live captures below are rendered from): she ranks first. */
const LOOKALIKE = { resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value: 'L-1' }], name: [{ family: 'Lookalike', given: ['Lena'] }], birthDate: '1961-06-15' };
const LOOKALIKE_PIN = '60418273';

beforeAll(async () => {
  ({ pool, images, server } = await startFaceServer('second-factor', FILMED_SIGN_INS));
  const { medface, access } = server.deployment;
  const actor = actorOf(OPERATOR);
  const register = async (patient: object, face: Buffer, username: string, pin?: string): Promise<string> => {
    const id = await registerPatient(medface, patient, { images: [face], overrideDuplicate: 'test: a lookalike registered on purpose' }, actor);
    await createUser(access, OPERATOR, { username, roles: ['patient'], patientId: id, ...(pin !== undefined && { pin }) });
    return id;
  };
  ids.alice = await register(PATIENTS.alice, images.alice, 'alice.patient');
  ids.lookalike = await register(LOOKALIKE, images.aliceAgain, 'lena.patient', LOOKALIKE_PIN);
  ids.bob = await register(PATIENTS.bob, images.bob, 'bob.patient');
}, 300_000);

afterAll(() => server?.close());

describe('the second factor picks the patient among the face’s candidates', () => {
  let frontDesk: Browser;

  it('ranks the lookalike first, so the face alone would pick the wrong patient', async () => {
    frontDesk = await server.signIn(['front-desk']);
    const found = await server.as(frontDesk, { method: 'POST', url: '/api/v1/identify', payload: { image: images.aliceAgain.toString('base64'), top: 3 } });
    expect(found.statusCode, found.body).toBe(200);
    const body = found.json<{ candidates: { patientId: string }[]; galleryPatients: number; threshold: number }>();
    expect(body.candidates.map((c) => c.patientId)).toEqual([ids.lookalike, ids.alice]);
    expect(body.galleryPatients).toBe(3);

    // the same 1:N threshold, for the same gallery, is what an administrator sees, apart from the 1:1 one
    const admin = await server.signIn(['admin']);
    const status = await server.as(admin, { method: 'GET', url: '/api/v1/admin/thresholds' });
    expect(status.statusCode, status.body).toBe(200);
    const [model] = status.json<{ models: { match: number; identification: { galleryPatients: number; match: number; projected: { match: number }[] } }[] }>().models;
    expect(model!.identification).toMatchObject({ galleryPatients: 3, match: body.threshold });
    expect(model!.identification.match).not.toBe(model!.match);
    const projected = model!.identification.projected.map((p) => p.match);
    expect(projected.every((m, i) => i === 0 || m > projected[i - 1]!)).toBe(true);
  });

  it('checks the right patient in at the kiosk by date of birth, and says the same to every failure', async () => {
    const { key } = await server.apiKey(['checkin:patient'], 'lobby kiosk');
    const kiosk = { authorization: `Bearer ${key}` };
    const checkIn = async (face: Buffer, birthDate: string) => {
      const answer = await livenessAnswer(pool, (url, payload) => server.app.inject({ method: 'POST', url, headers: kiosk, payload }), face, 'check-in');
      return server.app.inject({ method: 'POST', url: '/api/v1/check-in', headers: kiosk, payload: { ...answer, birthDate } });
    };
    const welcome = await checkIn(images.aliceAgain, PATIENTS.alice.birthDate);
    expect(welcome.statusCode, welcome.body).toBe(200);
    expect(welcome.json()).toMatchObject({ checkedIn: true });
    const encounter = await server.as(frontDesk, { method: 'GET', url: `/fhir/Encounter/${welcome.json<{ encounterId: string }>().encounterId}` });
    expect(encounter.json()).toMatchObject({ subject: { reference: `Patient/${ids.alice}` } });

    const nobodysDate = await checkIn(images.aliceAgain, '1999-09-09');
    const stranger = await checkIn(images.stranger, PATIENTS.alice.birthDate);
    for (const refused of [nobodysDate, stranger]) {
      expect(refused.statusCode).toBe(200);
      expect(refused.json()).toEqual({ checkedIn: false, message: 'Please see the front desk' });
    }

    const { medface } = server.deployment;
    const audit = await medface.audit.search(medface.store, { action: 'encounter.check-in', limit: 10 });
    expect(audit.map((e) => [e.outcome, e.patientRef, e.details.reason ?? null, e.details.rank ?? null])).toEqual([
      ['success', medface.audit.patientRef(ids.alice), null, 2],
      ['failure', medface.audit.patientRef(ids.lookalike), 'second-factor', null],
      ['failure', null, 'no-match', null],
    ]);
    expect(audit[1]!.details.candidates).toEqual([
      expect.objectContaining({ patientRef: medface.audit.patientRef(ids.lookalike), confirmed: false }),
      expect.objectContaining({ patientRef: medface.audit.patientRef(ids.alice), confirmed: false }),
    ]);
    expect(JSON.stringify(audit)).not.toContain(ids.alice);
  }, 300_000);

  it('signs the right patient in to the portal by date of birth, the lookalike by her PIN, and fails alike otherwise', async () => {
    const signIn = async (face: Buffer, factor: { birthDate: string } | { pin: string }) => {
      const browser = await server.newBrowser();
      const answer = await livenessAnswer(pool, (url, payload) => server.as(browser, { method: 'POST', url, payload }), face, 'portal-sign-in');
      return server.as(browser, { method: 'POST', url: '/api/v1/auth/patient-sign-in', payload: { ...answer, ...factor } });
    };
    const alice = await signIn(images.aliceAgain, { birthDate: PATIENTS.alice.birthDate });
    expect(alice.statusCode, alice.body).toBe(200);
    expect(alice.json()).toMatchObject({ user: { patientId: ids.alice }, session: { established: { method: 'face+birth-date' } } });
    const lena = await signIn(images.aliceAgain, { pin: LOOKALIKE_PIN });
    expect(lena.statusCode, lena.body).toBe(200);
    expect(lena.json()).toMatchObject({ user: { patientId: ids.lookalike }, session: { established: { method: 'face+pin' } } });

    // the lookalike's date of birth is no longer enough (she has a PIN); a wrong PIN; a stranger with a right date
    const failures = [
      await signIn(images.aliceAgain, { birthDate: LOOKALIKE.birthDate }),
      await signIn(images.aliceAgain, { pin: '11112222' }),
      await signIn(images.stranger, { birthDate: PATIENTS.alice.birthDate }),
    ];
    for (const failure of failures) {
      expect(failure.statusCode).toBe(401);
      expect(failure.json()).toEqual({ error: { code: 'SIGN_IN_FAILED', message: 'sign-in failed' } });
    }
    const { medface } = server.deployment;
    const attempts = await medface.audit.search(medface.store, { action: 'auth.sign-in', limit: 100 });
    const patientAttempts = attempts.filter((e) => String(e.details.method).startsWith('face+')).slice(-5);
    expect(patientAttempts.map((e) => [e.outcome, e.details.reason ?? null])).toEqual([
      ['success', null],
      ['success', null],
      ['failure', 'second-factor'],
      ['failure', 'pin'],
      ['failure', 'face-no-match'],
    ]);
    expect(patientAttempts[2]!.details.candidates).toEqual([
      expect.objectContaining({ patientRef: medface.audit.patientRef(ids.lookalike), result: 'pin-required' }),
      expect.objectContaining({ patientRef: medface.audit.patientRef(ids.alice), result: 'birth-date' }),
    ]);
  }, 300_000);

  it('gives the emergency user the ranked candidates with their grades, to confirm by other means', async () => {
    const emergency = await server.signIn(['emergency']);
    const found = await server.as(emergency, { method: 'POST', url: '/api/v1/break-glass/identify', payload: { image: images.aliceAgain.toString('base64') } });
    expect(found.statusCode, found.body).toBe(200);
    const body = found.json<{ candidates: { patientId: string; score: number; grade: string }[]; galleryPatients: number; threshold: number; possibleFrom: number }>();
    expect(body.candidates.map((c) => c.patientId)).toEqual([ids.lookalike, ids.alice]);
    expect(body.candidates[0]!.score).toBeGreaterThan(body.candidates[1]!.score);
    for (const c of body.candidates) expect(['certain', 'probable', 'possible']).toContain(c.grade);
    expect(body.galleryPatients).toBe(3);
    expect(body.possibleFrom).toBeLessThan(body.threshold);
  });
});
