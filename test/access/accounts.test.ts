import { afterEach, beforeEach, expect, it } from 'vitest';
import { authenticateApiClient, createApiClient, listApiClients, revokeApiClient } from '../../src/access/api-clients.js';
import { signInWithTotp } from '../../src/access/authenticate.js';
import { DEFAULT_ACCESS_SETTINGS } from '../../src/access/context.js';
import { addressSubject, blockedNow } from '../../src/access/lockout.js';
import type { Caller } from '../../src/access/guard.js';
import { authorize } from '../../src/access/policy.js';
import { hashToken } from '../../src/access/tokens.js';
import { base32Decode, base32Encode, totpCode } from '../../src/access/totp.js';
import { createUser, disableUser, enableUser, enrolTotp, listUsers, principalOf } from '../../src/access/users.js';
import { describeEachStore } from '../store/harness.js';
import { accessFixture, refusal, OPERATOR, staffWithTotp, storeContains, type AccessFixture } from './fixture.js';

describeEachStore('accounts', (h) => {
  let f: AccessFixture;
  beforeEach(async () => (f = await accessFixture(h)));
  afterEach(() => f.close());

  it('gives every account a unique id and a unique, case-insensitive name', async () => {
    const a = await createUser(f.ctx, OPERATOR, { username: 'J.Smith', roles: ['front-desk'] });
    const b = await createUser(f.ctx, OPERATOR, { username: 'j.smith2', roles: ['clinician', 'emergency'], displayName: '  Jo Smith ' });
    expect(a.user.id).not.toBe(b.user.id);
    expect(b.user).toMatchObject({ username: 'j.smith2', displayName: 'Jo Smith', roles: ['clinician', 'emergency'] });
    expect(await refusal(createUser(f.ctx, OPERATOR, { username: 'j.SMITH', roles: ['admin'] }))).toMatchObject({ code: 'CONFLICT' });
    expect((await listUsers(f.ctx, OPERATOR)).map((u) => u.username)).toEqual(['j.smith', 'j.smith2']);
    const created = (await f.audit('user.create')).map((e) => [e.actor, e.details]);
    expect(created).toEqual([
      ['cli:test', { userId: a.user.id, roles: ['front-desk'], secondFactor: 'none' }],
      ['cli:test', { userId: b.user.id, roles: ['clinician', 'emergency'], secondFactor: 'none' }],
    ]);
  });

  it('refuses malformed accounts', async () => {
    const patientId = await f.newPatient();
    const bad = [
      { username: 'x', roles: ['clinician'] },
      { username: 'has space', roles: ['clinician'] },
      { username: 'ok.name', roles: [] },
      { username: 'ok.name', roles: ['surgeon'] },
      { username: 'ok.name', roles: ['patient'] },
      { username: 'ok.name', roles: ['patient', 'clinician'], patientId },
      { username: 'ok.name', roles: ['clinician'], patientId },
      { username: 'ok.name', roles: ['patient'], patientId, password: 'a password for a patient' },
      { username: 'ok.name', roles: ['clinician'], pin: '123456' },
      { username: 'ok.name', roles: ['patient'], patientId, totp: true },
      { username: 'ok.name', roles: ['clinician'], password: 'short' },
      { username: 'ok.name', roles: ['patient'], patientId, pin: '12' },
    ];
    for (const input of bad) expect((await refusal(createUser(f.ctx, OPERATOR, input))).code).toBe('VALIDATION_FAILED');
    expect((await refusal(createUser(f.ctx, OPERATOR, { username: 'ghost', roles: ['patient'], patientId: 'no-such-patient' }))).code).toBe('NOT_FOUND');
    await createUser(f.ctx, OPERATOR, { username: 'first', roles: ['patient'], patientId });
    expect((await refusal(createUser(f.ctx, OPERATOR, { username: 'second', roles: ['patient'], patientId }))).code).toBe('CONFLICT');
    expect(await listUsers(f.ctx, OPERATOR)).toHaveLength(1);
  });

  it('lets only those the policy names manage accounts, and audits every refusal', async () => {
    const admin = await createUser(f.ctx, OPERATOR, { username: 'root', roles: ['admin'] });
    const doctor = await createUser(f.ctx, OPERATOR, { username: 'doc', roles: ['clinician'] });
    const privacy = await createUser(f.ctx, OPERATOR, { username: 'po', roles: ['privacy-officer'] });
    const as = (u: { user: Parameters<typeof principalOf>[0] }): Caller => ({ principal: principalOf(u.user), client: '10.0.0.8' });

    await createUser(f.ctx, as(admin), { username: 'made.by.admin', roles: ['front-desk'] });
    expect(await refusal(createUser(f.ctx, as(doctor), { username: 'made.by.doc', roles: ['admin'] }))).toMatchObject({
      code: 'FORBIDDEN',
      details: { operation: 'user.manage', reason: 'not-permitted' },
    });
    expect((await refusal(disableUser(f.ctx, as(privacy), 'root'))).code).toBe('FORBIDDEN');
    expect(await listUsers(f.ctx, as(privacy))).toHaveLength(4);
    expect((await refusal(listUsers(f.ctx, as(doctor)))).code).toBe('FORBIDDEN');

    const denied = (await f.audit()).filter((e) => e.outcome === 'denied');
    expect(denied.map((e) => [e.actor, e.action, e.client, e.details.reason])).toEqual([
      [doctor.user.id, 'user.manage', '10.0.0.8', 'not-permitted'],
      [privacy.user.id, 'user.manage', '10.0.0.8', 'not-permitted'],
      [doctor.user.id, 'user.read', '10.0.0.8', 'not-permitted'],
    ]);
    expect((await listUsers(f.ctx, OPERATOR)).map((u) => u.username)).not.toContain('made.by.doc');
  });

  it('never disables the last active administrator, itself included', async () => {
    const root = await createUser(f.ctx, OPERATOR, { username: 'root', roles: ['admin'] });
    const asRoot: Caller = { principal: principalOf(root.user), client: '10.0.0.8' };
    expect(await refusal(disableUser(f.ctx, asRoot, 'root'))).toMatchObject({ code: 'CONFLICT' });
    expect((await listUsers(f.ctx, OPERATOR)).find((u) => u.username === 'root')?.disabledAt).toBeNull();

    await createUser(f.ctx, OPERATOR, { username: 'second', roles: ['admin'] });
    await disableUser(f.ctx, asRoot, 'second');
    expect(await refusal(disableUser(f.ctx, asRoot, 'root'))).toMatchObject({ code: 'CONFLICT' });
    await enableUser(f.ctx, asRoot, 'second');
    await disableUser(f.ctx, asRoot, 'root');
    expect((await listUsers(f.ctx, OPERATOR)).find((u) => u.username === 'root')?.disabledAt).not.toBeNull();
  });

  it('keeps TOTP secrets sealed, and passwords and PINs only as argon2id hashes', async () => {
    const created = await createUser(f.ctx, OPERATOR, { username: 'sec', roles: ['clinician'], totp: true, password: 'my chosen first password' });
    const secret = base32Decode(new URL(created.totpUri!).searchParams.get('secret')!);
    const patientId = await f.newPatient();
    await createUser(f.ctx, OPERATOR, { username: 'pinned', roles: ['patient'], patientId, pin: '90817263' });
    const generated = await createUser(f.ctx, OPERATOR, { username: 'gen', roles: ['front-desk'] });

    for (const needle of [secret, base32Encode(secret), secret.toString('hex'), secret.toString('base64'), 'my chosen first password', '90817263', generated.password!]) {
      expect(await storeContains(f, h, needle)).toBe(false);
    }
    expect(await storeContains(f, h, '$argon2id$')).toBe(true);
    // the sealed secret is bound to its account: copied onto another, it does not open
    const row = (await f.store.getTotp(created.user.id))!;
    expect(() => f.ctx.secrets.open(row.sealedSecret, generated.user.id)).toThrow(expect.objectContaining({ code: 'KEY_INVALID' }));
    expect(f.ctx.secrets.open(row.sealedSecret, created.user.id)).toEqual(secret);
  });

  it('re-enrols TOTP: the old authenticator stops working', async () => {
    const staff = await staffWithTotp(f, 'renew', ['clinician']);
    const { totpUri } = await enrolTotp(f.ctx, OPERATOR, 'renew');
    const fresh = base32Decode(new URL(totpUri).searchParams.get('secret')!);
    const attempt = (code: string) => signInWithTotp(f.ctx, { username: 'renew', password: staff.password, code, client: null });
    expect((await refusal(attempt(staff.code()))).code).toBe('SIGN_IN_FAILED');
    await attempt(totpCode(fresh, f.clock.now()));
    expect((await f.audit('user.totp-enrol')).map((e) => e.details.userId)).toEqual([staff.user.id]);
  });
});

