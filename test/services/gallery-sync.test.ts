import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { QualityReport } from '../../src/face/quality.js';
import type { Actor } from '../../src/services/auditing.js';
import { grantConsent } from '../../src/services/patients/consent.js';
import { startMedface, type Medface } from '../../src/services/context.js';
import { erase } from '../../src/services/patients/erase.js';
import { GallerySync } from '../../src/services/operations/gallery-sync.js';
import { renewTemplateTransform, rotateKeyEncryptionKey } from '../../src/services/operations/keys.js';
import { createPatientRecord } from '../../src/services/patients/patients.js';
import { storeTemplates, syncGallery, type TemplateToStore } from '../../src/services/biometrics/templates.js';
import { describeEachStore, type TestDatabase } from '../store/harness.js';

/**
 * Two processes on one database, each with its own in-memory gallery: on PostgreSQL two nodes (LISTEN/NOTIFY),
 * on SQLite a server and a CLI command writing the same file (data_version polled every second). Templates are
 * synthetic unit vectors sealed by the real template protection and stored by the real template write path;
 * the face engine is not what is tested here.
 */

const who: Actor = { actor: 'sync-test', client: 'test' };
const MODEL = 'sync-test@1';
const QUALITY: QualityReport = { passed: true, reasons: [], metrics: {} as QualityReport['metrics'] };

function randomVector(): Float32Array {
  const v = new Float32Array(128);
  let norm = 0;
  for (let i = 0; i < v.length; i++) {
    v[i] = randomBytes(2).readInt16LE() / 32768;
    norm += v[i]! * v[i]!;
  }
  for (let i = 0; i < v.length; i++) v[i]! /= Math.sqrt(norm);
  return v;
}

/** What `enrol` does once the faces are embedded: seal, store with consent checked, audit, then this gallery. */
async function enrolVectors(medface: Medface, patientId: string, vectors: Float32Array[], replaceOldest = false): Promise<string[]> {
  const items: TemplateToStore[] = [];
  for (const vector of vectors) items.push({ sealed: await medface.templates.seal({ model: MODEL, vector }, patientId), quality: QUALITY });
  return medface.templates.exclusive(patientId, async () => {
    const change = await medface.store.transaction(async (tx) => {
      const stored = await storeTemplates(tx, patientId, items, { source: 'enrol', limit: medface.settings.maxTemplatesPerPatient, replaceOldest });
      await medface.audit.append(tx, { ...who, action: 'biometric.enrol', outcome: 'success', patientId, details: { templates: items.length } });
      return stored;
    });
    await syncGallery(medface, change);
    return change.inserted.map((t) => t.id);
  });
}

async function newPatient(medface: Medface, family: string): Promise<string> {
  const id = (await createPatientRecord(medface, { resourceType: 'Patient', name: [{ family, given: ['Test'] }], birthDate: '1980-01-01' }, who)).id!;
  await grantConsent(medface, { patientId: id, notice: 'v1' }, who);
  return id;
}

/** Milliseconds until `condition` holds, polled every 5 ms; fails after `limitMs`. */
async function msUntil(condition: () => boolean, limitMs: number, what: string): Promise<number> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > limitMs) throw new Error(`${what}: not within ${limitMs} ms`);
    await sleep(5);
  }
  return performance.now() - start;
}

const sorted = (ids: readonly string[]) => [...ids].sort();

