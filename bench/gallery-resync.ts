/**
 * What a node's full gallery resync costs (after its listening connection came back, see docs/scaling.md):
 * comparing every template id of the store with the gallery's, then reloading the patients that differ.
 *
 *   DATABASE_URL=postgres://… npx tsx bench/gallery-resync.ts [--templates 100000] [--changed 100]
 *
 * Works in a schema of its own (created and dropped); without DATABASE_URL it runs on SQLite in a temporary
 * directory. Templates are random unit vectors sealed by the real template protection, two per patient,
 * written through the repository in batches; the gallery is kept exact (no graph) since its build is not
 * what is measured. Measured: a resync that finds nothing to do, and one after another process added and
 * deleted `--changed` patients' templates behind the node's back.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startMedface, type Medface } from '../src/services/context.js';
import { templateColumns } from '../src/services/biometrics/templates.js';
import { openStore } from '../src/store/index.js';
import type { NewTemplate } from '../src/store/types.js';

const MODEL = 'resync-bench@1';
const PER_PATIENT = 2;
const BATCH = 1000;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

function unitVector(): Float32Array {
  const bytes = randomBytes(128 * 2);
  const v = new Float32Array(128).map((_, i) => bytes.readInt16LE(2 * i) / 32768);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

/** `count` patients with PER_PATIENT templates each, written directly (no consent or audit: not what is measured). */
async function addPatients(medface: Medface, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < count; start += BATCH / PER_PATIENT) {
    const rows: { patientId: string; templates: NewTemplate[] }[] = [];
    for (let i = start; i < Math.min(count, start + BATCH / PER_PATIENT); i++) {
      const patientId = randomUUID();
      const templates: NewTemplate[] = [];
      for (let t = 0; t < PER_PATIENT; t++) {
        const sealed = medface.templates.protection.protect({ model: MODEL, vector: unitVector() }, patientId);
        templates.push({ patientId, ...templateColumns(sealed, null), source: 'enrol' });
      }
      rows.push({ patientId, templates });
    }
    const now = new Date().toISOString();
    await medface.store.transaction(async (tx) => {
      for (const { patientId, templates } of rows) {
        await tx.insertPatient(
          { id: patientId, versionId: 1, lastUpdated: now, resource: { resourceType: 'Patient', id: patientId } },
          { nameTokens: [], sortName: '', birthDate: null, gender: null, identifiers: [] },
        );
        for (const t of templates) await tx.insertTemplate(t);
      }
    });
    ids.push(...rows.map((r) => r.patientId));
  }
  return ids;
}

async function timed(what: string, fn: () => Promise<unknown>): Promise<void> {
  const start = performance.now();
  await fn();
  console.log(`${what}: ${(performance.now() - start).toFixed(0)} ms`);
}

const templates = arg('templates', 100_000);
const changed = arg('changed', 100);
const baseUrl = process.env.DATABASE_URL;
const dir = mkdtempSync(path.join(tmpdir(), 'medface-resync-bench-'));
const schema = `medface_resync_bench_${randomBytes(4).toString('hex')}`;
let databaseUrl: string | undefined;
if (baseUrl) {
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  databaseUrl = url.toString();
}
console.log(`engine ${baseUrl ? 'postgres' : 'sqlite'}, ${templates} templates (${PER_PATIENT} per patient), ${cpus().length} × ${cpus()[0]?.model}, load ${loadavg()[0]!.toFixed(1)}`);
const open = async () => startMedface(await openStore({ dataDir: dir, databaseUrl }), { keyFile: path.join(dir, 'medface.key'), gallery: { exactBelow: Number.MAX_SAFE_INTEGER } });
const writer = await open();
try {
  await timed('seed', () => addPatients(writer, templates / PER_PATIENT));
  const node = await open();
  try {
    console.log(`node gallery: ${node.templates.gallery.size} templates`);
    await timed('resync, nothing changed', () => node.templates.resync());
    const gone = (await writer.store.listTemplateRefsPage(null, changed)).map((r) => r.patientId);
    await addPatients(writer, changed);
    for (const patientId of new Set(gone)) await writer.store.deleteTemplatesOfPatient(patientId);
    await timed(`resync, ${changed} patients added and ${new Set(gone).size} emptied meanwhile`, () => node.templates.resync());
    console.log(`node gallery: ${node.templates.gallery.size} templates, store: ${await node.store.countTemplates()}`);
  } finally {
    await node.close();
  }
} finally {
  await writer.close();
  if (baseUrl) {
    const admin = new pg.Client({ connectionString: baseUrl });
    await admin.connect();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
  rmSync(dir, { recursive: true, force: true });
}
