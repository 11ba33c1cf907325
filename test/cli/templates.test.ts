import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DLIB_EMBEDDER_ID } from '../../src/face/embedders/dlib.js';
import { MOBILEFACENET_EMBEDDER_ID } from '../../src/face/embedders/mobilefacenet.js';
import { DEFAULT_EMBEDDER_ID, FacePool } from '../../src/face/index.js';
import { thresholdsFor, writeModelThresholds } from '../../src/identity/thresholds.js';
import { grantConsent } from '../../src/services/patients/consent.js';
import { openMedface } from '../../src/services/context.js';
import { enrol } from '../../src/services/biometrics/enrol.js';
import { createPatientRecord } from '../../src/services/patients/patients.js';
import { demoFaces, PATIENTS, rememberingPool } from '../services/fixtures.js';
import { operatorEnv, runCliJson } from './run.js';

/** `medface templates status|migrate` as an operator runs them after switching the recogniser (MEDFACE_EMBEDDER). */

const root = mkdtempSync(path.join(tmpdir(), 'medface-cli-templates-'));
const dataDir = path.join(root, 'data');
const OLD = DLIB_EMBEDDER_ID;
const NEW = MOBILEFACENET_EMBEDDER_ID;
const ids: Record<'alice' | 'bob', string> = { alice: '', bob: '' };

function medface(...args: string[]): Promise<{ code: number; json: Record<string, unknown>; stderr: string }> {
  return runCliJson(args, operatorEnv(dataDir, { MEDFACE_EMBEDDER: NEW }));
}

beforeAll(async () => {
  // enrolled under the old model: Alice with her photo kept, Bob without
  const pool = await FacePool.create({ size: 1, embedderId: OLD });
  const thresholdsFile = path.join(root, 'thresholds.json');
  writeModelThresholds(OLD, thresholdsFor(OLD), thresholdsFile);
  try {
    const images = await demoFaces(pool);
    const before = await openMedface({ dataDir, databaseUrl: undefined, keyFile: undefined }, { faces: rememberingPool(pool), embedderId: OLD, thresholdsFile });
    try {
      const who = { actor: 'clerk' };
      for (const name of ['alice', 'bob'] as const) {
        ids[name] = (await createPatientRecord(before, PATIENTS[name], who)).id!;
        await grantConsent(before, { patientId: ids[name], notice: 'v1' }, who);
      }
      await enrol(before, { patientId: ids.alice, images: [images.alice], keepPhoto: true }, who);
      await enrol(before, { patientId: ids.bob, images: [images.bob] }, who);
    } finally {
      await before.close();
    }
  } finally {
    await pool.close();
  }
}, 300_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A TCP port nobody listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

it("a server started with the default recogniser on the old model's templates starts, answers, and says what to run", { timeout: 480_000 }, async () => {
  expect(DEFAULT_EMBEDDER_ID).not.toBe(OLD);
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, MEDFACE_DATA_DIR: dataDir, PORT: String(port) };
  for (const name of ['DATABASE_URL', 'MEDFACE_KEY_FILE', 'MEDFACE_EMBEDDER']) delete env[name];
  const server = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--host', '127.0.0.1', '--workers', '1'], {
    cwd: path.resolve(import.meta.dirname, '../..'),
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  try {
    let stderr = '';
    const notice = await new Promise<string>((resolve, reject) => {
      server.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const line = stderr.split('\n').find((l) => l.includes('medface templates migrate'));
        if (line) resolve(line);
      });
      server.on('exit', (code) => reject(new Error(`the server exited (${code}): ${stderr}`)));
    });
    expect(notice).toContain(`(${DEFAULT_EMBEDDER_ID})`);
    expect(notice).toContain(`${OLD}: 2 patients, 1 templates with a kept photo, 1 patients to enrol again`);
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => (server.exitCode === null ? server.once('exit', resolve) : resolve(null)));
  }
});

it('reports what waits, migrates what has a kept photo, and reports again', { timeout: 480_000 }, async () => {
  const before = await medface('templates', 'status');
  expect(before.code, before.stderr).toBe(0);
  expect(before.json).toEqual({ model: NEW, models: [{ model: OLD, current: false, patients: 2, templates: 2, migratable: 1, awaitingEnrolment: 1, migrationPending: true, unsearchable: null }] });

  const migrated = await medface('templates', 'migrate', '--batch', '1', '--actor', 'admin-1');
  expect(migrated.code, migrated.stderr).toBe(0);
  expect(migrated.json).toEqual({ model: NEW, migrated: 1, refused: 0, withoutPhoto: 1 });

  const after = await medface('templates', 'status');
  expect(after.json).toEqual({
    model: NEW,
    models: [
      { model: OLD, current: false, patients: 1, templates: 1, migratable: 0, awaitingEnrolment: 1, migrationPending: false, unsearchable: null },
      { model: NEW, current: true, patients: 1, templates: 1, migratable: 0, awaitingEnrolment: 0, migrationPending: false, unsearchable: null },
    ],
  });
  const badBatch = await medface('templates', 'migrate', '--batch', '0');
  expect(badBatch.code).toBe(1);
  expect(badBatch.json).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
});
