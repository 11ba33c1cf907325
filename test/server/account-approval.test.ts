import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base32Decode, totpCode } from '../../src/access/totp.js';
import { createUser } from '../../src/access/users.js';
import { afterResponse, startTestServer, OPERATOR, type Browser, type TestServer } from './harness.js';

/**
 * Issue 15, finding 8: an administrator alone obtained clinical access by creating a clinician, or by
 * resetting a clinician's password and TOTP. Through the server both are now requests that a second
 * administrator approves, and the account's first sign-in enrols the user's own TOTP (neither administrator
 * ever holds it).
 */

let server: TestServer;
let admin: Browser & { userId: string };
let secondAdmin: Browser & { userId: string };

beforeAll(async () => {
  server = await startTestServer({ deployment: { startFaces: 'on-first-use' }, rateLimits: { signIn: { max: 100, windowMs: 60_000 } } });
  admin = await server.signIn(['admin']);
  secondAdmin = await server.signIn(['admin']);
});

afterAll(async () => {
  await server?.close();
});

type Request = { id: string; action: string; username: string; status: string; requestedBy: string };

const usernames = async (): Promise<string[]> => (await server.as(admin, { method: 'GET', url: '/api/v1/users' })).json<{ users: { username: string }[] }>().users.map((u) => u.username);

/** Signs in with the temporary password: enrols the user's own TOTP, then signs in with its code and a new password. */
async function firstSignIn(username: string, password: string): Promise<{ status: number; secret: Buffer }> {
  const browser = await server.newBrowser();
  const signIn = (payload: object) => server.as(browser, { method: 'POST', url: '/api/v1/auth/sign-in', payload: { username, password, ...payload } });
  const enrol = await signIn({ code: '' });
  expect(enrol.statusCode, enrol.body).toBe(403);
  const error = enrol.json<{ error: { code: string; details: { totpUri: string } } }>().error;
  expect(error.code).toBe('TOTP_ENROLMENT_REQUIRED');
  const secret = base32Decode(new URL(error.details.totpUri).searchParams.get('secret') as string);
  const done = await signIn({ code: totpCode(secret, new Date()), newPassword: `${password} replaced by the user` });
  return { status: done.statusCode, secret };
}

