import { afterEach, beforeEach, expect, it } from 'vitest';
import { authenticateApiClient, listApiClients, revokeApiClient } from '../../src/access/api-clients.js';
import type { Caller } from '../../src/access/guard.js';
import { authenticateKiosk, pairKiosk, PAIRING_HOURS, registerKiosk } from '../../src/access/kiosks.js';
import { createUser, principalOf } from '../../src/access/users.js';
import { describeEachStore } from '../store/harness.js';
import { accessFixture, refusal, OPERATOR, type AccessFixture } from './fixture.js';

describeEachStore('kiosk devices', (h) => {
  let f: AccessFixture;
  beforeEach(async () => (f = await accessFixture(h)));
  afterEach(() => f.close());

  it('pairs a registered kiosk once; its device token is the check-in scope only, and revoking it stops it', async () => {
    const { kiosk, pairingCode } = await registerKiosk(f.ctx, OPERATOR, { name: 'Lobby 1' });
    expect(kiosk).toMatchObject({ name: 'Lobby 1', kind: 'kiosk', scopes: ['checkin:patient'], pairedAt: null, revokedAt: null });
    // the pairing code is not a credential: it only pairs
    expect((await refusal(authenticateKiosk(f.ctx, pairingCode, null))).code).toBe('UNAUTHENTICATED');
    expect((await refusal(authenticateApiClient(f.ctx, pairingCode, null))).code).toBe('UNAUTHENTICATED');

    const { deviceToken } = await pairKiosk(f.ctx, pairingCode, '192.0.2.7');
    expect(await authenticateKiosk(f.ctx, deviceToken, '192.0.2.7')).toEqual({ principal: { kind: 'api-client', id: kiosk.id, scopes: ['checkin:patient'] }, name: 'Lobby 1' });
    // a device token is no bearer API key, and a used link pairs no second device
    expect((await refusal(authenticateApiClient(f.ctx, deviceToken, null))).code).toBe('UNAUTHENTICATED');
    expect((await refusal(pairKiosk(f.ctx, pairingCode, '198.51.100.1'))).code).toBe('UNAUTHENTICATED');
    expect((await listApiClients(f.ctx, OPERATOR)).find((c) => c.id === kiosk.id)?.pairedAt).toBe(f.clock.time.toISOString());

    await revokeApiClient(f.ctx, OPERATOR, 'Lobby 1');
    expect((await refusal(authenticateKiosk(f.ctx, deviceToken, '192.0.2.7'))).code).toBe('UNAUTHENTICATED');
    const audit = await f.audit();
    expect(audit.filter((e) => e.action.startsWith('kiosk.') || e.action === 'apiclient.revoke').map((e) => [e.action, e.outcome, e.details.name ?? null])).toEqual([
      ['kiosk.register', 'success', 'Lobby 1'],
      ['kiosk.authenticate', 'failure', null],
      ['kiosk.pair', 'success', 'Lobby 1'],
      // a used code is gone from the store: nothing to name
      ['kiosk.pair', 'failure', null],
      ['apiclient.revoke', 'success', 'Lobby 1'],
      ['kiosk.authenticate', 'denied', 'Lobby 1'],
    ]);
  });

  it(`refuses a pairing link after ${PAIRING_HOURS} h, a revoked kiosk's link, and registration by anyone but an administrator`, async () => {
    const late = await registerKiosk(f.ctx, OPERATOR, { name: 'late' });
    f.clock.advance(PAIRING_HOURS * 3_600_000 + 1);
    expect((await refusal(pairKiosk(f.ctx, late.pairingCode, null))).code).toBe('UNAUTHENTICATED');
    const revoked = await registerKiosk(f.ctx, OPERATOR, { name: 'revoked' });
    await revokeApiClient(f.ctx, OPERATOR, revoked.kiosk.id);
    expect((await refusal(pairKiosk(f.ctx, revoked.pairingCode, null))).code).toBe('UNAUTHENTICATED');
    expect((await refusal(registerKiosk(f.ctx, OPERATOR, { name: 'late' }))).code).toBe('CONFLICT');
    expect((await refusal(registerKiosk(f.ctx, OPERATOR, { name: 'no/slash' }))).code).toBe('VALIDATION_FAILED');
    const desk = await createUser(f.ctx, OPERATOR, { username: 'desk', roles: ['front-desk'] });
    const caller: Caller = { principal: principalOf(desk.user) };
    expect((await refusal(registerKiosk(f.ctx, caller, { name: 'sneaky' }))).code).toBe('FORBIDDEN');
  });
});
