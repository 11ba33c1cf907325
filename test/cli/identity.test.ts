import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FacePool } from '../../src/face/index.js';
import { demoFaces, writeTestThresholds } from '../services/fixtures.js';
import { operatorEnv, runCliJson } from './run.js';

const root = mkdtempSync(path.join(tmpdir(), 'medface-cli-identity-'));
const dataDir = path.join(root, 'data');
const file = (name: string) => path.join(root, name);
const thresholds = file('thresholds.json');

/** Runs the CLI as an operator would, on its own data directory (the embedded SQLite store). */
function medface(...args: string[]): Promise<{ code: number; json: Record<string, unknown>; stderr: string }> {
  return runCliJson(args, operatorEnv(dataDir));
}

beforeAll(async () => {
  const pool = await FacePool.create({ size: 1 });
  try {
    const faces = await demoFaces(pool);
    for (const name of ['alice', 'aliceAgain', 'stranger'] as const) writeFileSync(file(`${name}.jpg`), faces[name]);
  } finally {
    await pool.close();
  }
  writeTestThresholds(thresholds);
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('medface patient, consent, enrol, verify, identify, keys, erase', () => {
  // about twenty processes, five of which load the face models: minutes on a busy 2-core machine
  it('runs a patient through the whole life cycle with --json everywhere', { timeout: 480_000 }, async () => {
    const created = await medface('patient', 'create', '--mrn', 'A-1', '--family', 'Liddell', '--given', 'Alice', '--birth-date', '1990-04-01', '--gender', 'female');
    expect(created.code).toBe(0);
    expect(created.stderr).toMatch(/generated a new key file .* Back it up/s);
    const alice = created.json.id as string;
    const bob = (await medface('patient', 'create', '--mrn', 'B-1', '--family', 'Builder', '--given', 'Bob', '--actor', 'clerk-2')).json.id as string;
    expect((await medface('patient', 'get', alice)).json).toMatchObject({ id: alice, birthDate: '1990-04-01', identifier: [{ value: 'A-1' }] });
    expect((await medface('patient', 'search', '--name', 'lid')).json).toMatchObject([{ id: alice }]);
    expect((await medface('patient', 'search', '--identifier', 'urn:medface:mrn|B-1')).json).toMatchObject([{ id: bob }]);

    const refused = await medface('enrol', alice, file('alice.jpg'), '--thresholds', thresholds);
    expect(refused.code).toBe(1);
    expect(refused.json).toMatchObject({ error: { code: 'CONSENT_REQUIRED' } });

    expect((await medface('consent', 'grant', alice, '--notice-version', 'v3')).json).toMatchObject({
      status: 'active',
      policy: [{ uri: 'urn:medface:notice:v3' }],
    });
    const enrolled = await medface('enrol', alice, file('alice.jpg'), '--keep-photo', '--thresholds', thresholds, '--actor', 'nurse-7');
    expect(enrolled.code).toBe(0);
    expect(enrolled.json).toMatchObject({ patientId: alice, templateCount: 1, limit: 5, photosKept: 1 });

    await medface('consent', 'grant', bob, '--notice-version', 'https://clinic.example/notices/face-v3');
    const duplicate = await medface('enrol', bob, file('aliceAgain.jpg'), '--thresholds', thresholds);
    expect(duplicate.code).toBe(1);
    expect(duplicate.json).toMatchObject({ error: { code: 'DUPLICATE_SUSPECTED', details: { candidates: [{ patientId: alice, status: 'pending' }] } } });

    const verified = await medface('verify', alice, file('aliceAgain.jpg'), '--thresholds', thresholds);
    expect(verified.json).toMatchObject({ patientId: alice, match: true, refreshed: false });
    expect(Object.keys(verified.json).sort()).toEqual(['grade', 'match', 'model', 'patientId', 'refreshed', 'score', 'threshold']);
    expect((await medface('identify', file('stranger.jpg'), '--top', '2', '--thresholds', thresholds)).json).toMatchObject({ match: false, candidates: [] });

    const rotated = await medface('keys', 'rotate');
    expect(rotated.json).toMatchObject({ templates: 1, photos: 1, retired: [expect.any(String)] });
    const found = await medface('identify', file('aliceAgain.jpg'), '--thresholds', thresholds);
    // a person, not a UUID (issue 16): the console sees each candidate's name and date of birth, and that is audited
    expect(found.json).toMatchObject({ match: true, candidates: [{ patientId: alice, name: 'Alice Liddell', birthDate: '1990-04-01' }] });

    expect((await medface('erase', alice)).json).toEqual({ patientId: alice, templatesRemoved: 1, photosRemoved: 1, consentWithdrawn: true });
    expect((await medface('consent', 'withdraw', alice)).json).toMatchObject({ error: { code: 'NOT_FOUND' } });

    const db = new Database(path.join(dataDir, 'medface.db'), { readonly: true });
    try {
      const entries = db.prepare('SELECT actor, action, outcome FROM audit_events ORDER BY seq').all() as { actor: string; action: string; outcome: string }[];
      expect(entries.find((e) => e.action === 'biometric.enrol' && e.outcome === 'success')?.actor).toBe('nurse-7');
      expect(entries.find((e) => e.action === 'patient.create')?.actor).toMatch(/^cli:/);
      expect(entries.map((e) => e.action)).toEqual(expect.arrayContaining(['consent.grant', 'biometric.verify', 'biometric.identify', 'people.read-names', 'keys.rotate', 'biometric.erase']));
      expect(db.prepare('SELECT COUNT(*) AS n FROM templates').get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  });

  it('refuses a patient file that is not a valid FHIR Patient, naming the path', async () => {
    writeFileSync(file('bad.json'), JSON.stringify({ resourceType: 'Patient', birthDate: '1990-13-01', name: [{ family: 'X' }] }));
    const bad = await medface('patient', 'create', '--file', file('bad.json'));
    expect(bad.code).toBe(1);
    expect(bad.json).toMatchObject({ error: { code: 'VALIDATION_FAILED', details: { issues: [{ path: 'Patient.birthDate' }] } } });
  });
});