describe('the two-administrator rule', () => {
  it('an administrator alone cannot create a clinician: the request waits for another administrator, who gets the one-time password', async () => {
    const requested = await server.as(admin, { method: 'POST', url: '/api/v1/users', payload: { username: 'new-clinician', roles: ['clinician'], displayName: 'Dr New' } });
    expect(requested.statusCode, requested.body).toBe(202);
    const { request } = requested.json<{ request: Request }>();
    expect(request).toMatchObject({ action: 'user.create', username: 'new-clinician', status: 'pending', requestedBy: admin.userId });
    expect(requested.body).not.toContain('password');
    expect(await usernames()).not.toContain('new-clinician');

    const pending = await server.as(secondAdmin, { method: 'GET', url: '/api/v1/account-requests' });
    expect(pending.json<{ requests: Request[] }>().requests.map((r) => r.id)).toContain(request.id);

    // the requester cannot approve their own request
    const own = await server.as(admin, { method: 'POST', url: `/api/v1/account-requests/${request.id}/approve` });
    expect(own.statusCode).toBe(403);
    expect(await usernames()).not.toContain('new-clinician');

    const approved = await server.as(secondAdmin, { method: 'POST', url: `/api/v1/account-requests/${request.id}/approve` });
    expect(approved.statusCode, approved.body).toBe(200);
    const { user, password } = approved.json<{ user: { username: string; roles: string[] }; password: string }>();
    expect(user).toMatchObject({ username: 'new-clinician', roles: ['clinician'] });
    expect(await usernames()).toContain('new-clinician');
    const again = await server.as(secondAdmin, { method: 'POST', url: `/api/v1/account-requests/${request.id}/approve` });
    expect(again.statusCode).toBe(409);

    expect((await firstSignIn('new-clinician', password)).status).toBe(200);
  });

  it('granting emergency or admin needs approval too; front desk does not; the console operator grants directly', async () => {
    for (const role of ['emergency', 'admin']) {
      const response = await server.as(admin, { method: 'POST', url: '/api/v1/users', payload: { username: `new-${role}`, roles: [role] } });
      expect(response.statusCode, role).toBe(202);
    }
    const frontDesk = await server.as(admin, { method: 'POST', url: '/api/v1/users', payload: { username: 'new-desk', roles: ['front-desk'], totp: true } });
    expect(frontDesk.statusCode).toBe(201);
    // a request carries no secret: a chosen password is refused
    const chosen = await server.as(admin, { method: 'POST', url: '/api/v1/users', payload: { username: 'chosen-pw', roles: ['clinician'], password: 'a password the admin knows' } });
    expect(chosen.statusCode).toBe(400);
    const direct = await createUser(server.deployment.access, OPERATOR, { username: 'console-clinician', roles: ['clinician'] });
    expect(direct.user.roles).toEqual(['clinician']);
  });

  it('an administrator alone cannot take over a clinician: password and TOTP resets wait for another administrator, and the user enrols their own TOTP', async () => {
    const first = 'the first password of the target';
    const created = await createUser(server.deployment.access, OPERATOR, { username: 'target-clinician', roles: ['clinician'], password: first, totp: true });
    const secret = base32Decode(new URL(created.totpUri as string).searchParams.get('secret') as string);
    const browser = await server.newBrowser();
    const signedIn = await server.as(browser, {
      method: 'POST',
      url: '/api/v1/auth/sign-in',
      payload: { username: 'target-clinician', password: first, code: totpCode(secret, new Date()), newPassword: `${first} renewed` },
    });
    expect(signedIn.statusCode).toBe(200);

    const reset = await server.as(admin, { method: 'POST', url: '/api/v1/users/target-clinician/reset-password', payload: {} });
    expect(reset.statusCode, reset.body).toBe(202);
    expect(reset.body).not.toMatch(/"password"/);
    const chosen = await server.as(admin, { method: 'POST', url: '/api/v1/users/target-clinician/reset-password', payload: { password: 'one the admin chose' } });
    expect(chosen.statusCode).toBe(400);
    const totp = await server.as(admin, { method: 'POST', url: '/api/v1/users/target-clinician/totp' });
    expect(totp.statusCode, totp.body).toBe(202);
    expect(totp.body).not.toContain('otpauth');
    // nothing changed for the user while the requests wait
    const user = afterResponse(browser, signedIn);
    expect((await server.as(user, { method: 'GET', url: '/api/v1/auth/session' })).statusCode).toBe(200);

    // the first request is withdrawn by its requester; the TOTP reset is approved by the second administrator
    const passwordRequest = reset.json<{ request: Request }>().request;
    const withdrawn = await server.as(admin, { method: 'POST', url: `/api/v1/account-requests/${passwordRequest.id}/reject` });
    expect(withdrawn.json()).toMatchObject({ status: 'rejected' });
    const totpRequest = totp.json<{ request: Request }>().request;
    const approved = await server.as(secondAdmin, { method: 'POST', url: `/api/v1/account-requests/${totpRequest.id}/approve` });
    expect(approved.statusCode, approved.body).toBe(200);
    const { password, sessionsEnded } = approved.json<{ password: string; sessionsEnded: number }>();
    expect(sessionsEnded).toBe(1);
    expect((await server.as(user, { method: 'GET', url: '/api/v1/auth/session' })).statusCode).toBe(401);

    const enrolled = await firstSignIn('target-clinician', password);
    expect(enrolled.status).toBe(200);
    expect(enrolled.secret.equals(secret)).toBe(false);

    // an administrator may still reset their own TOTP alone
    const ownTotp = await server.as(admin, {
      method: 'POST',
      url: `/api/v1/users/${(await server.as(admin, { method: 'GET', url: '/api/v1/auth/session' })).json<{ user: { username: string } }>().user.username}/totp`,
    });
    expect(ownTotp.statusCode, ownTotp.body).toBe(200);

    const trail = await server.deployment.medface.audit.search(server.deployment.medface.store, { limit: 1000 });
    const actions = trail.map((e) => `${e.action}:${e.actor}`);
    expect(actions).toContain(`user.request:${admin.userId}`);
    expect(actions).toContain(`user.request-reject:${admin.userId}`);
    expect(actions).toContain(`user.request-approve:${secondAdmin.userId}`);
    expect(actions).toContain(`user.totp-reset:${secondAdmin.userId}`);
  });
});
