import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll } from 'vitest';
import { DEFAULT_EMBEDDER_ID, FacePool, type Purpose, type SubjectFace } from '../../src/face/index.js';
import { FACE_API_DIR, HUMAN_DIR } from '../../src/face/runtime.js';
import { thresholdsFor, writeModelThresholds, type ModelThresholds } from '../../src/identity/thresholds.js';
import type { Actor } from '../../src/services/auditing.js';
import { grantConsent } from '../../src/services/patients/consent.js';
import type { Medface } from '../../src/services/context.js';
import { enrol, type EnrolRequest } from '../../src/services/biometrics/enrol.js';
import type { FaceEmbedder } from '../../src/services/faces.js';
import { createPatientRecord } from '../../src/services/patients/patients.js';

/**
 * Real faces for the identity tests, cut from demo photos shipped in npm packages (different people), plus a
 * second capture of one of them made by mirroring, brightening and rescaling (the same person photographed again).
 */
export interface Faces {
  /** Patient "Alice": a face cut from face-api's sample5.jpg. */
  alice: Buffer;
  /** Alice again: the same face mirrored, 10% brighter and scaled to 320 px wide. */
  aliceAgain: Buffer;
  /** Another person (face-api's sample3.jpg). */
  bob: Buffer;
  /** Another person (Human's face-detection screenshot). */
  carol: Buffer;
  /** Someone never enrolled (face-api's sample6.jpg). */
  stranger: Buffer;
  /** A group photo: several faces, no single subject. */
  group: Buffer;
}

const faceApiDemo = (n: number): string => path.join(FACE_API_DIR, 'demo', `sample${n}.jpg`);

/**
 * Which face of which photo (faces as the detector lists them, largest first). Chosen so that every two of
 * them score below the `possible` grade of both recognisers in the tree (dlib's ResNet and MobileFaceNet):
 * face-api's demo stills show a few actors under the same light, and MobileFaceNet scores two of their
 * faces (sample2.jpg face 0, sample3.jpg face 2) at 0.47, above its operating threshold.
 */
export const FACE_PICKS = {
  alice: { photo: faceApiDemo(5), index: 1 },
  bob: { photo: faceApiDemo(3), index: 2 },
  carol: { photo: path.join(HUMAN_DIR, 'assets', 'screenshot-facedetect.jpg'), index: 2 },
  stranger: { photo: faceApiDemo(6), index: 3 },
} as const;

export async function demoFaces(pool: FacePool): Promise<Faces> {
  const cut = async ({ photo: file, index }: { photo: string; index: number }): Promise<Buffer> => {
    const photo = readFileSync(file);
    const { image, faces } = await pool.analyze(photo, { purpose: 'enrol' });
    const { box } = faces[index]!;
    // the face with a generous margin, so the whole head is in frame, at a portrait's size
    const left = Math.max(0, Math.round(box.x - 0.6 * box.width));
    const top = Math.max(0, Math.round(box.y - 0.6 * box.height));
    const width = Math.min(image.width, Math.round(box.x + 1.6 * box.width)) - left;
    const height = Math.min(image.height, Math.round(box.y + 1.6 * box.height)) - top;
    return sharp(photo).rotate().extract({ left, top, width, height }).resize({ width: 400 }).jpeg({ quality: 92 }).toBuffer();
  };
  const alice = await cut(FACE_PICKS.alice);
  return {
    alice,
    aliceAgain: await sharp(alice).flop().modulate({ brightness: 1.1 }).resize({ width: 320 }).jpeg({ quality: 85 }).toBuffer(),
    bob: await cut(FACE_PICKS.bob),
    carol: await cut(FACE_PICKS.carol),
    stranger: await cut(FACE_PICKS.stranger),
    group: readFileSync(faceApiDemo(1)),
  };
}

/**
 * The face pool, remembering each (image, purpose) answer: the model runs once per image for the whole
 * test file, and parallel requests reach the store together instead of queueing behind one inference.
 * Every answer is the real model's.
 */
