import { afterEach, beforeEach, expect, it } from 'vitest';
import { signInPatient, type FaceIdentifier } from '../../src/access/authenticate.js';
import { pinStatus, setPin } from '../../src/access/pins.js';
import type { Caller } from '../../src/access/guard.js';
import { createUser } from '../../src/access/users.js';
import { verifyChain } from '../../src/audit/trail.js';
import { describeEachStore } from '../store/harness.js';
import { accessFixture, refusal, OPERATOR, staffWithTotp, type AccessFixture } from './fixture.js';

describeEachStore('patient PIN', (h) => {
  let f: AccessFixture;
  beforeEach(async () => (f = await accessFixture(h)));
  afterEach(() => f.close());

  /** A patient account and the caller it is once signed in (the face step stands in as a function, as in sign-in.test.ts). */
  const patientAccount = async (username: string, pin?: string) => {
    const patientId = await f.newPatient('1984-07-19');
    const { user } = await createUser(f.ctx, OPERATOR, { username, roles: ['patient'], patientId, ...(pin !== undefined && { pin }) });
    const caller: Caller = { principal: { kind: 'user', id: user.id, roles: ['patient'], patientId }, client: 'browser-1' };
    const identified: FaceIdentifier = () => Promise.resolve([{ patientId, grade: 'probable', score: 0.94 }]);
    const signIn = (secondFactor: { kind: 'pin' | 'birth-date'; value: string }) => signInPatient(f.ctx, { secondFactor, client: 'browser-1' }, identified, () => Promise.resolve('1984-07-19'));
    return { user, patientId, caller, signIn };
  };

  it('lets a patient choose a PIN, which then replaces the date of birth at sign-in', async () => {
    const p = await patientAccount('pat.one');
    expect(await pinStatus(f.ctx, p.caller)).toEqual({ hasPin: false, updatedAt: null });
    expect((await p.signIn({ kind: 'birth-date', value: '1984-07-19' })).session.established.method).toBe('face+birth-date');

    expect((await refusal(setPin(f.ctx, p.caller, { newPin: '12ab56' }))).code).toBe('VALIDATION_FAILED');
    expect(await setPin(f.ctx, p.caller, { newPin: '271828' })).toEqual({ hasPin: true, updatedAt: f.clock.now().toISOString() });
    const stored = await f.store.getCredential(p.user.id, 'pin');
    expect(stored?.hash).toMatch(/^\$argon2id\$/);
    expect(stored?.hash).not.toContain('271828');

    expect((await refusal(p.signIn({ kind: 'birth-date', value: '1984-07-19' }))).code).toBe('SIGN_IN_FAILED');
    expect((await p.signIn({ kind: 'pin', value: '271828' })).session.established.method).toBe('face+pin');
  });

  it('changes a PIN only with the current one, counting wrong ones towards the lockout', async () => {
    const p = await patientAccount('pat.two', '314159');
    expect((await refusal(setPin(f.ctx, p.caller, { newPin: '161803' }))).details).toMatchObject({ issues: [{ path: 'currentPin' }] });
    expect((await refusal(setPin(f.ctx, p.caller, { currentPin: '000000', newPin: '161803' }))).code).toBe('VALIDATION_FAILED');
    expect((await refusal(setPin(f.ctx, p.caller, { currentPin: '314159', newPin: '314159' }))).details).toMatchObject({ issues: [{ path: 'newPin' }] });
    // still the old PIN
    expect((await p.signIn({ kind: 'pin', value: '314159' })).user.id).toBe(p.user.id);

    await setPin(f.ctx, p.caller, { currentPin: '314159', newPin: '161803' });
    expect((await refusal(p.signIn({ kind: 'pin', value: '314159' }))).code).toBe('SIGN_IN_FAILED');
    expect((await p.signIn({ kind: 'pin', value: '161803' })).user.id).toBe(p.user.id);

    // wrong current PINs: three free failures, then delays (the account's count, as for a staff password change)
    const wrong = () => refusal(setPin(f.ctx, p.caller, { currentPin: '999999', newPin: '582736' }));
    for (let i = 0; i < 3; i++) expect((await wrong()).code).toBe('VALIDATION_FAILED');
    expect((await wrong()).code).toBe('TOO_MANY_ATTEMPTS');
    expect((await refusal(setPin(f.ctx, p.caller, { currentPin: '161803', newPin: '582736' }))).code).toBe('TOO_MANY_ATTEMPTS');
    // the portal sign-in counts its own failures, per account and address: a blocked PIN change does not refuse it
    expect((await p.signIn({ kind: 'pin', value: '161803' })).user.id).toBe(p.user.id);
    f.clock.advance(2_000);
    await setPin(f.ctx, p.caller, { currentPin: '161803', newPin: '582736' });

    const entries = (await f.audit()).filter((e) => e.action.startsWith('user.pin'));
    expect(entries.map((e) => [e.action, e.outcome, e.details.reason ?? null])).toEqual([
      ['user.pin-change', 'failure', 'current-pin'],
      ['user.pin-change', 'failure', 'current-pin'],
      ['user.pin-change', 'success', null],
      ['user.pin-change', 'failure', 'current-pin'],
      ['user.pin-change', 'failure', 'current-pin'],
      ['user.pin-change', 'failure', 'current-pin'],
      ['user.pin-change', 'failure', 'current-pin'],
      ['user.pin-change', 'denied', 'locked-out'],
      ['user.pin-change', 'success', null],
    ]);
    const pinsUsed = ['314159', '161803', '999999', '582736'];
    expect(entries.every((e) => e.actor === p.user.id && e.client === 'browser-1')).toBe(true);
    expect(entries.filter((e) => pinsUsed.some((pin) => JSON.stringify(e.details).includes(pin)))).toEqual([]);
    expect(await verifyChain(f.store)).toMatchObject({ ok: true });
  });

  it('is refused to staff, API clients and the console, and audited as denied', async () => {
    const staff = await staffWithTotp(f, 'desk.one', ['front-desk']);
    const callers: Caller[] = [
      { principal: { kind: 'user', id: staff.user.id, roles: ['front-desk'], patientId: null }, client: null },
      { principal: { kind: 'api-client', id: 'client-1', scopes: ['verify:patient'] }, client: null },
      OPERATOR,
    ];
    for (const caller of callers) {
      expect((await refusal(setPin(f.ctx, caller, { newPin: '271828' }))).code).toBe('FORBIDDEN');
      expect((await refusal(pinStatus(f.ctx, caller))).code).toBe('FORBIDDEN');
    }
    expect((await f.audit('patient.manage-pin')).map((e) => e.outcome)).toEqual(Array(6).fill('denied'));
  });
});