describeEachStore('gallery sync between processes', (h) => {
  // PostgreSQL nodes hear of a commit at once; a SQLite server notices another process's write at its next poll (1 s)
  const bound = h.name === 'postgres' ? 1000 : 2500;
  let db: TestDatabase;
  let dir: string;
  let a: Medface;
  let b: Medface;
  let syncs: GallerySync[];

  beforeEach(async () => {
    db = await h.create();
    dir = mkdtempSync(path.join(tmpdir(), 'medface-sync-'));
    const keyFile = path.join(dir, 'medface.key');
    a = await startMedface(await db.open(), { keyFile, maxTemplatesPerPatient: 2 });
    b = await startMedface(await db.open(), { keyFile, maxTemplatesPerPatient: 2 });
    syncs = [GallerySync.start(a), GallerySync.start(b)];
    await Promise.all(syncs.map((s) => s.whenStarted()));
  });

  afterEach(async () => {
    for (const s of syncs) await s.close();
    await a?.close();
    await b?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`a template enrolled on one is in the other's gallery within ${bound} ms, and found there`, async () => {
    const patientId = await newPatient(a, 'Enrolled');
    const vector = randomVector();
    const ids = await enrolVectors(a, patientId, [vector]);
    const ms = await msUntil(() => b.templates.gallery.templatesOf(patientId).length === 1, bound, 'enrolment reaching the other gallery');
    expect(sorted(b.templates.gallery.templatesOf(patientId))).toEqual(ids);
    const [hit] = b.templates.gallery.search(b.templates.protection.transformProbe({ model: MODEL, vector }), 1);
    expect(hit).toMatchObject({ patientId, templateId: ids[0] });
    expect(hit!.score).toBeGreaterThan(0.999);
    console.info(`[${h.name}] enrolment seen by the other process after ${ms.toFixed(0)} ms`);
  });

  it(`an erasure on the other is reflected within ${bound} ms`, async () => {
    const patientId = await newPatient(a, 'Erased');
    await enrolVectors(a, patientId, [randomVector(), randomVector()]);
    await msUntil(() => b.templates.gallery.templatesOf(patientId).length === 2, bound, 'enrolment reaching the other gallery');
    await erase(b, patientId, who);
    expect(b.templates.gallery.templatesOf(patientId)).toEqual([]);
    const ms = await msUntil(() => a.templates.gallery.templatesOf(patientId).length === 0, bound, 'erasure reaching the first gallery');
    expect(a.templates.gallery.size).toBe(0);
    console.info(`[${h.name}] erasure seen by the other process after ${ms.toFixed(0)} ms`);
  });

  it('a template replaced at the limit (a refresh) leaves the other gallery holding exactly the stored set', async () => {
    const patientId = await newPatient(a, 'Refreshed');
    await enrolVectors(a, patientId, [randomVector(), randomVector()]);
    await msUntil(() => b.templates.gallery.templatesOf(patientId).length === 2, bound, 'enrolment reaching the other gallery');
    const [fresh] = await enrolVectors(b, patientId, [randomVector()], true);
    const stored = sorted((await a.store.listTemplates(patientId)).map((t) => t.id));
    expect(stored).toContain(fresh);
    await msUntil(() => sorted(a.templates.gallery.templatesOf(patientId)).join() === stored.join(), bound, 'replacement reaching the first gallery');
  });

  it('a key rotation and a transform renewal run on one are picked up by the other, which keeps finding the patient', async () => {
    const patientId = await newPatient(a, 'Rotated');
    const vector = randomVector();
    await enrolVectors(a, patientId, [vector]);
    await msUntil(() => b.templates.gallery.templatesOf(patientId).length === 1, bound, 'enrolment reaching the other gallery');

    const rotated = await rotateKeyEncryptionKey(a, who);
    await msUntil(() => b.templates.keys.currentKekId === rotated.current, bound, 'the new key ring reaching the other process');

    const renewed = await renewTemplateTransform(a, who);
    await msUntil(() => b.templates.keys.currentTransformId === renewed.current, bound, 'the new transform reaching the other process');
    // the other gallery was rebuilt in the new space: a probe transformed there finds the patient
    await msUntil(() => b.templates.gallery.search(b.templates.protection.transformProbe({ model: MODEL, vector }), 1)[0]?.patientId === patientId, bound, 'search in the new space');
    expect(b.templates.gallery.search(b.templates.protection.transformProbe({ model: MODEL, vector }), 1)[0]!.score).toBeGreaterThan(0.999);
  });

  it('a process that was not listening catches up when it starts listening again (full comparison)', async () => {
    const kept = await newPatient(a, 'Kept');
    const gone = await newPatient(a, 'Gone');
    await enrolVectors(a, gone, [randomVector()]);
    await msUntil(() => b.templates.gallery.templatesOf(gone).length === 1, bound, 'enrolment reaching the other gallery');
    await syncs[1]!.close();
    // committed while b hears nothing
    const ids = await enrolVectors(a, kept, [randomVector(), randomVector()]);
    await erase(a, gone, who);
    await sleep(bound);
    expect(b.templates.gallery.templatesOf(kept)).toEqual([]);
    expect(b.templates.gallery.templatesOf(gone)).toHaveLength(1);
    syncs[1] = GallerySync.start(b);
    await syncs[1].whenStarted();
    expect(sorted(b.templates.gallery.templatesOf(kept))).toEqual(sorted(ids));
    expect(b.templates.gallery.templatesOf(gone)).toEqual([]);
    expect(b.templates.gallery.size).toBe(2);
  });
});