export type RememberingPool = FaceEmbedder & { embeddingOf(bytes: Uint8Array, purpose: Purpose): Promise<SubjectFace> };

export function rememberingPool(pool: FacePool): RememberingPool {
  const answers = new Map<string, Promise<SubjectFace>>();
  const embedSingle = (bytes: Uint8Array, purpose: Purpose): Promise<SubjectFace> => {
    const key = `${purpose}:${createHash('sha256').update(bytes).digest('hex')}`;
    let answer = answers.get(key);
    if (!answer) {
      answer = pool.embedSingle(bytes, purpose);
      answers.set(key, answer);
    }
    return answer;
  };
  return { embedSingle, embeddingOf: embedSingle };
}

/**
 * The default embedder's calibrated thresholds (config/thresholds.json, written by `medface calibrate`), copied
 * into a file of the test's own, so a test that rewrites its thresholds never touches config/. The tests' faces
 * are chosen to fall clear of them (FACE_PICKS), so the tests hold whatever the default recogniser is.
 */
export function writeTestThresholds(file: string): ModelThresholds {
  const thresholds = thresholdsFor(DEFAULT_EMBEDDER_ID);
  writeModelThresholds(DEFAULT_EMBEDDER_ID, thresholds, file);
  return thresholds;
}

/**
 * What the tests of a face test file share, set up once before them and taken down after them: one face pool (and
 * the same pool remembering its answers), the demo faces, and a scratch directory holding the file's copy of the
 * thresholds. The fields are filled when the tests start; `images` is filled in place, so a file may take it apart.
 */
export interface FaceTestKit {
  pool: FacePool;
  faces: RememberingPool;
  images: Faces;
  dir: string;
  thresholdsFile: string;
  thresholds: ModelThresholds;
  /** A key file path in a fresh directory of its own under `dir`: a deployment's key file. */
  newKeyFile(): string;
}

/** Registers the set-up (`beforeAll`, within `timeout` ms) and the take-down (`afterAll`) of the file's FaceTestKit. */
export function faceTestKit(name: string, timeout?: number): FaceTestKit {
  const kit = { images: {} as Faces, newKeyFile: () => path.join(mkdtempSync(path.join(kit.dir, 'keys-')), 'medface.key') } as FaceTestKit;
  beforeAll(async () => {
    kit.pool = await FacePool.create({ size: 1 });
    kit.faces = rememberingPool(kit.pool);
    Object.assign(kit.images, await demoFaces(kit.pool));
    kit.dir = mkdtempSync(path.join(tmpdir(), `medface-${name}-`));
    kit.thresholdsFile = path.join(kit.dir, 'thresholds.json');
    kit.thresholds = writeTestThresholds(kit.thresholdsFile);
  }, timeout);
  afterAll(async () => {
    await kit.pool?.close();
    if (kit.dir) rmSync(kit.dir, { recursive: true, force: true });
  });
  return kit;
}

/**
 * A patient registered as the front desk does it: the record created, consent to the notice granted and the
 * face enrolled. Returns the patient's id.
 */
export async function registerPatient(medface: Medface, patient: object, enrolment: Omit<EnrolRequest, 'patientId'>, who: Actor, notice = 'v1'): Promise<string> {
  const patientId = (await createPatientRecord(medface, patient, who)).id as string;
  await grantConsent(medface, { patientId, notice }, who);
  await enrol(medface, { ...enrolment, patientId }, who);
  return patientId;
}

export const PATIENTS = {
  alice: { resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value: 'A-1' }], name: [{ family: 'Liddell', given: ['Alice'] }], birthDate: '1990-04-01' },
  alice2: { resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value: 'A-2' }], name: [{ family: 'Lidell', given: ['Alice'] }], birthDate: '1990-04-01' },
  bob: { resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value: 'B-1' }], name: [{ family: 'Builder', given: ['Bob'] }], birthDate: '1971-02-03' },
  carol: { resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value: 'C-1' }], name: [{ family: 'Carroll', given: ['Carol'] }], birthDate: '1985-12-24' },
} as const;