describeEachStore('API clients', (h) => {
  let f: AccessFixture;
  beforeEach(async () => (f = await accessFixture(h)));
  afterEach(() => f.close());

  it('keeps only the hash of a key, limits the client to its scopes, and revokes it', async () => {
    const { client, key } = await createApiClient(f.ctx, OPERATOR, { name: 'Telemed Co', scopes: ['verify:patient'] });
    expect(key).toMatch(/^mfk_[A-Za-z0-9_-]{43}$/);
    expect(client).toMatchObject({ name: 'Telemed Co', scopes: ['verify:patient'], createdBy: 'cli:test', revokedAt: null });
    expect(await storeContains(f, h, key)).toBe(false);
    expect(await storeContains(f, h, key.slice(4))).toBe(false);
    expect(await storeContains(f, h, hashToken(key))).toBe(true);

    const principal = await authenticateApiClient(f.ctx, key, '198.51.100.20');
    expect(principal).toEqual({ kind: 'api-client', id: client.id, scopes: ['verify:patient'] });
    expect((await authorize(principal, 'biometric.verify', { patientId: 'p-1' })).allowed).toBe(true);
    expect((await authorize(principal, 'biometric.identify')).allowed).toBe(false);
    expect((await authorize(principal, 'record.read', { patientId: 'p-1' })).allowed).toBe(false);

    const revoked = await revokeApiClient(f.ctx, OPERATOR, 'Telemed Co');
    expect(revoked.revokedAt).toBe(f.clock.now().toISOString());
    expect((await refusal(authenticateApiClient(f.ctx, key, '198.51.100.20'))).code).toBe('UNAUTHENTICATED');
    expect((await revokeApiClient(f.ctx, OPERATOR, client.id)).revokedAt).toBe(revoked.revokedAt); // once is enough

    expect((await refusal(authenticateApiClient(f.ctx, key.slice(0, -2) + 'AA', null))).code).toBe('UNAUTHENTICATED');
    const entries = (await f.audit()).filter((e) => e.action.startsWith('apiclient.'));
    expect(entries.map((e) => [e.action, e.outcome, e.details.reason ?? null])).toEqual([
      ['apiclient.create', 'success', null],
      ['apiclient.revoke', 'success', null],
      ['apiclient.authenticate', 'denied', 'revoked'],
      ['apiclient.authenticate', 'failure', 'unknown-key'],
    ]);
    expect(JSON.stringify(entries)).not.toContain(key.slice(4, 20));
  });

  it('refuses unknown scopes and names, and anyone but administrators', async () => {
    for (const input of [
      { name: 'x', scopes: ['read:everything'] },
      { name: 'x', scopes: [] },
      { name: '', scopes: ['verify:patient'] },
      { name: 'bad/name', scopes: ['verify:patient'] },
    ]) {
      expect((await refusal(createApiClient(f.ctx, OPERATOR, input))).code).toBe('VALIDATION_FAILED');
    }
    const doctor = await createUser(f.ctx, OPERATOR, { username: 'doc', roles: ['clinician'] });
    const caller: Caller = { principal: principalOf(doctor.user) };
    expect((await refusal(createApiClient(f.ctx, caller, { name: 'sneaky', scopes: ['identify:patient'] }))).code).toBe('FORBIDDEN');
    expect((await refusal(listApiClients(f.ctx, caller))).code).toBe('FORBIDDEN');
    await createApiClient(f.ctx, OPERATOR, { name: 'kiosk-lobby', scopes: ['checkin:patient', 'identify:patient'] });
    expect((await listApiClients(f.ctx, OPERATOR)).map((c) => [c.name, c.scopes])).toEqual([['kiosk-lobby', ['identify:patient', 'checkin:patient']]]);
  });

  it('throttles an address that keeps presenting bad keys, without refusing its valid keys', async () => {
    f.ctx.settings = {
      ...DEFAULT_ACCESS_SETTINGS,
      throttle: { ...DEFAULT_ACCESS_SETTINGS.throttle, apiKey: { freeFailures: 2, baseDelayMs: 5_000, maxDelayMs: 5_000, lockAfter: 5, lockoutMs: 60_000, forgetAfterMs: 60_000 } },
    };
    const { key } = await createApiClient(f.ctx, OPERATOR, { name: 'legit', scopes: ['verify:patient'] });
    for (let n = 0; n < 3; n++) expect((await refusal(authenticateApiClient(f.ctx, `mfk_${'A'.repeat(42)}${n}`, '203.0.113.9'))).code).toBe('UNAUTHENTICATED');
    expect(await refusal(authenticateApiClient(f.ctx, `mfk_${'A'.repeat(42)}9`, '203.0.113.9'))).toMatchObject({ code: 'TOO_MANY_ATTEMPTS', details: { retryAfterSeconds: 5 } });
    // the bogus keys neither refuse a valid one from that address nor count towards its sign-in lockout
    expect(await authenticateApiClient(f.ctx, key, '203.0.113.9')).toMatchObject({ kind: 'api-client' });
    expect(await blockedNow(f.store, [addressSubject('203.0.113.9')], f.ctx.settings.throttle, f.clock.now())).toBeNull();
    f.clock.advance(5_000);
    expect((await refusal(authenticateApiClient(f.ctx, `mfk_${'A'.repeat(42)}8`, '203.0.113.9'))).code).toBe('UNAUTHENTICATED');
  });
});
