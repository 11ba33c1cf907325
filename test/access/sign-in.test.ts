import { afterEach, beforeEach, expect, it } from 'vitest';
import { verifyChain } from '../../src/audit/trail.js';
import { signInPatient, signInWithFace, signInWithTotp, type FaceIdentifier, type FaceMatch, type FaceVerifier } from '../../src/access/authenticate.js';
import { DEFAULT_ACCESS_SETTINGS } from '../../src/access/context.js';
import { resumeSession } from '../../src/access/sessions.js';
import { base32Decode, hotp, totpCode, totpStep } from '../../src/access/totp.js';
import { createUser, disableUser, enableUser, resetPassword, unlockUser, type UserAccount } from '../../src/access/users.js';
import { MedfaceError } from '../../src/errors.js';
import { describeEachStore } from '../store/harness.js';
import { accessFixture, refusal, OPERATOR, staffWithTotp, type AccessFixture } from './fixture.js';

/**
 * A face step as the caller wires it: the captured face compared with the one enrolled for the account.
 * Captures are named here; the face services do the real comparison (test/services/access.test.ts).
 */
function faceOf(enrolled: Map<string, string>, captured: string): FaceVerifier {
  return (user: UserAccount) => Promise.resolve<FaceMatch>(enrolled.get(user.id) === captured ? { match: true, grade: 'certain', score: 0.97 } : { match: false, grade: 'certainly-not', score: 0.41 });
}

