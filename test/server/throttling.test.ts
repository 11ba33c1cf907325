import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_THROTTLE } from '../../src/access/lockout.js';
import { startTestServer, type TestServer } from './harness.js';

/**
 * Failed attempts must not deny service to valid credentials. API keys are 256-bit random tokens, which
 * nobody guesses: counting a bogus key against the calling address (the sign-in lockout's subject) let
 * anyone lock a whole address out — its valid keys and its staff sign-ins — and behind a proxy without
 * MEDFACE_TRUST_PROXY that address is every client (security review, issue 15 finding 11).
 */

let server: TestServer;

beforeAll(async () => {
  // an address (and its bogus keys) locked out at the 5th failure, for ten minutes (no face work here: the models are not loaded)
  const strict = { ...DEFAULT_THROTTLE.address, freeFailures: 2, lockAfter: 5, lockoutMs: 600_000 };
  const throttle = { ...DEFAULT_THROTTLE, address: strict, apiKey: strict };
  server = await startTestServer({ deployment: { startFaces: 'on-first-use', access: { settings: { throttle } } } });
}, 120_000);

afterAll(async () => {
  await server?.close();
});

/** Well past the address lockout. */
const BOGUS_KEYS = 20;

describe('bogus API keys', () => {
  it('do not lock out the valid keys and staff sign-ins of the address they come from', async () => {
    const { key } = await server.apiKey(['verify:patient']);
    const verify = (bearer: string) =>
      server.app.inject({ method: 'POST', url: '/api/v1/patients/c0ffee00-0000-4000-8000-00000000beef/verify', headers: { authorization: `Bearer ${bearer}` }, payload: {} });
    const answers: number[] = [];
    for (let n = 0; n < BOGUS_KEYS; n++) answers.push((await verify(`mfk_${'A'.repeat(40)}${String(n).padStart(3, '0')}`)).statusCode);
    expect(new Set(answers)).not.toContain(200);
    expect(answers.every((status) => status === 401 || status === 429)).toBe(true);
    // the bogus keys themselves end up throttled
    expect(answers.slice(-5)).toEqual([429, 429, 429, 429, 429]);

    // the valid key from the same address is authenticated: the empty body is refused by validation, after authentication
    const valid = await verify(key);
    expect(valid.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    expect(valid.statusCode).toBe(400);
    // and staff sign in from that address as usual
    const staff = await server.signIn(['front-desk']);
    expect((await server.as(staff, { method: 'GET', url: '/api/v1/auth/session' })).statusCode).toBe(200);
  }, 120_000);
});
