import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, expect, it } from 'vitest';
import type { Actor } from '../../src/services/auditing.js';
import { backupStore, restoreStore } from '../../src/services/operations/backup.js';
import { openMedface, type Medface } from '../../src/services/context.js';
import { identify } from '../../src/services/biometrics/identify.js';
import { createPatientRecord } from '../../src/services/patients/patients.js';
import { indexedTemplate } from '../../src/services/biometrics/template-reader.js';
import { verify } from '../../src/services/biometrics/verify.js';
import { describeEachStore, harnesses, type StoreHarness, type TestDatabase } from '../store/harness.js';
import { registerPatient, faceTestKit, PATIENTS } from './fixtures.js';

const who: Actor = { actor: 'nurse-1', client: 'desk-3' };

const kit = faceTestKit('backup');
const { images } = kit;

/** A deployment: its database and the directory of its key files. */
interface Site {
  db: TestDatabase;
  config: { dataDir: string; databaseUrl: string | undefined; keyFile: string };
}

const sites: Site[] = [];

async function newSite(h: StoreHarness): Promise<Site> {
  const db = await h.create();
  const keys = mkdtempSync(path.join(kit.dir, 'keys-'));
  const dataDir = db.config.databaseUrl ? keys : db.config.dataDir;
  const site = { db, config: { dataDir, databaseUrl: db.config.databaseUrl, keyFile: path.join(keys, 'medface.key') } };
  sites.push(site);
  return site;
}

const open = (site: Site): Promise<Medface> => openMedface(site.config, { thresholdsFile: kit.thresholdsFile, faces: kit.faces });

/** The key file and the audit pseudonym key carried over from one deployment to another, as an operator restores them. */
function copyKeys(from: Site, to: Site): void {
  mkdirSync(path.dirname(to.config.keyFile), { recursive: true });
  copyFileSync(from.config.keyFile, to.config.keyFile);
  copyFileSync(from.config.keyFile.replace(/medface\.key$/, 'medface-audit.key'), to.config.keyFile.replace(/medface\.key$/, 'medface-audit.key'));
}

afterEach(async () => {
  for (const site of sites.splice(0)) await site.db.drop();
});

/** Alice and Bob registered, consenting and enrolled; returns their ids. */
async function enrolled(medface: Medface): Promise<{ alice: string; bob: string }> {
  const ids = { alice: '', bob: '' };
  for (const name of ['alice', 'bob'] as const) {
    ids[name] = await registerPatient(medface, PATIENTS[name], { images: [images[name]] }, who);
  }
  return ids;
}

const backupFile = () => path.join(mkdtempSync(path.join(kit.dir, 'out-')), 'medface.backup');
const lines = (file: string) => gunzipSync(readFileSync(file)).toString('utf8').split('\n').filter(Boolean);

