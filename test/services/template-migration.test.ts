import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { DLIB_EMBEDDER_ID } from '../../src/face/embedders/dlib.js';
import { MOBILEFACENET_EMBEDDER_ID } from '../../src/face/embedders/mobilefacenet.js';
import { signInWithFace } from '../../src/access/authenticate.js';
import { createUser } from '../../src/access/users.js';
import { FacePool, type Purpose } from '../../src/face/index.js';
import { randomChallengeActions, type CapturedFrame } from '../../src/liveness/types.js';
import { similarity } from '../../src/identity/match.js';
import { thresholdsFor, writeModelThresholds, type ModelThresholds } from '../../src/identity/thresholds.js';
import type { Actor } from '../../src/services/auditing.js';
import { grantConsent } from '../../src/services/patients/consent.js';
import { accessContext } from '../../src/services/access.js';
import { checkIn } from '../../src/services/visits/check-in.js';
import { startMedface, type Medface } from '../../src/services/context.js';
import type { FaceEmbedder } from '../../src/services/faces.js';
import { issueChallenge } from '../../src/services/biometrics/liveness.js';
import { signInPatientWithFace } from '../../src/services/visits/patient-sign-in.js';
import { enrolOwnFace, staffFaceVerifier } from '../../src/services/biometrics/staff-face.js';
import { verify } from '../../src/services/biometrics/verify.js';
import { enrol } from '../../src/services/biometrics/enrol.js';
import { identify } from '../../src/services/biometrics/identify.js';
import { createPatientRecord } from '../../src/services/patients/patients.js';
import { migrateTemplates, olderTemplatesNotice, templateStatus } from '../../src/services/operations/template-migration.js';
import { describeEachStore, type TestDatabase } from '../store/harness.js';
import { demoFaces, PATIENTS, rememberingPool, type Faces } from './fixtures.js';
import { genuineFrames } from './liveness-sequences.js';

/**
 * A clinic changes its recogniser: patients were enrolled with the old model (one with the photo kept, one
 * without), the deployment now runs the new one. Real models on both sides: dlib's ResNet as the old, and
 * MobileFaceNet as the new (whatever the release's default is).
 */

const OLD = DLIB_EMBEDDER_ID;
const NEW = MOBILEFACENET_EMBEDDER_ID;
const who: Actor = { actor: 'admin-1', client: 'test' };

let pools: FacePool[];
let oldFaces: ReturnType<typeof rememberingPool>;
let newFaces: ReturnType<typeof rememberingPool>;
let images: Faces;
let dir: string;
let thresholdsFile: string;
/** Alice's second photo performing the challenges of a deployment whose actions come from FIXED_RANDOM. */
let aliceLive: CapturedFrame[];
const FIXED_RANDOM = (): number => 0;

/**
 * Thresholds for one model from its own scores on the test faces: the operating threshold half-way between
 * the highest impostor score and the lowest genuine one (which must be above it), the grades around it.
 */
