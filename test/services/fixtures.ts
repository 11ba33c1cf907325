import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { DEFAULT_EMBEDDER_ID, type FacePool, type Purpose, type SubjectFace } from '../../src/face/index.js';
import { FACE_API_DIR } from '../../src/face/runtime.js';
import { writeModelThresholds, type ModelThresholds } from '../../src/identity/thresholds.js';
import type { FaceEmbedder } from '../../src/services/context.js';

/**
 * Real faces for the identity tests, cut from face-api's demo photos (different people), plus a second
 * capture of one of them made by mirroring, brightening and rescaling (the same person photographed again).
 */
export interface Faces {
  /** Patient "Alice": a face cut from sample5.jpg. */
  alice: Buffer;
  /** Alice again: the same face mirrored, 10% brighter and scaled to 320 px wide. */
  aliceAgain: Buffer;
  /** Another person (sample3.jpg). */
  bob: Buffer;
  /** Another person (sample2.jpg). */
  carol: Buffer;
  /** Someone never enrolled (sample6.jpg). */
  stranger: Buffer;
  /** A group photo: several faces, no single subject. */
  group: Buffer;
}

/** Which face of which demo photo (faces as the detector lists them, largest first). */
const PICKS = { alice: [5, 1], bob: [3, 2], carol: [2, 0], stranger: [6, 3] } as const;

export async function demoFaces(pool: FacePool): Promise<Faces> {
  const cut = async ([sample, index]: readonly [number, number]): Promise<Buffer> => {
    const photo = readFileSync(path.join(FACE_API_DIR, 'demo', `sample${sample}.jpg`));
    const { image, faces } = await pool.analyze(photo, { purpose: 'enrol' });
    const { box } = faces[index]!;
    // the face with a generous margin, so the whole head is in frame, at a portrait's size
    const left = Math.max(0, Math.round(box.x - 0.6 * box.width));
    const top = Math.max(0, Math.round(box.y - 0.6 * box.height));
    const width = Math.min(image.width, Math.round(box.x + 1.6 * box.width)) - left;
    const height = Math.min(image.height, Math.round(box.y + 1.6 * box.height)) - top;
    return sharp(photo).rotate().extract({ left, top, width, height }).resize({ width: 400 }).jpeg({ quality: 92 }).toBuffer();
  };
  const alice = await cut(PICKS.alice);
  return {
    alice,
    aliceAgain: await sharp(alice).flop().modulate({ brightness: 1.1 }).resize({ width: 320 }).jpeg({ quality: 85 }).toBuffer(),
    bob: await cut(PICKS.bob),
    carol: await cut(PICKS.carol),
    stranger: await cut(PICKS.stranger),
    group: readFileSync(path.join(FACE_API_DIR, 'demo', 'sample1.jpg')),
  };
}

/**
 * The face pool, remembering each (image, purpose) answer: the model runs once per image for the whole
 * test file, and parallel requests reach the store together instead of queueing behind one inference.
 * Every answer is the real model's.
 */
export function rememberingPool(pool: FacePool): FaceEmbedder & { embeddingOf(bytes: Uint8Array, purpose: Purpose): Promise<SubjectFace> } {
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
 * Thresholds for the default embedder in a temporary file, so the tests do not depend on the calibration in
 * config/ (written by `medface calibrate`). Fixture values near where the dlib embedder's lfw-dev cosine
 * scores fall in a team probe (impostor pairs: maximum 0.929; genuine pairs: median 0.960).
 */
export function writeTestThresholds(file: string): ModelThresholds {
  const thresholds: ModelThresholds = {
    match: 0.93,
    fmr: 0.001,
    thresholdsAtFmr: { '0.01': 0.9, '0.001': 0.93, '0.0001': 0.96 },
    grades: {
      certain: { minScore: 0.96, fmr: 0.0001 },
      probable: { minScore: 0.93, fmr: 0.001 },
      possible: { minScore: 0.9, fmr: 0.01 },
    },
    // A steep impostor tail: the 1:N operating threshold stays at or under 0.93 (the 1:1 one) for galleries of
    // up to 10 patients, where the tests' faces were chosen, and rises beyond (0.935 at 100 patients).
    identification: {
      fpir: 0.001,
      grades: { certain: { fpir: 0.0001 }, probable: { fpir: 0.001 }, possible: { fpir: 0.01 } },
      impostorTail: {
        pairs: 1_000_000,
        scoresAtFmr: { '0.01': 0.9, '0.005': 0.905, '0.001': 0.925, '0.0001': 0.93 },
        exponential: { from: 0.925, fmr: 0.001, scale: 0.005 / Math.LN10, exceedances: 1000 },
      },
    },
    calibration: {
      sets: ['test-fixture'],
      impostorPairs: 0,
      genuinePairs: 0,
      failuresToAcquire: 0,
      date: '2026-01-01T00:00:00.000Z',
      command: 'test/services/fixtures.ts',
      minFalseMatches: 0,
      tarAtFmr: {},
    },
  };
  writeModelThresholds(DEFAULT_EMBEDDER_ID, thresholds, file);
  return thresholds;
}

export const PATIENTS = {
  alice: { resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value: 'A-1' }], name: [{ family: 'Liddell', given: ['Alice'] }], birthDate: '1990-04-01' },
  alice2: { resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value: 'A-2' }], name: [{ family: 'Lidell', given: ['Alice'] }], birthDate: '1990-04-01' },
  bob: { resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value: 'B-1' }], name: [{ family: 'Builder', given: ['Bob'] }], birthDate: '1971-02-03' },
  carol: { resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value: 'C-1' }], name: [{ family: 'Carroll', given: ['Carol'] }], birthDate: '1985-12-24' },
} as const;
