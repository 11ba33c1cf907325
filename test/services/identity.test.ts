import { afterEach, beforeEach, expect, it } from 'vitest';
import { verifyChain } from '../../src/audit/trail.js';
import type { Patient } from '../../src/records/fhir.js';
import type { Actor } from '../../src/services/auditing.js';
import { grantConsent, withdrawConsent } from '../../src/services/patients/consent.js';
import { startMedface, type Medface, type MedfaceOptions } from '../../src/services/context.js';
import { enrol } from '../../src/services/biometrics/enrol.js';
import { erase } from '../../src/services/patients/erase.js';
import { identify } from '../../src/services/biometrics/identify.js';
import { createPatientRecord, readPatientRecord } from '../../src/services/patients/patients.js';
import { verify } from '../../src/services/biometrics/verify.js';
import { describeEachStore, type TestDatabase } from '../store/harness.js';
import { faceTestKit, PATIENTS } from './fixtures.js';

const who: Actor = { actor: 'nurse-1', client: 'desk-3' };

const kit = faceTestKit('identity');
const { images } = kit;

describeEachStore('identity use cases', (h) => {
  let db: TestDatabase;
  let keyFile: string;
  const opened: Medface[] = [];

  /**
   * Another medface process on the same database and key file (a CLI beside the server). better-sqlite3 is
   * synchronous, so two SQLite connections in one process cannot wait for each other's locks: on SQLite the
   * parallel tests run through one store (as a server does), on PostgreSQL through two connection pools.
   */
  const second = (first: Medface, options: Partial<MedfaceOptions> = {}): Promise<Medface> => (h.name === 'postgres' ? start(options) : Promise.resolve(first));

  /** Starts medface on the test database and key file. */
  const start = async (options: Partial<MedfaceOptions> = {}): Promise<Medface> => {
    const medface = await startMedface(await db.open(), { keyFile, thresholdsFile: kit.thresholdsFile, faces: kit.faces, ...options });
    opened.push(medface);
    return medface;
  };

  let medface: Medface;
  const newPatient = async (input: object, consent = true): Promise<string> => {
    const id = (await createPatientRecord(medface, input, who)).id!;
    if (consent) await grantConsent(medface, { patientId: id, notice: 'v2' }, who);
    return id;
  };
  const auditOf = (patientId: string | undefined, action?: string) =>
    medface.audit.search(medface.store, { ...(patientId !== undefined && { patientId }), ...(action !== undefined && { action }), limit: 1000 });

  beforeEach(async () => {
    db = await h.create();
    keyFile = kit.newKeyFile();
    medface = await start();
  });

  afterEach(async () => {
    for (const m of opened.splice(0)) await m.close();
    await db.drop();
  });

  it('generates the key file on first run with a backup notice, and not again', async () => {
    expect(medface.settings.notice).toMatch(/Back it up/);
    expect(medface.settings.notice).toContain(keyFile);
    expect((await start()).settings.notice).toBeUndefined();
  });

  it('refuses to enrol without an active consent, stores nothing, and audits the refusal', async () => {
    const alice = await newPatient(PATIENTS.alice, false);
    await expect(enrol(medface, { patientId: alice, images: [images.alice] }, who)).rejects.toMatchObject({ code: 'CONSENT_REQUIRED' });
    expect(await medface.store.countTemplates(alice)).toBe(0);
    const [entry] = await auditOf(alice, 'biometric.enrol');
    expect(entry).toMatchObject({ outcome: 'denied', actor: 'nurse-1', client: 'desk-3', details: { code: 'CONSENT_REQUIRED' } });
  });

  it('refuses a capture without a single usable face and audits the quality failure', async () => {
    const alice = await newPatient(PATIENTS.alice);
    await expect(enrol(medface, { patientId: alice, images: [images.group] }, who)).rejects.toMatchObject({
      code: expect.stringMatching(/^(MULTIPLE_FACES|QUALITY_REJECTED)$/),
    });
    const [entry] = await auditOf(alice, 'biometric.enrol');
    expect(entry?.outcome).toBe('failure');
    expect((entry?.details.reasons as string[]).length).toBeGreaterThan(0);
    expect(await medface.store.countTemplates(alice)).toBe(0);
  });

  it('verifies the right patient, refuses the wrong one, and identifies without naming strangers', async () => {
    const alice = await newPatient(PATIENTS.alice);
    const bob = await newPatient(PATIENTS.bob);
    const enrolled = await enrol(medface, { patientId: alice, images: [images.alice] }, who);
    expect(enrolled).toMatchObject({ templateCount: 1, limit: 5, duplicates: [], photosKept: 0 });
    await enrol(medface, { patientId: bob, images: [images.bob] }, who);
    expect(medface.templates.gallery.size).toBe(2);

    const right = await verify(medface, { patientId: alice, image: images.aliceAgain }, who);
    expect(right).toMatchObject({ match: true, refreshed: false });
    expect(right.score).toBeGreaterThanOrEqual(kit.thresholds.match);
    const wrong = await verify(medface, { patientId: bob, image: images.aliceAgain }, who);
    expect(wrong.match).toBe(false);
    expect(wrong.score).toBeLessThan(kit.thresholds.match);

    const found = await identify(medface, { image: images.aliceAgain, top: 5 }, who);
    expect(found.match).toBe(true);
    expect(found.candidates.map((c) => c.patientId)).toEqual([alice]);
    expect(found.candidates[0]!.score).toBeCloseTo(right.score, 4);

    const nobody = await identify(medface, { image: images.stranger, top: 5 }, who);
    expect(nobody).toMatchObject({ match: false, candidates: [] });
    // the stranger does have a nearest patient; it is just never reported
    expect(medface.templates.gallery.search(medface.templates.protection.transformProbe((await kit.faces.embeddingOf(images.stranger, 'identify')).embedding), 1)).toHaveLength(1);

    const verifies = await auditOf(alice, 'biometric.verify');
    expect(verifies.map((e) => e.details.match)).toEqual([true]);
    expect((await auditOf(bob, 'biometric.verify')).map((e) => e.outcome)).toEqual(['failure']);
    const identifies = await auditOf(undefined, 'biometric.identify');
    expect(identifies.map((e) => e.outcome)).toEqual(['success', 'failure']);
    expect(identifies[0]!.patientRef).toBe(medface.audit.patientRef(alice));
    expect(JSON.stringify(identifies)).not.toContain(alice);
  });

  it('opens every stored template into the gallery at start', async () => {
    const alice = await newPatient(PATIENTS.alice);
    await enrol(medface, { patientId: alice, images: [images.alice] }, who);
    const again = await start();
    expect(again.templates.gallery.size).toBe(1);
    expect((await identify(again, { image: images.aliceAgain }, who)).candidates.map((c) => c.patientId)).toEqual([alice]);
  });

  it('suspects a duplicate when one face is registered as two patients, records the link, and accepts an audited override', async () => {
    const alice = await newPatient(PATIENTS.alice);
    await enrol(medface, { patientId: alice, images: [images.alice] }, who);
    const twin = await newPatient(PATIENTS.alice2);

    const refusal = await enrol(medface, { patientId: twin, images: [images.aliceAgain] }, who).catch((e: unknown) => e);
    expect(refusal).toMatchObject({ code: 'DUPLICATE_SUSPECTED' });
    const [candidate] = (refusal as { details: { candidates: { patientId: string; grade: string; linkId: string; status: string }[] } }).details.candidates;
    expect(candidate).toMatchObject({ patientId: alice, status: 'pending' });
    expect(['certain', 'probable']).toContain(candidate!.grade);
    expect(await medface.store.countTemplates(twin)).toBe(0);
    const [link] = await medface.store.listPatientLinks({ patientId: twin });
    expect(link).toMatchObject({ id: candidate!.linkId, status: 'pending', otherPatientId: alice, createdBy: 'nurse-1' });
    const twinRecord: Patient = await readPatientRecord(medface, twin, who);
    expect(twinRecord.link).toEqual([{ other: { reference: `Patient/${alice}` }, type: 'seealso' }]);
    const [denied] = await auditOf(twin, 'biometric.enrol');
    expect(denied).toMatchObject({ outcome: 'denied', details: { code: 'DUPLICATE_SUSPECTED' } });

    await expect(enrol(medface, { patientId: twin, images: [images.aliceAgain], overrideDuplicate: ' ' }, who)).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    const stored = await enrol(medface, { patientId: twin, images: [images.aliceAgain], overrideDuplicate: 'twins, ID cards checked' }, who);
    expect(stored.duplicates).toMatchObject([{ patientId: alice, linkId: candidate!.linkId, status: 'overridden' }]);
    expect(await medface.store.countTemplates(twin)).toBe(1);
    expect(await medface.store.getPatientLink(candidate!.linkId)).toMatchObject({ status: 'overridden', reason: 'twins, ID cards checked' });
    const overridden = (await auditOf(twin, 'biometric.enrol')).at(-1)!;
    expect(overridden).toMatchObject({ outcome: 'success', details: { override: true } });
    expect(overridden.details.candidates).toMatchObject([{ patientRef: medface.audit.patientRef(alice), linkId: candidate!.linkId }]);
  });

  it('withdrawal deletes the templates and photos from the store and the gallery, audited', async () => {
    const alice = await newPatient(PATIENTS.alice);
    const bob = await newPatient(PATIENTS.bob);
    await enrol(medface, { patientId: alice, images: [images.alice, images.aliceAgain], keepPhoto: true }, who);
    await enrol(medface, { patientId: bob, images: [images.bob] }, who);
    expect((await medface.store.listPhotos(alice)).map((p) => p.mediaType)).toEqual(['image/jpeg', 'image/jpeg']);

    const withdrawal = await withdrawConsent(medface, alice, who);
    expect(withdrawal).toMatchObject({ templatesRemoved: 2, photosRemoved: 2, consent: { status: 'inactive' } });
    expect(await medface.store.countTemplates(alice)).toBe(0);
    expect(await medface.store.listPhotos(alice)).toEqual([]);
    expect(medface.templates.gallery.size).toBe(1);
    expect(await identify(medface, { image: images.aliceAgain }, who)).toMatchObject({ match: false, candidates: [] });
    expect((await auditOf(alice, 'consent.withdraw'))[0]).toMatchObject({ outcome: 'success', details: { templatesRemoved: 2, photosRemoved: 2 } });
    // and nothing new may be stored until consent is given again
    await expect(enrol(medface, { patientId: alice, images: [images.alice] }, who)).rejects.toMatchObject({ code: 'CONSENT_REQUIRED' });
    expect(await db.raw('SELECT id FROM templates WHERE patient_id = ?', [alice])).toEqual([]);
    expect(await db.raw('SELECT id FROM photos WHERE patient_id = ?', [alice])).toEqual([]);
  });

  it('never reports a patient whose templates another process deleted meanwhile', async () => {
    const alice = await newPatient(PATIENTS.alice);
    await enrol(medface, { patientId: alice, images: [images.alice] }, who);
    const server = await start();
    expect(server.templates.gallery.size).toBe(1);
    await withdrawConsent(medface, alice, who);

    // the server's gallery still holds the template; the store no longer does
    expect(server.templates.gallery.size).toBe(1);
    expect(await identify(server, { image: images.aliceAgain }, who)).toMatchObject({ match: false, candidates: [] });
    expect(server.templates.gallery.size).toBe(0);
    const twin = await newPatient(PATIENTS.alice2);
    expect((await enrol(server, { patientId: twin, images: [images.aliceAgain] }, who)).duplicates).toEqual([]);
  });

  it('erasure removes all biometric data and leaves only pseudonymous audit entries in an intact chain', async () => {
    const alice = await newPatient(PATIENTS.alice);
    await enrol(medface, { patientId: alice, images: [images.alice], keepPhoto: true }, who);
    await verify(medface, { patientId: alice, image: images.aliceAgain }, who);

    expect(await erase(medface, alice, who)).toEqual({ patientId: alice, templatesRemoved: 1, photosRemoved: 1, consentWithdrawn: true });
    expect(await medface.store.countTemplates(alice)).toBe(0);
    expect(await medface.store.listPhotos(alice)).toEqual([]);
    expect(medface.templates.gallery.size).toBe(0);
    expect(await medface.store.getActiveConsent(alice, 'biometric-identification')).toBeNull();
    // the medical record itself is not biometric data and stays
    expect((await readPatientRecord(medface, alice, who)).id).toBe(alice);

    const rows = await db.raw<Record<string, unknown>>('SELECT * FROM audit_events');
    expect(rows.length).toBeGreaterThan(0);
    expect(JSON.stringify(rows)).not.toContain(alice);
    const trail = await auditOf(alice);
    expect(trail.map((e) => e.action)).toContain('biometric.erase');
    expect(trail.every((e) => e.patientRef === medface.audit.patientRef(alice))).toBe(true);
    expect(await verifyChain(medface.store)).toMatchObject({ ok: true });
  });

  it('never stores more than the limit when one patient is enrolled in parallel from two processes', async () => {
    const first = await start({ maxTemplatesPerPatient: 2 });
    const other = await second(first, { maxTemplatesPerPatient: 2 });
    medface = first;
    const alice = await newPatient(PATIENTS.alice);
    const captures = [images.alice, images.aliceAgain, images.alice, images.aliceAgain, images.alice, images.aliceAgain];
    const results = await Promise.allSettled(captures.map((image, i) => enrol(i % 2 ? other : first, { patientId: alice, images: [image] }, who)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'TEMPLATE_LIMIT' });
    expect(await first.store.countTemplates(alice)).toBe(2);
    // each process's gallery holds what that process stored
    expect([...new Set([first, other])].reduce((n, m) => n + m.templates.gallery.size, 0)).toBe(2);
    expect(await verifyChain(first.store)).toMatchObject({ ok: true });
  });

  it('stores every enrolment when different patients are enrolled in parallel', async () => {
    const other = await second(medface);
    const people = [
      [await newPatient(PATIENTS.alice), images.alice],
      [await newPatient(PATIENTS.bob), images.bob],
      [await newPatient(PATIENTS.carol), images.carol],
    ] as const;
    const results = await Promise.all(people.map(([id, image], i) => enrol(i % 2 ? other : medface, { patientId: id, images: [image] }, who)));
    expect(results.map((r) => r.templateCount)).toEqual([1, 1, 1]);
    expect(await medface.store.countTemplates()).toBe(3);
    expect((await auditOf(undefined, 'biometric.enrol')).map((e) => e.outcome)).toEqual(['success', 'success', 'success']);
  });

  it('refuses enrolment beyond the limit, or replaces the oldest when asked', async () => {
    const limited = await start({ maxTemplatesPerPatient: 2 });
    medface = limited;
    const alice = await newPatient(PATIENTS.alice);
    await enrol(limited, { patientId: alice, images: [images.alice, images.aliceAgain] }, who);
    const [oldest] = await limited.store.listTemplates(alice); // oldest first (one enrolment's templates: by id)
    await expect(enrol(limited, { patientId: alice, images: [images.alice] }, who)).rejects.toMatchObject({
      code: 'TEMPLATE_LIMIT',
      details: { limit: 2, stored: 2 },
    });
    const replaced = await enrol(limited, { patientId: alice, images: [images.alice], replaceOldest: true }, who);
    expect(replaced).toMatchObject({ replaced: [oldest!.id], templateCount: 2 });
    expect((await limited.store.listTemplates(alice)).map((t) => t.id)).not.toContain(oldest!.id);
    expect(limited.templates.gallery.size).toBe(2);
  });

  it('refreshes the templates after a certain verification only, bounded, and audits each refresh', async () => {
    const ageing = await start({ maxTemplatesPerPatient: 2, refreshAfterDays: 0 });
    medface = ageing;
    const alice = await newPatient(PATIENTS.alice);
    const bob = await newPatient(PATIENTS.bob);
    await enrol(ageing, { patientId: bob, images: [images.bob] }, who);
    const [first] = (await enrol(ageing, { patientId: alice, images: [images.alice] }, who)).templates;

    // a failed verification never feeds the template set
    expect(await verify(ageing, { patientId: bob, image: images.aliceAgain }, who)).toMatchObject({ match: false, refreshed: false });
    expect(await ageing.store.countTemplates(bob)).toBe(1);

    const strong = await verify(ageing, { patientId: alice, image: images.aliceAgain }, who);
    expect(strong.score).toBeGreaterThanOrEqual(kit.thresholds.grades.certain.minScore);
    expect(strong).toMatchObject({ match: true, grade: 'certain', refreshed: true });
    const again = await verify(ageing, { patientId: alice, image: images.aliceAgain }, who);
    expect(again.refreshed).toBe(true);
    const templates = await ageing.store.listTemplates(alice);
    expect(templates).toHaveLength(2);
    expect(templates.map((t) => t.source)).toEqual(['refresh', 'refresh']);
    expect(templates.map((t) => t.id)).not.toContain(first!.id);
    expect(ageing.templates.gallery.size).toBe(3);
    const refreshes = await auditOf(alice, 'biometric.template-refresh');
    expect(refreshes.map((e) => e.details)).toMatchObject([
      { grade: 'certain', replaced: 0 },
      { grade: 'certain', replaced: 1 },
    ]);

    // with the default interval, a recent template set is left as it is
    const patient = await start();
    expect(await verify(patient, { patientId: alice, image: images.aliceAgain }, who)).toMatchObject({ match: true, refreshed: false });
  });
});