describeEachStore('sign-in', (h) => {
  let f: AccessFixture;
  beforeEach(async () => (f = await accessFixture(h)));
  afterEach(() => f.close());

  const signInCount = async (outcome?: string) => (await f.audit('auth.sign-in')).filter((e) => outcome === undefined || e.outcome === outcome).length;

  it('signs staff in with password and TOTP, replacing an administrator-set password first', async () => {
    const created = await createUser(f.ctx, OPERATOR, { username: 'Dr.Quinn', displayName: 'Michaela Quinn', roles: ['clinician'], totp: true });
    expect(created.user).toMatchObject({ username: 'dr.quinn', roles: ['clinician'], disabledAt: null });
    const key = base32Decode(new URL(created.totpUri!).searchParams.get('secret')!);
    const request = { username: 'DR.QUINN', password: created.password!, code: totpCode(key, f.clock.now()), client: '10.1.2.3' };

    // every factor right, but the password was set by an administrator: it must be replaced
    expect((await refusal(signInWithTotp(f.ctx, request))).code).toBe('PASSWORD_CHANGE_REQUIRED');
    expect((await refusal(signInWithTotp(f.ctx, { ...request, newPassword: 'too short' }))).code).toBe('VALIDATION_FAILED');
    const result = await signInWithTotp(f.ctx, { ...request, newPassword: 'a passphrase of my own' });
    expect(result.user.id).toBe(created.user.id);
    expect(result.token).toMatch(/^mfs_/);
    expect(result.session.established).toEqual({ method: 'password+totp', at: f.clock.now().toISOString(), matchGrade: null, matchScore: null });

    // the replaced password no longer works; the new one does (with a code of a later step)
    f.clock.advance(30_000);
    const later = { ...request, code: totpCode(key, f.clock.now()) };
    expect((await refusal(signInWithTotp(f.ctx, later))).code).toBe('SIGN_IN_FAILED');
    f.clock.advance(30_000);
    const again = await signInWithTotp(f.ctx, { ...later, password: 'a passphrase of my own', code: totpCode(key, f.clock.now()) });
    expect((await resumeSession(f.ctx, again.token)).user.username).toBe('dr.quinn');

    const entries = await f.audit('auth.sign-in');
    expect(entries.map((e) => [e.outcome, e.details.reason ?? null])).toEqual([
      ['failure', 'password-change-required'],
      ['failure', 'new-password-rejected'],
      ['success', null],
      ['failure', 'password'],
      ['success', null],
    ]);
    expect(entries.every((e) => e.client === '10.1.2.3' && e.details.method === 'password+totp')).toBe(true);
    expect(entries.filter((e) => e.outcome === 'success').every((e) => e.actor === created.user.id && typeof e.details.sessionId === 'string')).toBe(true);
  });

  it('refuses a wrong code, a code used once already, and a code from too far away', async () => {
    const staff = await staffWithTotp(f, 'nurse.ratched', ['clinician']);
    const base = { username: 'nurse.ratched', password: staff.password, client: null };
    const step = totpStep(f.clock.now(), 30);

    const wrong = String((Number(staff.code()) + 1) % 1_000_000).padStart(6, '0');
    expect((await refusal(signInWithTotp(f.ctx, { ...base, code: wrong }))).code).toBe('SIGN_IN_FAILED');
    expect((await refusal(signInWithTotp(f.ctx, { ...base, code: hotp(staff.secret, step - 2, 'SHA1', 6) }))).code).toBe('SIGN_IN_FAILED');
    const code = staff.code();
    await signInWithTotp(f.ctx, { ...base, code });
    expect((await refusal(signInWithTotp(f.ctx, { ...base, code }))).code).toBe('SIGN_IN_FAILED');
    // the previous step's code is older than the one used: refused as well, though inside the window
    expect((await refusal(signInWithTotp(f.ctx, { ...base, code: hotp(staff.secret, step - 1, 'SHA1', 6) }))).code).toBe('SIGN_IN_FAILED');

    const failures = (await f.audit('auth.sign-in')).filter((e) => e.outcome === 'failure').map((e) => e.details.reason);
    expect(failures).toEqual(['totp', 'totp', 'totp-replay', 'totp-replay']);
  });

  it('lets only one of two sign-ins racing with the same code through', async () => {
    const staff = await staffWithTotp(f, 'twin', ['front-desk']);
    const request = { username: 'twin', password: staff.password, code: staff.code(), client: null };
    const results = await Promise.allSettled([signInWithTotp(f.ctx, request), signInWithTotp(f.ctx, request)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({ code: 'SIGN_IN_FAILED' });
  });

  it('says only "sign-in failed" for an unknown name, a wrong password, a disabled account or no TOTP', async () => {
    const staff = await staffWithTotp(f, 'alice', ['clinician']);
    await createUser(f.ctx, OPERATOR, { username: 'no-totp', roles: ['clinician'], password: 'a first password here' });
    const attempts = [
      { username: 'nobody', password: staff.password },
      { username: 'alice', password: 'not the password at all' },
      { username: 'no-totp', password: 'a first password here' },
    ];
    const errors = [];
    for (const a of attempts) errors.push(await refusal(signInWithTotp(f.ctx, { ...a, code: staff.code(), client: null })));
    await disableUser(f.ctx, OPERATOR, 'alice');
    errors.push(await refusal(signInWithTotp(f.ctx, { username: 'alice', password: staff.password, code: staff.code(), client: null })));
    expect(errors.map((e) => [e.code, e.message, e.details])).toEqual(Array(4).fill(['SIGN_IN_FAILED', 'sign-in failed', undefined]));

    const failures = (await f.audit('auth.sign-in')).filter((e) => e.outcome === 'failure');
    expect(failures.map((e) => [e.actor, e.details.reason])).toEqual([
      ['anonymous', 'unknown-user'],
      [staff.user.id, 'password'],
      [expect.any(String), 'no-totp'],
      [staff.user.id, 'disabled'],
    ]);
    // a typed name is never written down (it could be a password typed into the wrong field)
    expect(JSON.stringify(failures)).not.toContain('nobody');
  });

  it('signs staff in with password and face, recording the match grade on the session', async () => {
    const staff = await staffWithTotp(f, 'dr.face', ['clinician']);
    const enrolled = new Map([[staff.user.id, 'face-of-dr.face']]);
    const request = { username: 'dr.face', password: staff.password, client: 'ward-7' };

    expect((await refusal(signInWithFace(f.ctx, request, faceOf(enrolled, 'face-of-someone-else')))).code).toBe('SIGN_IN_FAILED');
    // the face step is not even tried with a wrong password
    let asked = 0;
    const counting: FaceVerifier = (u) => {
      asked++;
      return faceOf(enrolled, 'face-of-dr.face')(u);
    };
    expect((await refusal(signInWithFace(f.ctx, { ...request, password: 'wrong password here' }, counting))).code).toBe('SIGN_IN_FAILED');
    expect(asked).toBe(0);
    // a face error after a right password must not tell a guesser that the password was right
    const noFace: FaceVerifier = () => Promise.reject(new MedfaceError('NO_FACE', 'no face found'));
    expect((await refusal(signInWithFace(f.ctx, request, noFace))).code).toBe('SIGN_IN_FAILED');

    const result = await signInWithFace(f.ctx, request, counting);
    expect(asked).toBe(1);
    expect(result.session.established).toMatchObject({ method: 'password+face', matchGrade: 'certain', matchScore: 0.97 });
    expect((await resumeSession(f.ctx, result.token)).session.established.matchGrade).toBe('certain');

    const entries = (await f.audit('auth.sign-in')).filter((e) => e.details.method === 'password+face');
    expect(entries.map((e) => [e.outcome, e.details.reason ?? null, e.details.grade ?? null, e.details.code ?? null])).toEqual([
      ['failure', 'face', 'certainly-not', null],
      ['failure', 'password', null, null],
      ['failure', 'face-error', null, 'NO_FACE'],
      ['success', null, 'certain', null],
    ]);
  });

  it('signs a patient in with face and date of birth, or face and PIN once they have one', async () => {
    const patientId = await f.newPatient('1984-07-19');
    const partial = await f.newPatient('1984');
    const stranger = await f.newPatient('1990-01-01');
    const account = await createUser(f.ctx, OPERATOR, { username: 'pat.example', roles: ['patient'], patientId });
    await createUser(f.ctx, OPERATOR, { username: 'pat.partial', roles: ['patient'], patientId: partial });
    expect(account.password).toBeUndefined();
    const birthDateOf = async (id: string) => ({ [patientId]: '1984-07-19', [partial]: '1984', [stranger]: '1990-01-01' })[id] ?? null;
    const identified =
      (id: string): FaceIdentifier =>
      () =>
        Promise.resolve([{ patientId: id, grade: 'probable', score: 0.94 }]);
    const dob = (value: string) => ({ secondFactor: { kind: 'birth-date' as const, value }, client: 'kiosk-1' });

    const ok = await signInPatient(f.ctx, dob('1984-07-19'), identified(patientId), birthDateOf);
    expect(ok.user).toMatchObject({ roles: ['patient'], patientId });
    expect(ok.session.established).toMatchObject({ method: 'face+birth-date', matchGrade: 'probable', matchScore: 0.94 });

    const refusals = [
      () => signInPatient(f.ctx, dob('1984-07-20'), identified(patientId), birthDateOf), // wrong date
      () => signInPatient(f.ctx, dob('1990-01-01'), identified(stranger), birthDateOf), // no account
      () => signInPatient(f.ctx, dob('1984'), identified(partial), birthDateOf), // a partial date proves nothing
      () => signInPatient(f.ctx, dob('1984-07-19'), () => Promise.resolve([]), birthDateOf), // nobody at or above the threshold
    ];
    for (const r of refusals) expect((await refusal(r())).code).toBe('SIGN_IN_FAILED');
    // face errors reach the kiosk as they are (nothing is revealed by them) and are audited
    const noFace: FaceIdentifier = () => Promise.reject(new MedfaceError('NO_FACE', 'no face found'));
    expect((await refusal(signInPatient(f.ctx, dob('1984-07-19'), noFace, birthDateOf))).code).toBe('NO_FACE');

    // with a PIN set, the date of birth is no longer enough
    const withPin = await f.newPatient('2001-02-03');
    await createUser(f.ctx, OPERATOR, { username: 'pin.holder', roles: ['patient'], patientId: withPin, pin: '482913' });
    const pin = (value: string) => ({ secondFactor: { kind: 'pin' as const, value }, client: 'kiosk-1' });
    expect((await refusal(signInPatient(f.ctx, dob('2001-02-03'), identified(withPin), birthDateOf))).code).toBe('SIGN_IN_FAILED');
    expect((await refusal(signInPatient(f.ctx, pin('482914'), identified(withPin), birthDateOf))).code).toBe('SIGN_IN_FAILED');
    expect((await signInPatient(f.ctx, pin('482913'), identified(withPin), birthDateOf)).session.established.method).toBe('face+pin');

    const entries = await f.audit('auth.sign-in');
    expect(entries.map((e) => [e.outcome, e.details.reason ?? null])).toEqual([
      ['success', null],
      ['failure', 'birth-date'],
      ['failure', 'no-account'],
      ['failure', 'birth-date'],
      ['failure', 'face-no-match'],
      ['failure', 'face-error'],
      ['failure', 'pin-required'],
      ['failure', 'pin'],
      ['success', null],
    ]);
    // entries about an identified patient carry the patient's pseudonym, never the id
    expect(entries[0]!.patientRef).toBe(f.ctx.audit.patientRef(patientId));
    expect(JSON.stringify(entries)).not.toContain(patientId);
  });

  it("keeps, among the face's candidates, the one patient the second factor confirms, and tells a failure nothing more", async () => {
    const right = await f.newPatient('1984-07-19');
    const wrong = await f.newPatient('1962-11-30');
    const twin = await f.newPatient('1984-07-19');
    const locked = await f.newPatient('1970-01-01');
    await createUser(f.ctx, OPERATOR, { username: 'pat.right', roles: ['patient'], patientId: right });
    await createUser(f.ctx, OPERATOR, { username: 'pat.wrong', roles: ['patient'], patientId: wrong, pin: '739104' });
    await createUser(f.ctx, OPERATOR, { username: 'pat.twin', roles: ['patient'], patientId: twin });
    await createUser(f.ctx, OPERATOR, { username: 'pat.locked', roles: ['patient'], patientId: locked });
    const birthDates: Record<string, string> = { [right]: '1984-07-19', [wrong]: '1962-11-30', [twin]: '1984-07-19', [locked]: '1970-01-01' };
    const birthDateOf = async (id: string) => birthDates[id] ?? null;
    // the wrong patient scores higher than the right one: the face alone would pick the wrong one
    const ranked =
      (...ids: string[]): FaceIdentifier =>
      () =>
        Promise.resolve(ids.map((patientId, i) => ({ patientId, grade: 'probable' as const, score: 0.95 - i / 100 })));
    let client = 0;
    const dob = (value: string) => ({ secondFactor: { kind: 'birth-date' as const, value }, client: `kiosk-${++client}` });
    const pin = (value: string) => ({ secondFactor: { kind: 'pin' as const, value }, client: `kiosk-${++client}` });

    const signedIn = await signInPatient(f.ctx, dob('1984-07-19'), ranked(wrong, right), birthDateOf);
    expect(signedIn.user.patientId).toBe(right);
    expect(signedIn.session.established).toMatchObject({ method: 'face+birth-date', matchScore: 0.94 });
    // and the other way round: the PIN of the candidate ranked second
    expect((await signInPatient(f.ctx, pin('739104'), ranked(right, wrong), birthDateOf)).user.patientId).toBe(wrong);

    // wrong dates of birth against pat.locked's face from one address, until its account is delayed from there
    // (counted per account and address: other addresses are not locked out, see the membership-oracle tests)
    const guessing = (value: string) => ({ secondFactor: { kind: 'birth-date' as const, value }, client: 'kiosk-guessing' });
    for (let i = 0; i <= DEFAULT_ACCESS_SETTINGS.throttle.patient.freeFailures; i++) await refusal(signInPatient(f.ctx, guessing('1999-09-09'), ranked(locked), birthDateOf));
    const failures: MedfaceError[] = [];
    for (const attempt of [
      () => signInPatient(f.ctx, dob('1984-07-19'), ranked(), birthDateOf), // nobody at or above the threshold
      () => signInPatient(f.ctx, dob('1990-01-01'), ranked(wrong, right), birthDateOf), // nobody's date of birth
      () => signInPatient(f.ctx, dob('1984-07-19'), ranked(right, twin), birthDateOf), // two candidates share it
      () => signInPatient(f.ctx, guessing('1970-01-01'), ranked(locked), birthDateOf), // the right one, but delayed from this address
      () => signInPatient(f.ctx, pin('000000'), ranked(wrong, right), birthDateOf), // a wrong PIN
    ]) {
      failures.push(await refusal(attempt()));
    }
    for (const e of failures) expect({ code: e.code, message: e.message, details: e.details }).toEqual({ code: 'SIGN_IN_FAILED', message: 'sign-in failed', details: undefined });

    const entries = (await f.audit('auth.sign-in')).slice(-failures.length);
    expect(entries.map((e) => [e.actor, e.details.reason, (e.details.candidates as { result: string }[] | undefined)?.map((c) => c.result) ?? null])).toEqual([
      ['anonymous', 'face-no-match', null],
      ['anonymous', 'second-factor', ['pin-required', 'birth-date']],
      ['anonymous', 'ambiguous', ['confirmed', 'confirmed']],
      ['anonymous', 'locked-out', ['locked-out']],
      ['anonymous', 'pin', ['pin', 'pin']],
    ]);
    // candidates are named by pseudonym only
    expect(entries[2]!.details.candidates).toEqual([
      { patientRef: f.ctx.audit.patientRef(right), grade: 'probable', score: 0.95, result: 'confirmed' },
      { patientRef: f.ctx.audit.patientRef(twin), grade: 'probable', score: 0.94, result: 'confirmed' },
    ]);
    expect(JSON.stringify(entries)).not.toContain(right);
  });

  it('delays and then locks out an account after repeated failures, whoever the name belongs to', async () => {
    const staff = await staffWithTotp(f, 'target', ['clinician']);
    const { account } = DEFAULT_ACCESS_SETTINGS.throttle;
    const attempt = (username: string, password: string, client: string) => signInWithTotp(f.ctx, { username, password, code: staff.code(), client });

    // free failures, then delays doubling from one second; each from a new address (only the account counts)
    const delays: number[] = [];
    for (let n = 1; n < account.lockAfter; n++) {
      const e = await refusal(attempt('target', 'wrong password guess', `198.51.100.${n}`));
      expect(e.code).toBe('SIGN_IN_FAILED');
      const retry = (e.details?.retryAfterSeconds as number | undefined) ?? 0;
      delays.push(retry);
      if (retry > 0) {
        // during the delay even the right password is refused, unchecked
        expect((await refusal(attempt('target', staff.password, '203.0.113.1'))).code).toBe('TOO_MANY_ATTEMPTS');
        f.clock.advance(retry * 1000);
      }
    }
    expect(delays).toEqual([0, 0, 0, 1, 2, 4, 8, 16, 32]);

    // the 10th failure locks the account for half an hour
    const locked = await refusal(attempt('target', 'wrong password guess', '198.51.100.99'));
    expect(locked.details).toEqual({ retryAfterSeconds: account.lockoutMs / 1000 });
    f.clock.advance(account.lockoutMs - 1000);
    // the refusal says how long to wait in its words too (issue 16: "try again later" left people guessing)
    expect(await refusal(attempt('target', staff.password, '203.0.113.1'))).toMatchObject({
      code: 'TOO_MANY_ATTEMPTS',
      message: 'too many failed attempts; try again in 1 second',
      details: { retryAfterSeconds: 1 },
    });
    f.clock.advance(1000);
    await attempt('target', staff.password, '203.0.113.1');

    const lockouts = await f.audit('auth.lockout');
    expect(lockouts).toHaveLength(1);
    expect(lockouts[0]).toMatchObject({ actor: staff.user.id, details: { subject: 'account', failures: account.lockAfter } });
    const denied = (await f.audit('auth.sign-in')).filter((e) => e.outcome === 'denied');
    expect(denied.map((e) => e.details.reason)).toEqual([...Array(6).fill('delayed'), 'locked-out']);

    // success starts the count again: three more mistakes cost nothing
    f.clock.advance(30_000);
    for (let n = 0; n < account.freeFailures; n++) expect((await refusal(attempt('target', 'wrong again', '198.51.100.1'))).details).toBeUndefined();

    // a name that belongs to nobody behaves exactly the same
    for (let n = 0; n < account.freeFailures; n++) await refusal(attempt('ghost', 'whatever it is', `192.0.2.${n}`));
    expect((await refusal(attempt('ghost', 'whatever it is', '192.0.2.200'))).details).toEqual({ retryAfterSeconds: 1 });
    expect((await refusal(attempt('ghost', 'whatever it is', '192.0.2.201'))).code).toBe('TOO_MANY_ATTEMPTS');
  });

  it('lets an administrator lift a lockout before it runs out', async () => {
    const staff = await staffWithTotp(f, 'forgetful', ['front-desk']);
    const { account } = DEFAULT_ACCESS_SETTINGS.throttle;
    for (let n = 0; n < account.lockAfter; n++) {
      await refusal(signInWithTotp(f.ctx, { username: 'forgetful', password: 'wrong password guess', code: '000000', client: null }));
      f.clock.advance(account.maxDelayMs);
    }
    const request = () => signInWithTotp(f.ctx, { username: 'forgetful', password: staff.password, code: staff.code(), client: null });
    expect((await refusal(request())).code).toBe('TOO_MANY_ATTEMPTS');
    await unlockUser(f.ctx, OPERATOR, 'forgetful');
    await request();
    expect((await f.audit('user.unlock'))[0]).toMatchObject({ actor: 'cli:test', details: { userId: staff.user.id } });
  });

  it('delays and locks out a client address trying many accounts, and no other address', async () => {
    f.ctx.settings = {
      ...DEFAULT_ACCESS_SETTINGS,
      throttle: { ...DEFAULT_ACCESS_SETTINGS.throttle, address: { freeFailures: 4, baseDelayMs: 2_000, maxDelayMs: 8_000, lockAfter: 8, lockoutMs: 600_000, forgetAfterMs: 600_000 } },
    };
    const staff = await staffWithTotp(f, 'bystander', ['clinician']);
    const spray = (n: number) => signInWithTotp(f.ctx, { username: `user${n}`, password: 'Summer2026!!', code: '123456', client: '203.0.113.66' });

    const delays: number[] = [];
    for (let n = 1; n <= 8; n++) {
      const e = await refusal(spray(n));
      const retry = (e.details?.retryAfterSeconds as number | undefined) ?? 0;
      delays.push(retry);
      if (n < 8) f.clock.advance(retry * 1000);
    }
    expect(delays).toEqual([0, 0, 0, 0, 2, 4, 8, 600]);
    // the locked-out address cannot even try a real account's right password ...
    const fromAddress = (client: string) => signInWithTotp(f.ctx, { username: 'bystander', password: staff.password, code: staff.code(), client });
    expect((await refusal(fromAddress('203.0.113.66'))).code).toBe('TOO_MANY_ATTEMPTS');
    // ... while everybody else still can
    await fromAddress('203.0.113.67');
    expect((await f.audit('auth.lockout')).map((e) => [e.details.subject, e.client])).toEqual([['address', '203.0.113.66']]);
    // the failures were spread over accounts: none of them is delayed
    expect((await refusal(signInWithTotp(f.ctx, { username: 'user1', password: 'x'.repeat(12), code: '123456', client: '10.0.0.1' }))).details).toBeUndefined();
  });

  it('forgets old failures', async () => {
    await staffWithTotp(f, 'occasional', ['clinician']);
    const { account } = DEFAULT_ACCESS_SETTINGS.throttle;
    for (let day = 0; day < 2 * account.lockAfter; day++) {
      const e = await refusal(signInWithTotp(f.ctx, { username: 'occasional', password: 'a typo in it again', code: '000000', client: null }));
      expect(e.details).toBeUndefined();
      f.clock.advance(account.forgetAfterMs + 1);
    }
  });

  it('ends the sessions of a disabled account, refuses its sign-in, and lets it back when enabled', async () => {
    const staff = await staffWithTotp(f, 'leaver', ['clinician']);
    const first = await signInWithTotp(f.ctx, { username: 'leaver', password: staff.password, code: staff.code(), client: null });
    f.clock.advance(30_000);
    const second = await signInWithTotp(f.ctx, { username: 'leaver', password: staff.password, code: staff.code(), client: null });
    const disabled = await disableUser(f.ctx, OPERATOR, 'LEAVER');
    expect(disabled.sessionsEnded).toBe(3); // the fixture's first sign-in too
    expect(disabled.user.disabledAt).toBe(f.clock.now().toISOString());
    for (const token of [first.token, second.token]) expect((await refusal(resumeSession(f.ctx, token))).code).toBe('UNAUTHENTICATED');
    f.clock.advance(30_000);
    expect((await refusal(signInWithTotp(f.ctx, { username: 'leaver', password: staff.password, code: staff.code(), client: null }))).code).toBe('SIGN_IN_FAILED');
    await enableUser(f.ctx, OPERATOR, 'leaver');
    f.clock.advance(30_000);
    await signInWithTotp(f.ctx, { username: 'leaver', password: staff.password, code: staff.code(), client: null });
    expect((await f.audit()).filter((e) => e.action.startsWith('user.')).map((e) => e.action)).toEqual(['user.create', 'user.disable', 'user.enable']);
  });

  it('makes a reset password replace-at-first-sign-in and ends the sessions', async () => {
    const staff = await staffWithTotp(f, 'lost.it', ['clinician']);
    const reset = await resetPassword(f.ctx, OPERATOR, 'lost.it');
    expect(reset.sessionsEnded).toBe(1);
    const request = { username: 'lost.it', password: reset.password!, code: staff.code(), client: null };
    expect((await refusal(signInWithTotp(f.ctx, request))).code).toBe('PASSWORD_CHANGE_REQUIRED');
    expect((await refusal(signInWithTotp(f.ctx, { ...request, password: staff.password }))).code).toBe('SIGN_IN_FAILED');
    await signInWithTotp(f.ctx, { ...request, newPassword: 'a brand new passphrase' });
  });

  it('writes every attempt to an intact audit chain', async () => {
    const staff = await staffWithTotp(f, 'counted', ['clinician']);
    let attempts = 1; // the fixture's first sign-in
    for (const password of ['wrong one here', staff.password, 'another wrong one']) {
      f.clock.advance(30_000);
      await signInWithTotp(f.ctx, { username: 'counted', password, code: staff.code(), client: null }).catch(() => undefined);
      attempts++;
    }
    expect(await signInCount()).toBe(attempts);
    expect(await signInCount('success')).toBe(2);
    expect(await signInCount('failure')).toBe(2);
    expect(await verifyChain(f.store)).toMatchObject({ ok: true });
  });
});