describeEachStore('backup and restore', (h) => {
  it('copies a consistent snapshot while writes go on; restored with the key files, into either engine, the patients are identified and verified', async () => {
    const source = await newSite(h);
    const medface = await open(source);
    const file = backupFile();
    try {
      const { alice, bob } = await enrolled(medface);
      // a clinic at work during the backup: every registration commits with its audit entry, or not at all
      let writing = true;
      const writer = (async () => {
        let n = 0;
        while (writing) {
          await createPatientRecord(medface, { resourceType: 'Patient', name: [{ family: `Busy${n++}` }], birthDate: '1970-01-01' }, who);
          // SQLite answers synchronously: without a turn of the event loop this loop would starve the backup's file I/O
          await new Promise((resolve) => setImmediate(resolve));
        }
        return n;
      })();
      const summary = await backupStore(source.config, file, who);
      writing = false;
      await writer;

      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(summary.rows.templates).toBe(2);
      expect(summary.keyFilesNotIncluded.keyFile).toBe(source.config.keyFile);
      const text = lines(file).join('\n');
      expect(text).not.toContain(readFileSync(source.config.keyFile, 'utf8').trim());
      // the backup itself is in the trail, after its snapshot
      expect((await medface.audit.search(medface.store, { action: 'store.backup', limit: 10 })).length).toBe(1);

      for (const targetEngine of harnesses) {
        const target = await newSite(targetEngine);
        copyKeys(source, target);
        const restored = await restoreStore(target.config, file);
        expect(restored.audit).toMatchObject({ ok: true, count: summary.audit.entries, head: { hash: summary.audit.headHash } });
        expect(restored.keys).toEqual({ ok: true, templates: 2 });
        expect(restored.rows).toEqual(summary.rows);

        const copy = await open(target);
        try {
          // one snapshot: each registration in it has its audit entry, and no entry is there without its registration
          const created = await copy.audit.search(copy.store, { action: 'patient.create', limit: 1_000_000 });
          expect(created.length).toBe(restored.rows.patients);
          expect((await identify(copy, { image: images.alice }, who)).candidates[0]?.patientId).toBe(alice);
          expect(await verify(copy, { patientId: bob, image: images.bob }, who)).toMatchObject({ match: true });
          expect(await verify(copy, { patientId: alice, image: images.bob }, who)).toMatchObject({ match: false });
        } finally {
          await copy.close();
        }
      }
    } finally {
      await medface.close();
    }
  });

  it('without the key file, or with another deployment’s, the restored templates cannot be opened, and the backup holds no vector in clear', async () => {
    const source = await newSite(h);
    const medface = await open(source);
    const file = backupFile();
    let plaintexts: Buffer[];
    try {
      await enrolled(medface);
      await backupStore(source.config, file, who);
      plaintexts = [];
      for await (const t of medface.store.iterateTemplates()) {
        const { vector } = await medface.templates.open(indexedTemplate(t));
        plaintexts.push(Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength));
      }
    } finally {
      await medface.close();
    }
    for (const line of lines(file)) {
      const row = JSON.parse(line) as unknown;
      if (!Array.isArray(row)) continue;
      for (const value of row) {
        if (typeof value !== 'object' || value === null) continue;
        const bytes = Buffer.from((value as { b64: string }).b64, 'base64');
        for (const p of plaintexts) expect(bytes.indexOf(p.subarray(0, 64))).toBe(-1);
      }
    }

    const missing = await newSite(h);
    const withoutKeys = await restoreStore(missing.config, file);
    expect(withoutKeys.audit.ok).toBe(true);
    expect(withoutKeys.keys).toMatchObject({ ok: false, code: 'KEY_MISSING' });
    await expect(open(missing)).rejects.toMatchObject({ code: 'KEY_MISSING' });

    const other = await newSite(h);
    await (await open(other)).close(); // another deployment's freshly generated key files
    rmSync(path.join(path.dirname(other.config.keyFile), 'medface-audit.key'));
    copyFileSync(source.config.keyFile.replace(/medface\.key$/, 'medface-audit.key'), other.config.keyFile.replace(/medface\.key$/, 'medface-audit.key'));
    const wrongKey = await restoreStore(other.config, file, { force: true });
    expect(wrongKey.keys).toMatchObject({ ok: false, code: 'KEY_INVALID' });
    await expect(open(other)).rejects.toMatchObject({ code: 'KEY_INVALID' });
  });

  it('refuses a target holding anything unless forced, then replaces it whole; refuses a damaged or truncated backup and changes nothing', async () => {
    const source = await newSite(h);
    const medface = await open(source);
    const file = backupFile();
    try {
      await enrolled(medface);
      await backupStore(source.config, file, who);
    } finally {
      await medface.close();
    }

    const target = await newSite(h);
    copyKeys(source, target);
    const busy = await open(target);
    try {
      await createPatientRecord(busy, PATIENTS.carol, who);
    } finally {
      await busy.close();
    }
    await expect(restoreStore(target.config, file)).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await target.db.raw('SELECT id FROM patients')).toHaveLength(1);

    const tampered = path.join(path.dirname(file), 'tampered.backup');
    const original = lines(file);
    const auditRow = original.findIndex((l) => l.includes('"patient.create"'));
    writeFileSync(tampered, gzipSync(original.map((l, i) => (i === auditRow ? l.replace('"patient.create"', '"patient.read"') : l)).join('\n')));
    await expect(restoreStore(target.config, tampered, { force: true })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', details: { problem: 'altered' } });
    const truncated = path.join(path.dirname(file), 'truncated.backup');
    writeFileSync(truncated, gzipSync(original.slice(0, -1).join('\n')));
    await expect(restoreStore(target.config, truncated, { force: true })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    // both refusals rolled back: Carol is still the only patient
    expect(await target.db.raw('SELECT id FROM patients')).toHaveLength(1);

    const forced = await restoreStore(target.config, file, { force: true });
    expect(forced.audit.ok).toBe(true);
    expect(forced.keys).toEqual({ ok: true, templates: 2 });
    expect(await target.db.raw('SELECT id FROM patients')).toHaveLength(2);
  });
});

/** Runs the CLI as an operator would, on a SQLite data directory. */
function medfaceCli(dataDir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', ...args],
      { cwd: path.resolve(import.meta.dirname, '../..'), env: { ...process.env, MEDFACE_DATA_DIR: dataDir, DATABASE_URL: '', MEDFACE_KEY_FILE: '' } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

it('medface backup and medface restore --json: the key files named as not included; a second restore refused; exit 3 without the keys', async () => {
  const source = path.join(mkdtempSync(path.join(kit.dir, 'cli-')), 'data');
  const medface = await openMedface({ dataDir: source, databaseUrl: undefined, keyFile: undefined }, { thresholdsFile: kit.thresholdsFile, faces: kit.faces });
  try {
    await enrolled(medface);
  } finally {
    await medface.close();
  }
  const file = backupFile();
  const backup = await medfaceCli(source, 'backup', file, '--json');
  expect(backup.code).toBe(0);
  expect(JSON.parse(backup.stdout)).toMatchObject({ rows: { templates: 2 }, keyFilesNotIncluded: { keyFile: path.join(source, 'medface.key') } });
  expect(backup.stderr).toMatch(/KEY FILES ARE NOT IN THIS BACKUP/);

  const target = path.join(mkdtempSync(path.join(kit.dir, 'cli-')), 'data');
  mkdirSync(target, { recursive: true, mode: 0o700 });
  for (const key of ['medface.key', 'medface-audit.key']) copyFileSync(path.join(source, key), path.join(target, key));
  const restore = await medfaceCli(target, 'restore', file, '--json');
  expect(restore.code).toBe(0);
  expect(JSON.parse(restore.stdout)).toMatchObject({ audit: { ok: true }, keys: { ok: true, templates: 2 } });
  const again = await medfaceCli(target, 'restore', file, '--json');
  expect(again.code).toBe(1);
  expect(JSON.parse(again.stdout)).toMatchObject({ error: { code: 'CONFLICT' } });

  const keyless = path.join(mkdtempSync(path.join(kit.dir, 'cli-')), 'data');
  const withoutKeys = await medfaceCli(keyless, 'restore', file);
  expect(withoutKeys.code).toBe(3);
  expect(withoutKeys.stdout).toMatch(/KEY_MISSING/);
});