async function writeThresholdsFromScores(model: string, faces: ReturnType<typeof rememberingPool>): Promise<void> {
  const embed = async (bytes: Buffer, purpose: Purpose) => (await faces.embeddingOf(bytes, purpose)).embedding;
  const enrolled = { alice: await embed(images.alice, 'enrol'), bob: await embed(images.bob, 'enrol'), carol: await embed(images.carol, 'enrol') };
  const probes = { alice: await embed(images.aliceAgain, 'identify'), bob: await embed(images.bob, 'identify'), stranger: await embed(images.stranger, 'identify') };
  const genuine = Math.min(similarity(enrolled.alice, probes.alice), similarity(enrolled.bob, probes.bob));
  const impostor = Math.max(
    ...Object.entries(enrolled).flatMap(([name, e]) =>
      Object.entries(probes)
        .filter(([other]) => other !== name)
        .map(([, p]) => similarity(e, p)),
    ),
  );
  expect(genuine).toBeGreaterThan(impostor);
  const gap = genuine - impostor;
  const match = impostor + gap / 2;
  const entry: ModelThresholds = {
    match,
    fmr: 0.001,
    thresholdsAtFmr: { '0.01': match - gap / 4, '0.001': match, '0.0001': match + gap / 4 },
    grades: {
      certain: { minScore: match + gap / 4, fmr: 0.0001 },
      probable: { minScore: match, fmr: 0.001 },
      possible: { minScore: match - gap / 4, fmr: 0.01 },
    },
    // 1:N as the shared fixture has it: the impostor tail at the same points, so a gallery of a few patients
    // keeps its operating threshold between the impostor and the genuine scores
    identification: {
      fpir: 0.001,
      grades: { certain: { fpir: 0.0001 }, probable: { fpir: 0.001 }, possible: { fpir: 0.01 } },
      impostorTail: {
        pairs: 1_000_000,
        scoresAtFmr: { '0.01': match - gap / 4, '0.001': match, '0.0001': match + gap / 4 },
        exponential: { from: match, fmr: 0.001, scale: gap / 4 / Math.LN10, exceedances: 1000 },
      },
    },
    calibration: {
      sets: ['test-faces'],
      impostorPairs: 0,
      genuinePairs: 0,
      failuresToAcquire: 0,
      date: '2026-01-01T00:00:00.000Z',
      command: 'test/services/template-migration.test.ts',
      minFalseMatches: 0,
      tarAtFmr: {},
    },
  };
  writeModelThresholds(model, entry, thresholdsFile);
}

beforeAll(async () => {
  pools = [await FacePool.create({ size: 1, embedderId: OLD }), await FacePool.create({ size: 1, embedderId: NEW })];
  oldFaces = rememberingPool(pools[0]!);
  newFaces = rememberingPool(pools[1]!);
  images = await demoFaces(pools[0]!);
  dir = mkdtempSync(path.join(tmpdir(), 'medface-migration-'));
  thresholdsFile = path.join(dir, 'thresholds.json');
  await writeThresholdsFromScores(OLD, oldFaces);
  await writeThresholdsFromScores(NEW, newFaces);
  aliceLive = await genuineFrames(pools[1]!, images.aliceAgain, randomChallengeActions(FIXED_RANDOM));
}, 300_000);

