import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type Browser, type TestServer } from './harness.js';

/**
 * People, not UUIDs (issue 16): the duplicate queue, the break-glass review queue and audit search name the
 * patients (name, date of birth) and users (username) to those the policy lets see them; the privacy officer
 * filters the audit trail by username and by patient name; every lookup that showed names is audited.
 * No face model is needed.
 */

let server: TestServer;
let frontDesk: Browser & { userId: string };
let officer: Browser & { userId: string };
let emergency: Browser & { userId: string };
const ids = { alice: '', bob: '' };

async function createPatient(family: string, given: string, birthDate: string): Promise<string> {
  const response = await server.as(frontDesk, { method: 'POST', url: '/api/v1/patients', payload: { resourceType: 'Patient', name: [{ family, given: [given] }], birthDate } });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<{ id: string }>().id;
}

beforeAll(async () => {
  server = await startTestServer({ deployment: { startFaces: 'on-first-use' }, rateLimits: { signIn: { max: 100, windowMs: 60_000 } } });
  frontDesk = await server.signIn(['front-desk'], 'desk.dora');
  officer = await server.signIn(['privacy-officer'], 'privacy.pat');
  emergency = await server.signIn(['emergency'], 'er.erin');
  ids.alice = await createPatient('Liddell', 'Alice', '1990-04-01');
  ids.bob = await createPatient('Builder', 'Bob', '1985-02-03');
  const opened = await server.as(emergency, { method: 'POST', url: '/api/v1/break-glass', payload: { patientId: ids.alice, reason: 'Unconscious on arrival, no papers' } });
  expect(opened.statusCode, opened.body).toBe(201);
  await server.deployment.medface.store.insertPatientLink({
    id: randomUUID(),
    patientId: ids.bob,
    otherPatientId: ids.alice,
    grade: 'probable',
    score: 0.81,
    status: 'pending',
    reason: null,
    createdBy: frontDesk.userId,
    createdAt: new Date().toISOString(),
    reviewedBy: null,
    reviewedAt: null,
  });
});

afterAll(async () => {
  await server?.close();
});

const namesShown = async (actor: string) =>
  (await server.deployment.medface.store.listAuditEvents({ actor, action: 'people.read-names', limit: 100 })).map((e) => JSON.parse(e.details) as Record<string, unknown>);

describe('work lists name people', () => {
  it('shows the two patients of a suspected duplicate by name and date of birth, and audits it', async () => {
    const response = await server.as(frontDesk, { method: 'GET', url: '/api/v1/duplicates?status=pending' });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({
      duplicates: [{ patientId: ids.bob, patient: { id: ids.bob, name: 'Bob Builder', birthDate: '1985-02-03' }, otherPatient: { id: ids.alice, name: 'Alice Liddell', birthDate: '1990-04-01' } }],
    });
    expect(await namesShown(frontDesk.userId)).toContainEqual({ list: 'duplicate.list', patients: 2, users: 0 });
  });

  it('shows who opened a break-glass access and whose record to the privacy officer', async () => {
    const response = await server.as(officer, { method: 'GET', url: '/api/v1/break-glass/grants' });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({
      grants: [{ userId: emergency.userId, user: { username: 'er.erin' }, patientId: ids.alice, patient: { name: 'Alice Liddell', birthDate: '1990-04-01' } }],
    });
    expect(await namesShown(officer.userId)).toContainEqual({ list: 'breakglass.list', patients: 1, users: 1 });
  });

  it('filters the audit trail by username and by patient name, naming the user and the patient found', async () => {
    const search = async (query: string) => {
      const response = await server.as(officer, { method: 'GET', url: `/api/v1/audit/events?${query}` });
      expect(response.statusCode, response.body).toBe(200);
      return response.json<{ events: { actor: string; action: string; patientRef: string | null; user?: { username: string }; patient?: { name: string; birthDate: string } }[] }>().events;
    };
    const byUser = await search('userName=ER.E');
    expect(byUser.length).toBeGreaterThan(0);
    expect(new Set(byUser.map((e) => e.actor))).toEqual(new Set([emergency.userId]));
    expect(byUser.map((e) => e.action)).toContain('breakglass.open');
    expect(byUser.every((e) => e.user?.username === 'er.erin')).toBe(true);

    const aboutAlice = await search('patientName=liddell');
    expect(aboutAlice.map((e) => e.action)).toEqual(expect.arrayContaining(['patient.create', 'breakglass.open']));
    expect(aboutAlice.every((e) => e.patient?.name === 'Alice Liddell' && e.patient.birthDate === '1990-04-01')).toBe(true);
    const both = await search('patientName=liddell&userName=er.erin');
    expect(both.map((e) => e.action)).toEqual(['breakglass.open']);
    expect(await search('patientName=nobody')).toEqual([]);
    expect(await search('userName=nobody')).toEqual([]);

    // the search is recorded with its criteria, never the names searched for
    const searches = (await server.deployment.medface.store.listAuditEvents({ actor: officer.userId, action: 'audit.search', limit: 100 })).map((e) => e.details);
    expect(searches.some((d) => d.includes('"patientName"') && d.includes('"userName"'))).toBe(true);
    expect(searches.join()).not.toMatch(/liddell|er\.erin|nobody/i);
    expect(await namesShown(officer.userId)).toContainEqual(expect.objectContaining({ list: 'audit.search' }));
  });

  it('is refused to those who may not read the audit trail, by name as by id', async () => {
    for (const query of ['patientName=liddell', 'userName=er']) {
      expect((await server.as(frontDesk, { method: 'GET', url: `/api/v1/audit/events?${query}` })).statusCode).toBe(403);
    }
  });
});
