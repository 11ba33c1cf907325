import { afterEach, beforeEach, expect, it } from 'vitest';
import { signInPatient, signInWithTotp } from '../../src/access/authenticate.js';
import { DEFAULT_ACCESS_SETTINGS } from '../../src/access/context.js';
import { authorize } from '../../src/access/policy.js';
import { purgeExpiredSessions, resumeSession, signOut, signOutEverywhere } from '../../src/access/sessions.js';
import { hashToken } from '../../src/access/tokens.js';
import { createUser } from '../../src/access/users.js';
import { MedfaceError } from '../../src/errors.js';
import { describeEachStore } from '../store/harness.js';
import { accessFixture, OPERATOR, staffWithTotp, storeContains, type AccessFixture, type Staff } from './fixture.js';

const MINUTE = 60_000;
const { idleTimeoutMs, absoluteLifetimeMs } = DEFAULT_ACCESS_SETTINGS.sessions;

async function code(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  return e instanceof MedfaceError ? e.code : `resolved or not a MedfaceError: ${String(e)}`;
}

describeEachStore('sessions', (h) => {
  let f: AccessFixture;
  let staff: Staff;
  beforeEach(async () => {
    f = await accessFixture(h);
    staff = await staffWithTotp(f, 'dr.who', ['clinician']);
  });
  afterEach(async () => {
    await f.close();
  });

  const signIn = async (client: string | null = '10.0.0.5') => {
    f.clock.advance(30_000); // a fresh TOTP step
    return signInWithTotp(f.ctx, { username: 'dr.who', password: staff.password, code: staff.code(), client });
  };

  it('has the documented defaults: 15 minutes idle, 12 hours at most', () => {
    expect(idleTimeoutMs).toBe(15 * MINUTE);
    expect(absoluteLifetimeMs).toBe(12 * 60 * MINUTE);
  });

  it('ends a session left idle for the idle timeout, and keeps one in use alive', async () => {
    const { token, session } = await signIn();
    expect(Date.parse(session.idleExpiresAt) - Date.parse(session.lastSeenAt)).toBe(idleTimeoutMs);
    for (let i = 0; i < 4; i++) {
      f.clock.advance(idleTimeoutMs - 1000);
      const resumed = await resumeSession(f.ctx, token);
      expect(resumed.session.idleExpiresAt).toBe(new Date(f.clock.time.getTime() + idleTimeoutMs).toISOString());
      expect(resumed.principal).toEqual({ kind: 'user', id: staff.user.id, roles: ['clinician'], patientId: null });
    }
    f.clock.advance(idleTimeoutMs);
    expect(await code(resumeSession(f.ctx, token))).toBe('UNAUTHENTICATED');
    // the expired session is gone, and its automatic logoff is in the audit trail
    expect(await f.store.getSessionByTokenHash(hashToken(token))).toBeNull();
    expect((await f.audit('session.expire')).map((e) => [e.actor, e.details])).toEqual([[staff.user.id, { sessionId: session.id, reason: 'idle' }]]);
  });

  it('ends a session at its absolute lifetime however busy it is', async () => {
    const { token, session } = await signIn();
    expect(Date.parse(session.expiresAt) - Date.parse(session.established.at)).toBe(absoluteLifetimeMs);
    const steps = absoluteLifetimeMs / (10 * MINUTE);
    for (let i = 1; i < steps; i++) {
      f.clock.advance(10 * MINUTE);
      const { session: s } = await resumeSession(f.ctx, token);
      // near the end the idle expiry stops at the absolute one
      expect(s.idleExpiresAt <= s.expiresAt).toBe(true);
    }
    f.clock.advance(10 * MINUTE);
    expect(await code(resumeSession(f.ctx, token))).toBe('UNAUTHENTICATED');
    expect((await f.audit('session.expire'))[0]?.details).toEqual({ sessionId: session.id, reason: 'absolute' });
  });

  it('signs out one session, or every session of the account everywhere', async () => {
    const desk = await signIn('desk-1');
    const ward = await signIn('ward-2');
    const phone = await signIn('10.9.9.9');
    const other = await staffWithTotp(f, 'dr.other', ['clinician']);
    f.clock.advance(30_000);
    const others = await signInWithTotp(f.ctx, { username: 'dr.other', password: other.password, code: other.code(), client: null });

    await signOut(f.ctx, desk.token);
    expect(await code(resumeSession(f.ctx, desk.token))).toBe('UNAUTHENTICATED');
    await signOut(f.ctx, desk.token); // already ended: nothing happens
    await resumeSession(f.ctx, ward.token);

    // the fixture's first sign-in, ward and phone
    expect(await signOutEverywhere(f.ctx, phone.token)).toBe(3);
    for (const t of [ward.token, phone.token]) expect(await code(resumeSession(f.ctx, t))).toBe('UNAUTHENTICATED');
    expect((await resumeSession(f.ctx, others.token)).user.username).toBe('dr.other');

    expect((await f.audit('session.sign-out')).map((e) => [e.client, e.details.sessionId])).toEqual([['desk-1', desk.session.id]]);
    expect((await f.audit('session.sign-out-everywhere')).map((e) => [e.actor, e.client, e.details.sessionsEnded])).toEqual([[staff.user.id, '10.9.9.9', 3]]);
  });

  it('keeps only a hash of each token', async () => {
    const { token } = await signIn();
    expect(token).toMatch(/^mfs_[A-Za-z0-9_-]{43}$/);
    expect(await storeContains(f, h, token)).toBe(false);
    expect(await storeContains(f, h, token.slice(4))).toBe(false);
    expect(await storeContains(f, h, hashToken(token))).toBe(true);
  });

  it('refuses tokens that are not ours without looking them up', async () => {
    const { token } = await signIn();
    for (const bad of ['', 'mfs_', token.slice(0, -1), `${token}x`, token.replace('mfs_', 'mfk_'), 'Bearer ' + token]) {
      expect(await code(resumeSession(f.ctx, bad))).toBe('UNAUTHENTICATED');
    }
  });

  it('purges sessions that expired without being resumed', async () => {
    const stale = await signIn();
    f.clock.advance(idleTimeoutMs - 1000);
    const fresh = await signIn();
    f.clock.advance(1000 + 30_000);
    // the fixture's first sign-in and `stale` are past their idle expiry
    expect(await purgeExpiredSessions(f.ctx)).toBe(2);
    expect(await f.store.getSessionByTokenHash(hashToken(stale.token))).toBeNull();
    await resumeSession(f.ctx, fresh.token);
  });

  it("gives a patient's session a principal limited to the patient's own record", async () => {
    const patientId = await f.newPatient('1970-01-02');
    const otherPatient = await f.newPatient('1970-01-02');
    await createUser(f.ctx, OPERATOR, { username: 'pat', roles: ['patient'], patientId });
    const { token } = await signInPatient(
      f.ctx,
      { secondFactor: { kind: 'birth-date', value: '1970-01-02' }, client: 'kiosk' },
      () => Promise.resolve([{ patientId, grade: 'certain', score: 0.98 }]),
      () => Promise.resolve('1970-01-02'),
    );
    const { principal, session } = await resumeSession(f.ctx, token);
    expect(session.established).toMatchObject({ method: 'face+birth-date', matchGrade: 'certain', matchScore: 0.98 });
    // face and date of birth: the patient's own demographics, never the clinical record (a photo and a known date are not a secret)
    expect((await authorize(principal, 'patient.read-demographics', { patientId })).allowed).toBe(true);
    expect(await authorize(principal, 'record.read', { patientId })).toMatchObject({ allowed: false, reason: 'limited-session' });
    expect(await authorize(principal, 'biometric.erase', { patientId })).toMatchObject({ allowed: false, reason: 'limited-session' });
    expect((await authorize(principal, 'patient.manage-pin', { patientId })).allowed).toBe(true);
    expect((await authorize(principal, 'record.read', { patientId: otherPatient })).allowed).toBe(false);

    // with the PIN the patient chose, the record opens
    await createUser(f.ctx, OPERATOR, { username: 'pat-pin', roles: ['patient'], patientId: otherPatient, pin: '40392817' });
    const withPin = await signInPatient(
      f.ctx,
      { secondFactor: { kind: 'pin', value: '40392817' }, client: 'kiosk' },
      () => Promise.resolve([{ patientId: otherPatient, grade: 'certain', score: 0.98 }]),
      () => Promise.resolve('1970-01-02'),
    );
    const full = (await resumeSession(f.ctx, withPin.token)).principal;
    expect((await authorize(full, 'record.read', { patientId: otherPatient })).allowed).toBe(true);
    expect((await authorize(full, 'record.read', { patientId })).allowed).toBe(false);
  });
});
