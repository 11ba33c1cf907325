import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startTestServer, type Browser, type TestServer } from './harness.js';

/** Issue 15 (low): FHIR Bundle links were built from the request's Host header; now from MEDFACE_PUBLIC_URL. */
describe('MEDFACE_PUBLIC_URL', () => {
  let server: TestServer;
  let frontDesk: Browser;

  beforeAll(async () => {
    server = await startTestServer({ deployment: { startFaces: 'on-first-use' }, publicUrl: loadConfig({ MEDFACE_PUBLIC_URL: 'https://medface.example.org/' }).publicUrl! });
    frontDesk = await server.signIn(['front-desk']);
  });

  afterAll(async () => {
    await server?.close();
  });

  it('is parsed into an origin (and path) without a trailing slash, and refused when it is not an http(s) address', () => {
    expect(loadConfig({}).publicUrl).toBeUndefined();
    expect(loadConfig({ MEDFACE_PUBLIC_URL: 'https://medface.example.org/' }).publicUrl).toBe('https://medface.example.org');
    expect(loadConfig({ MEDFACE_PUBLIC_URL: 'http://10.0.0.5:8080/medface/' }).publicUrl).toBe('http://10.0.0.5:8080/medface');
    for (const bad of ['medface.example.org', 'ftp://x.example', 'https://x.example/?a=1', 'https://user:pw@x.example']) {
      expect(() => loadConfig({ MEDFACE_PUBLIC_URL: bad }), bad).toThrow(/MEDFACE_PUBLIC_URL/);
    }
  });

  it('is the base of FHIR Bundle links, whatever Host the client sends', async () => {
    const created = await server.as(frontDesk, { method: 'POST', url: '/api/v1/patients', payload: { resourceType: 'Patient', name: [{ family: 'Okonkwo' }], birthDate: '1980-02-03' } });
    expect(created.statusCode, created.body).toBe(201);
    const search = await server.as(frontDesk, { method: 'GET', url: '/fhir/Patient?name=okonkwo', headers: { host: 'attacker.example' } });
    const bundle = search.json<{ link: { url: string }[]; entry: { fullUrl: string; resource: { id: string } }[] }>();
    expect(bundle.link[0]!.url).toBe('https://medface.example.org/fhir/Patient?name=okonkwo');
    expect(bundle.entry[0]!.fullUrl).toBe(`https://medface.example.org/fhir/Patient/${bundle.entry[0]!.resource.id}`);
    expect(search.body).not.toContain('attacker.example');
  });
});
