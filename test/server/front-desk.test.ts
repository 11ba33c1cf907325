import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantConsent } from '../../src/services/patients/consent.js';
import { createPatientRecord } from '../../src/services/patients/patients.js';
import { actorOf } from '../../src/services/patients/records.js';
import { PATIENTS } from '../services/fixtures.js';
import { OPERATOR, startTestServer, type TestServer } from './harness.js';

/**
 * The front desk keeps the privacy notice's promise ("tell the front desk"): it withdraws a patient's consent
 * and erases their face data, each with a reason that the audit trail keeps.
 */

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
}, 120_000);

afterAll(async () => {
  await server?.close();
});

describe('front desk on a patient’s word', () => {
  it('withdraws consent and erases face data with a reason in the audit trail; without a body the routes still answer', async () => {
    const { medface } = server.deployment;
    const actor = actorOf(OPERATOR);
    const alice = (await createPatientRecord(medface, PATIENTS.alice, actor)).id as string;
    const bob = (await createPatientRecord(medface, PATIENTS.bob, actor)).id as string;
    for (const patientId of [alice, bob]) await grantConsent(medface, { patientId, notice: 'v1' }, actor);
    const desk = await server.signIn(['front-desk']);

    const withdrawn = await server.as(desk, { method: 'DELETE', url: `/api/v1/patients/${alice}/consent`, payload: { reason: 'patient asked at the desk' } });
    expect(withdrawn.statusCode, withdrawn.body).toBe(200);
    const erased = await server.as(desk, { method: 'DELETE', url: `/api/v1/patients/${bob}/biometrics`, payload: { reason: 'erasure request by letter' } });
    expect(erased.statusCode, erased.body).toBe(200);
    expect(erased.json()).toMatchObject({ patientId: bob, consentWithdrawn: true });
    const again = await server.as(desk, { method: 'DELETE', url: `/api/v1/patients/${bob}/biometrics` });
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toMatchObject({ consentWithdrawn: false });
    const tooLong = await server.as(desk, { method: 'DELETE', url: `/api/v1/patients/${alice}/biometrics`, payload: { reason: 'x'.repeat(501) } });
    expect(tooLong.statusCode).toBe(400);
    await grantConsent(medface, { patientId: alice, notice: 'v1' }, actor);
    expect((await server.as(desk, { method: 'DELETE', url: `/api/v1/patients/${alice}/consent` })).statusCode).toBe(200);

    const withdrawals = await medface.audit.search(medface.store, { action: 'consent.withdraw', outcome: 'success', limit: 5 });
    expect(withdrawals.map((e) => [e.actor, e.details.reason ?? null])).toEqual([
      [desk.userId, 'patient asked at the desk'],
      [desk.userId, null],
    ]);
    const erasures = await medface.audit.search(medface.store, { action: 'biometric.erase', outcome: 'success', limit: 5 });
    expect(erasures.map((e) => e.details.reason ?? null)).toEqual(['erasure request by letter', null]);
  });
});
