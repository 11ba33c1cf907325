import sharp from 'sharp';
import { afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { exportAuditBundle } from '../../src/audit/export.js';
import { DEFAULT_EMBEDDER_ID } from '../../src/face/index.js';
import { fmrForFpir, identificationThresholds } from '../../src/identity/identification.js';
import { decide, similarity } from '../../src/identity/match.js';
import { writeModelThresholds, type ModelThresholds } from '../../src/identity/thresholds.js';
import type { Actor } from '../../src/services/auditing.js';
import { breakGlassIdentify } from '../../src/services/biometrics/break-glass-identify.js';
import { grantConsent } from '../../src/services/patients/consent.js';
import { startMedface, type Medface } from '../../src/services/context.js';
import { enrol } from '../../src/services/biometrics/enrol.js';
import { identify } from '../../src/services/biometrics/identify.js';
import { createPatientRecord } from '../../src/services/patients/patients.js';
import { describeEachStore, type TestDatabase } from '../store/harness.js';
import { registerPatient, faceTestKit, PATIENTS } from './fixtures.js';

const staff: Actor = { actor: 'fd-1', client: 'desk-1' };
const emergency: Actor = { actor: 'er-1', client: '10.0.0.9' };

const kit = faceTestKit('bg-identify');
const { images } = kit;
/** The test's thresholds: the fixture's, with 1:N cut-offs placed around Alice's genuine score (below). */
let thresholds: ModelThresholds;
/** How well Alice's second capture scores against her enrolment, and the stranger against anyone enrolled. */
let genuine: number;
let strangerBest: number;

beforeAll(async () => {
  // Rotation preserves cosine, so the scores the gallery will report can be measured here on the raw embeddings.
  const embedding = async (bytes: Buffer, purpose: 'enrol' | 'identify') => (await kit.faces.embeddingOf(bytes, purpose)).embedding;
  const [alice, bob, aliceAgain, stranger] = await Promise.all([
    embedding(images.alice, 'enrol'),
    embedding(images.bob, 'enrol'),
    embedding(images.aliceAgain, 'identify'),
    embedding(images.stranger, 'identify'),
  ]);
  genuine = similarity(alice, aliceAgain);
  strangerBest = Math.max(similarity(alice, stranger), similarity(bob, stranger));
  // 1:N cut-offs around Alice's genuine score in a two-patient gallery: an impostor tail falling a decade per
  // 0.01 from just under it, so that for two patients `possible` (FPIR 1e-2, FMR ≈ 5e-3 per comparison) lies
  // 0.005 below it and the operating threshold (FPIR 1e-3, FMR ≈ 5e-4) 0.005 above: her second capture is a
  // possible match only; the stranger has to fall below `possible` for this to show anything.
  const fixture = kit.thresholds;
  const scale = 0.01 / (Math.log(0.01 / fmrForFpir(0.001, 2)) - Math.log(0.01 / fmrForFpir(0.01, 2)));
  const from = genuine - 0.005 - scale * Math.log(0.01 / fmrForFpir(0.01, 2));
  thresholds = {
    ...fixture,
    identification: {
      ...fixture.identification!,
      impostorTail: { pairs: 1_000_000, scoresAtFmr: { '0.01': from }, exponential: { from, fmr: 0.01, scale, exceedances: 10_000 } },
    },
  };
  writeModelThresholds(DEFAULT_EMBEDDER_ID, thresholds, kit.thresholdsFile);
}, 300_000);

describeEachStore('break-glass identification', (h) => {
  let db: TestDatabase;
  let medface: Medface;

  beforeEach(async () => {
    db = await h.create();
    const keyFile = kit.newKeyFile();
    medface = await startMedface(await db.open(), { keyFile, thresholdsFile: kit.thresholdsFile, faces: kit.faces });
  });
  afterEach(async () => {
    await medface.close();
    await db.drop();
  });

  const enrolled = (patient: object, image: Buffer): Promise<string> => registerPatient(medface, patient, { images: [image] }, staff, 'v2');

  it('offers possible candidates that identification proper withholds, graded and audited as break-glass', async () => {
    const atTwo = identificationThresholds(DEFAULT_EMBEDDER_ID, thresholds, 2);
    expect(strangerBest).toBeLessThan(atTwo.grades.possible.minScore);
    const alice = await enrolled(PATIENTS.alice, images.alice);
    await enrolled(PATIENTS.bob, images.bob);

    // below the operating threshold, ordinary identification names nobody
    expect(await identify(medface, { image: images.aliceAgain, top: 5 }, staff)).toMatchObject({ match: false, candidates: [], galleryPatients: 2 });

    const result = await breakGlassIdentify(medface, { image: images.aliceAgain }, emergency);
    expect(result.candidates.map((c) => [c.patientId, c.grade])).toEqual([[alice, 'possible']]);
    expect(result.candidates[0]!.score).toBeCloseTo(genuine, 4);
    expect(result).toMatchObject({ threshold: atTwo.match, possibleFrom: atTwo.grades.possible.minScore, galleryPatients: 2 });
    expect(result.possibleFrom).toBeCloseTo(genuine - 0.005, 6);

    // a stranger is not offered as anyone
    expect((await breakGlassIdentify(medface, { image: images.stranger }, emergency)).candidates).toEqual([]);

    const entries = await medface.audit.search(medface.store, { action: 'breakglass.identify' });
    expect(entries.map((e) => [e.actor, e.outcome, e.patientRef])).toEqual([
      ['er-1', 'success', medface.audit.patientRef(alice)],
      ['er-1', 'failure', null],
    ]);
    expect(entries[0]!.details).toMatchObject({ galleryPatients: 2, candidates: [{ patientRef: medface.audit.patientRef(alice), grade: 'possible' }] });
    expect(JSON.stringify(entries)).not.toContain(alice);
    const exported = await exportAuditBundle(medface.store, { from: new Date(entries[0]!.time), to: new Date(Date.now() + 1000) });
    expect(exported.entry[0]!.resource.purposeOfEvent?.[0]?.coding[0]?.code).toBe('BTG');
  }, 120_000);

  it('returns a ranked list with grades sized to the gallery, the cut-offs rising as it grows', async () => {
    const alice = await enrolled(PATIENTS.alice, images.alice);
    await enrolled(PATIENTS.bob, images.bob);
    const before = await breakGlassIdentify(medface, { image: images.aliceAgain }, emergency);
    // the same face registered again as another patient (kept under an override): two candidates to tell apart
    const created = await createPatientRecord(medface, PATIENTS.alice2, staff);
    const again = created.id!;
    await grantConsent(medface, { patientId: again, notice: 'v2' }, staff);
    await enrol(medface, { patientId: again, images: [images.aliceAgain], overrideDuplicate: 'registered twice, merging later' }, staff);

    const after = await breakGlassIdentify(medface, { image: images.aliceAgain }, emergency);
    expect(after.galleryPatients).toBe(3);
    expect(after.threshold).toBeGreaterThan(before.threshold);
    expect(after.possibleFrom).toBeGreaterThan(before.possibleFrom);
    // ranked best first (the enrolment of this very capture above Alice's first one), each graded at three patients
    expect(after.candidates.map((c) => c.patientId)).toEqual([again, alice]);
    expect(after.candidates[0]!.score).toBeGreaterThan(after.candidates[1]!.score);
    const atThree = identificationThresholds(DEFAULT_EMBEDDER_ID, thresholds, 3);
    for (const c of after.candidates) expect(c.grade).toBe(decide(c.score, atThree).grade);
    expect(after.candidates[1]!.grade).toBe('possible');
  }, 120_000);

  it('refuses a capture without one usable face and a bad top, and audits the refusal', async () => {
    const wall = await sharp({ create: { width: 320, height: 400, channels: 3, background: { r: 200, g: 190, b: 180 } } })
      .jpeg()
      .toBuffer();
    await expect(breakGlassIdentify(medface, { image: wall }, emergency)).rejects.toMatchObject({ code: 'NO_FACE' });
    await expect(breakGlassIdentify(medface, { image: images.alice, top: 0 }, emergency)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const entries = await medface.audit.search(medface.store, { action: 'breakglass.identify' });
    expect(entries.map((e) => [e.outcome, e.details.code])).toEqual([
      ['failure', 'NO_FACE'],
      ['failure', 'INVALID_ARGUMENT'],
    ]);
  }, 120_000);
});