afterAll(async () => {
  for (const pool of pools ?? []) await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

describeEachStore('changing the recogniser', (h) => {
  let db: TestDatabase;
  let keyFile: string;
  const opened: Medface[] = [];
  const ids: Record<'alice' | 'bob' | 'carol', string> = { alice: '', bob: '', carol: '' };

  const start = async (model: string): Promise<Medface> => {
    // the deployment's own pool follows faces over liveness frames too; older models' pools are started by medface
    const pool = pools[model === OLD ? 0 : 1]!;
    const faces: FaceEmbedder = {
      ...(model === OLD ? oldFaces : newFaces),
      observe: (bytes, embed) => pool.observe(bytes, embed),
      embedObserved: (bytes, face) => pool.embedObserved(bytes, face),
      stats: () => pool.stats(),
    };
    const medface = await startMedface(await db.open(), { keyFile, thresholdsFile, faces, embedderId: model, liveness: { random: FIXED_RANDOM } });
    opened.push(medface);
    return medface;
  };
  const modelsOf = async (medface: Medface, patientId: string) => (await medface.store.listTemplates(patientId)).map((t) => t.modelId);
  const found = async (medface: Medface, image: Buffer) => (await identify(medface, { image }, who)).candidates.map((c) => c.patientId);

  beforeEach(async () => {
    db = await h.create();
    keyFile = path.join(mkdtempSync(path.join(dir, 'keys-')), 'medface.key');
    // enrolled under the old model: Alice with her photo kept, Bob without; Carol has no face on file
    const before = await start(OLD);
    for (const name of ['alice', 'bob', 'carol'] as const) {
      ids[name] = (await createPatientRecord(before, PATIENTS[name], who)).id!;
      await grantConsent(before, { patientId: ids[name], notice: 'v1' }, who);
    }
    await enrol(before, { patientId: ids.alice, images: [images.alice], keepPhoto: true }, who);
    await enrol(before, { patientId: ids.bob, images: [images.bob] }, who);
    await before.close();
    opened.splice(0);
  });

  afterEach(async () => {
    for (const m of opened.splice(0)) await m.close();
    await db.drop();
  });

  it('finds patients enrolled only under the old model, and their duplicates, embedding the capture with that model too', { timeout: 300_000 }, async () => {
    const medface = await start(NEW);
    expect(medface.templates.gallery.models()).toEqual([OLD]);
    expect(await found(medface, images.aliceAgain)).toEqual([ids.alice]);
    expect(await found(medface, images.bob)).toEqual([ids.bob]);
    expect(await found(medface, images.stranger)).toEqual([]);
    // registering Alice a second time is caught as a duplicate, though her templates are the old model's
    const twin = (await createPatientRecord(medface, PATIENTS.alice2, who)).id!;
    await grantConsent(medface, { patientId: twin, notice: 'v1' }, who);
    await expect(enrol(medface, { patientId: twin, images: [images.aliceAgain] }, who)).rejects.toMatchObject({
      code: 'DUPLICATE_SUSPECTED',
      details: { candidates: [expect.objectContaining({ patientId: ids.alice })] },
    });
  });

  it('migrates the templates with kept photos, resumably, and keeps searching the others until re-enrolment', { timeout: 300_000 }, async () => {
    const medface = await start(NEW);
    expect(await templateStatus(medface)).toEqual({
      model: NEW,
      models: [{ model: OLD, current: false, patients: 2, templates: 2, migratable: 1, awaitingEnrolment: 1, migrationPending: true, unsearchable: null }],
    });
    // what `medface serve` tells the operator when it starts on this gallery
    const notice = await olderTemplatesNotice(medface);
    expect(notice).toContain(`${OLD}: 2 patients, 1 templates with a kept photo, 1 patients to enrol again`);
    expect(notice).toContain('medface templates migrate');
    const [oldAlice] = await medface.store.listTemplates(ids.alice);

    expect(await migrateTemplates(medface, who, { batchSize: 1 })).toEqual({ model: NEW, migrated: 1, refused: 0, withoutPhoto: 1 });
    expect(await modelsOf(medface, ids.alice)).toEqual([NEW]);
    expect(await modelsOf(medface, ids.bob)).toEqual([OLD]);
    // the kept photo went over to the re-derived template; the old template is gone
    const [newAlice] = await medface.store.listTemplates(ids.alice);
    expect(newAlice!.id).not.toBe(oldAlice!.id);
    expect(await medface.store.listPhotos(ids.alice)).toEqual([expect.objectContaining({ templateId: newAlice!.id })]);
    expect(medface.templates.gallery.templatesOf(ids.alice)).toEqual([newAlice!.id]);
    const migrated = await medface.audit.search(medface.store, { patientId: ids.alice, action: 'biometric.migrate' });
    expect(migrated.map((e) => e.details)).toEqual([expect.objectContaining({ from: OLD, to: NEW })]);
    const runs = await medface.audit.search(medface.store, { action: 'templates.migrate' });
    expect(runs.map((e) => e.details)).toEqual([{ model: NEW, migrated: 1, refused: 0, withoutPhoto: 1 }]);

    expect(await templateStatus(medface)).toEqual({
      model: NEW,
      models: [
        { model: OLD, current: false, patients: 1, templates: 1, migratable: 0, awaitingEnrolment: 1, migrationPending: false, unsearchable: null },
        { model: NEW, current: true, patients: 1, templates: 1, migratable: 0, awaitingEnrolment: 0, migrationPending: false, unsearchable: null },
      ],
    });
    // a second run (or one resumed after an interruption) has nothing left to re-derive
    expect(await migrateTemplates(medface, who)).toEqual({ model: NEW, migrated: 0, refused: 0, withoutPhoto: 1 });

    // Alice is found by the new model now, Bob still by the old one; another process sees the same store
    expect(await found(medface, images.aliceAgain)).toEqual([ids.alice]);
    expect(await found(medface, images.bob)).toEqual([ids.bob]);
    const restarted = await start(NEW);
    expect(await found(restarted, images.aliceAgain)).toEqual([ids.alice]);

    // Bob comes in and is enrolled again: his old-model template gives way in the same transaction
    const again = await enrol(medface, { patientId: ids.bob, images: [images.bob] }, who);
    expect(again.replaced).toHaveLength(1);
    expect(await modelsOf(medface, ids.bob)).toEqual([NEW]);
    expect(medface.templates.gallery.models()).toEqual([NEW]);
    expect(await found(medface, images.bob)).toEqual([ids.bob]);
    expect((await templateStatus(medface)).models).toEqual([
      { model: NEW, current: true, patients: 2, templates: 2, migratable: 0, awaitingEnrolment: 0, migrationPending: false, unsearchable: null },
    ]);
    expect(await olderTemplatesNotice(medface)).toBeUndefined();
  });

  it('says whom it could not look for: an old model without calibrated thresholds is not searched, and that is reported', { timeout: 300_000 }, async () => {
    // a thresholds file with the new model alone: the old model's scores could not be graded
    const onlyNew = path.join(mkdtempSync(path.join(dir, 'only-new-')), 'thresholds.json');
    writeModelThresholds(NEW, thresholdsFor(NEW, thresholdsFile), onlyNew);
    const medface = await startMedface(await db.open(), { keyFile, thresholdsFile: onlyNew, faces: newFaces, embedderId: NEW });
    opened.push(medface);
    expect((await templateStatus(medface)).models).toEqual([expect.objectContaining({ model: OLD, patients: 2, unsearchable: 'not-calibrated' })]);
    expect(await found(medface, images.aliceAgain)).toEqual([]);
    const search = (await medface.audit.search(medface.store, { action: 'biometric.identify' })).at(-1);
    expect(search!.details).toMatchObject({ match: false, unsearched: [{ model: OLD, reason: 'not-calibrated' }] });
    await expect(verify(medface, { patientId: ids.bob, image: images.bob }, who)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      details: { models: [{ model: OLD, reason: 'not-calibrated' }] },
    });
  });

  it('checks in, signs in and verifies a patient whose only templates are the old model’s, from liveness frames, in a gallery of both models', { timeout: 600_000 }, async () => {
    const medface = await start(NEW);
    // Carol is enrolled under the new model: the gallery holds both
    await enrol(medface, { patientId: ids.carol, images: [images.carol] }, who);
    expect(medface.templates.gallery.models().sort()).toEqual([OLD, NEW].sort());
    expect(await found(medface, images.carol)).toEqual([ids.carol]);
    expect(await found(medface, images.aliceAgain)).toEqual([ids.alice]);
    const access = await accessContext(medface);
    const live = async (purpose: 'check-in' | 'portal-sign-in' | 'verify', subject?: string) => ({
      challengeId: (await issueChallenge(medface, { purpose, ...(subject && { subject }) })).id,
      frames: aliceLive,
    });

    // the kiosk: Alice's live face is embedded by the old model too, and her date of birth picks her
    const kiosk = { principal: { kind: 'api-client' as const, id: 'kiosk-1', scopes: ['checkin:patient' as const] }, client: 'kiosk-1' };
    const arrived = await checkIn(medface, access, kiosk, { ...(await live('check-in')), birthDate: PATIENTS.alice.birthDate });
    expect(arrived).toMatchObject({ checkedIn: true });
    const [checkedIn] = await medface.audit.search(medface.store, { action: 'encounter.check-in', outcome: 'success' });
    expect(checkedIn!.patientRef).toBe(medface.audit.patientRef(ids.alice));
    const search = (await medface.audit.search(medface.store, { action: 'biometric.identify' })).at(-1);
    expect(search!.details).toMatchObject({ match: true, candidates: [expect.objectContaining({ patientRef: medface.audit.patientRef(ids.alice) })] });
    // Bob's date of birth does not check Alice's face in as Bob (he is in the old model's gallery too)
    expect(await checkIn(medface, access, kiosk, { ...(await live('check-in')), birthDate: PATIENTS.bob.birthDate })).toEqual({ checkedIn: false });

    // the portal: the same, through the access module's second-factor filter
    await createUser(access, { principal: { kind: 'operator', id: 'cli:test' }, client: null }, { username: 'alice.patient', roles: ['patient'], patientId: ids.alice });
    const signedIn = await signInPatientWithFace(medface, access, { ...(await live('portal-sign-in')), secondFactor: { kind: 'birth-date', value: PATIENTS.alice.birthDate }, client: 'test' });
    expect(signedIn.user.patientId).toBe(ids.alice);

    // 1:1 (the telemedicine check's use case): compared in her templates' model, graded by its thresholds, never refreshed
    const checked = await verify(medface, { patientId: ids.alice, liveness: await live('verify', ids.alice) }, who);
    expect(checked).toMatchObject({ match: true, model: OLD, refreshed: false, threshold: medface.templates.thresholds(OLD).match });
    expect(await verify(medface, { patientId: ids.bob, image: images.stranger }, who)).toMatchObject({ match: false, model: OLD });
    expect(await verify(medface, { patientId: ids.carol, image: images.carol }, who)).toMatchObject({ match: true, model: NEW });
    expect(await modelsOf(medface, ids.alice)).toEqual([OLD]);
  });

  it('signs in a staff member whose face was enrolled under the old model, once no patient template is of it, until they enrol it again', { timeout: 600_000 }, async () => {
    // the staff member enrolled their own face (Alice's) for sign-in before the recogniser changed
    const before = await start(OLD);
    const operator = { principal: { kind: 'operator' as const, id: 'cli:test' }, client: null };
    const staff = await createUser(await accessContext(before), operator, { username: 'dr.old', roles: ['clinician'], password: 'a first password here' });
    const self = { principal: { kind: 'user' as const, id: staff.user.id, roles: ['clinician' as const], patientId: null }, client: 'test' };
    await enrolOwnFace(before, await accessContext(before), self, { image: images.alice, consent: true });
    await before.close();
    opened.splice(0);

    // the new recogniser; every patient template moved to it, so the gallery holds no template of the old model
    const medface = await start(NEW);
    await migrateTemplates(medface, who);
    await enrol(medface, { patientId: ids.bob, images: [images.bob] }, who);
    expect(medface.templates.gallery.models()).toEqual([NEW]);
    expect((await medface.store.listStaffTemplates(staff.user.id)).map((t) => t.modelId)).toEqual([OLD]);
    const access = await accessContext(medface);
    const signIn = async (password: string, newPassword: string) =>
      signInWithFace(
        access,
        { username: 'dr.old', password, newPassword, client: 'test' },
        staffFaceVerifier(medface, { challengeId: (await issueChallenge(medface, { purpose: 'staff-sign-in' })).id, frames: aliceLive }, 'test'),
      );
    // her live face, embedded by the old model too, compared with her old template at the old model's thresholds
    const signedIn = await signIn('a first password here', 'a second password here');
    expect(signedIn.session.established).toMatchObject({ method: 'password+face' });
    const [entry] = await medface.audit.search(medface.store, { action: 'auth.sign-in', outcome: 'success' });
    expect(entry!.details).toMatchObject({ method: 'password+face' });
    // another face is still refused under the old model
    const bobLive = await genuineFrames(pools[1]!, images.bob, randomChallengeActions(FIXED_RANDOM));
    const other = signInWithFace(
      access,
      { username: 'dr.old', password: 'a second password here', client: 'test' },
      staffFaceVerifier(medface, { challengeId: (await issueChallenge(medface, { purpose: 'staff-sign-in' })).id, frames: bobLive }, 'test'),
    );
    await expect(other).rejects.toMatchObject({ code: 'SIGN_IN_FAILED' });
    const [failed] = await medface.audit.search(medface.store, { action: 'auth.sign-in', outcome: 'failure' });
    expect(failed!.details).toMatchObject({ method: 'password+face', reason: 'face' });

    // enrolling again under the new model replaces the old model's template
    await enrolOwnFace(medface, access, self, { image: images.alice, consent: true });
    expect((await medface.store.listStaffTemplates(staff.user.id)).map((t) => t.modelId)).toEqual([NEW]);
    expect((await signIn('a second password here', 'a third password here')).user.id).toBe(staff.user.id);
  });
});
