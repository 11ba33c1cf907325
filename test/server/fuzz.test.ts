import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFuzz, startFuzzTarget } from './fuzz.js';

/**
 * A sample of the hostile-input fuzz (bench/fuzz.ts runs 10,000 cases): a fresh seed each run, printed so a
 * failure can be replayed with MEDFACE_FUZZ_SEED.
 */

const SEED = Number(process.env.MEDFACE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CASES = 400;

let target: Awaited<ReturnType<typeof startFuzzTarget>>;

beforeAll(async () => {
  target = await startFuzzTarget();
}, 180_000);

afterAll(async () => {
  await target?.close();
});

describe('hostile input', () => {
  it(`answers ${CASES} generated cases with 4xx and the error shape, changes nothing it refuses, and stays up (seed ${SEED})`, async () => {
    const result = await runFuzz(target, SEED, CASES);
    expect(result.findings, `seed ${SEED}`).toEqual([]);
    expect(result.cases).toBe(CASES);
    // the run reached the handlers, not only the front door: some were accepted, some refused by the face engine
    expect(result.accepted).toBeGreaterThan(0);
    expect(result.overHttp).toBeGreaterThan(CASES / 10);
  }, 300_000);

  // found by the fuzz, kept as plain cases
  it('refuses a multipart body cut before its closing boundary with 400, not 500', async () => {
    const boundary = 'cut-short';
    const response = await target.server.app.inject({
      method: 'POST',
      url: '/api/v1/identify',
      headers: { authorization: `Bearer ${target.apiKey}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload: `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff\r\n--${boundary}`,
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED', message: 'the multipart body is malformed' } });
  });

  it('answers a FHIR URL the router cannot decode with an OperationOutcome', async () => {
    const response = await target.server.as(target.frontDesk, { method: 'GET', url: '/fhir/Patient/%' });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(response.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error' }] });
  });

  it('answers what the HTTP parser refuses (headers too large, not HTTP) in the error shape too', async () => {
    const tooLarge = await fetch(`${target.baseUrl}/api/v1/patients`, { headers: { 'x-filler': 'a'.repeat(64 * 1024) } });
    expect(tooLarge.status).toBe(431);
    expect(await tooLarge.json()).toEqual({ error: { code: 'HEADERS_TOO_LARGE', message: expect.any(String) } });
    const { port } = new URL(target.baseUrl);
    const garbage = await new Promise<string>((resolve) => {
      let data = '';
      const socket = net.connect(Number(port), '127.0.0.1');
      socket.on('data', (chunk) => (data += chunk.toString('utf8')));
      socket.on('close', () => resolve(data));
      socket.end('NOT HTTP AT ALL\r\n\r\n');
    });
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(garbage.slice(garbage.indexOf('\r\n\r\n') + 4))).toEqual({ error: { code: 'VALIDATION_FAILED', message: expect.any(String) } });
  });

  it('refuses a NUL character or a lone surrogate anywhere in a body (PostgreSQL cannot store them: they were 500s there)', async () => {
    const before = await target.server.as(target.frontDesk, { method: 'GET', url: '/api/v1/patients?name=Nul' });
    const patient = await target.server.as(target.frontDesk, {
      method: 'POST',
      url: '/api/v1/patients',
      payload: { resourceType: 'Patient', name: [{ family: 'Nul\u0000Byte', given: ['Ada'] }], birthDate: '1970-01-01' },
    });
    expect(patient.statusCode).toBe(400);
    expect(patient.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED', details: { issues: [{ path: 'body.name.0.family' }] } } });
    const after = await target.server.as(target.frontDesk, { method: 'GET', url: '/api/v1/patients?name=Nul' });
    expect(after.body).toBe(before.body);
    const browser = await target.server.newBrowser();
    const signIn = await target.server.as(browser, { method: 'POST', url: '/api/v1/auth/sign-in', payload: { username: 'a\u0000b', password: 'x', code: '1' } });
    expect(signIn.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    const surrogate = await target.server.as(target.frontDesk, { method: 'POST', url: '/api/v1/patients', payload: { resourceType: 'Patient', name: [{ family: 'Nul\uD800' }] } });
    expect(surrogate.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED', details: { issues: [{ path: 'body.name.0.family', message: 'is not well-formed Unicode (a lone surrogate)' }] } } });
  });
});
