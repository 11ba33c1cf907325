import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_EMBEDDER_ID, FacePool } from '../../src/face/index.js';
import { writeModelThresholds } from '../../src/identity/thresholds.js';
import { demoFaceCrops } from '../../src/services/evaluation/bench.js';
import { calibrateSets } from '../../src/services/evaluation/calibrate.js';
import { evaluateSet, type IdentificationResult, type VerificationResult } from '../../src/services/evaluation/evaluate.js';

/**
 * A small labelled set made from face-api's demo photos: each person twice (the crop, and a smaller,
 * darker re-encoding of it), plus an image without a face and a file that is no image at all.
 */
const set = mkdtempSync(path.join(tmpdir(), 'medface-eval-'));
const out = path.join(set, 'out');
let pool: FacePool | undefined;
let poolStarts = 0;
const getPool = async () => {
  poolStarts++;
  return (pool ??= await FacePool.create({ size: 1 }));
};
const noPool = () => Promise.reject(new Error('the pool should not be needed'));
const model = DEFAULT_EMBEDDER_ID;
let people = 0;

beforeAll(async () => {
  const crops = await demoFaceCrops(await getPool(), [1, 2]);
  people = crops.length;
  mkdirSync(path.join(set, 'images'));
  const rows = ['path,identity,lighting'];
  for (const [i, crop] of crops.entries()) {
    writeFileSync(path.join(set, 'images', `p${i}-a.jpg`), crop);
    const again = await sharp(crop).resize({ width: 400 }).modulate({ brightness: 0.8 }).jpeg({ quality: 75 }).toBuffer();
    writeFileSync(path.join(set, 'images', `p${i}-b.jpg`), again);
    rows.push(`images/p${i}-a.jpg,person${i},normal`, `images/p${i}-b.jpg,person${i},dim`);
  }
  writeFileSync(
    path.join(set, 'images', 'wall.png'),
    await sharp({ create: { width: 200, height: 200, channels: 3, background: '#8a8a8a' } })
      .png()
      .toBuffer(),
  );
  writeFileSync(path.join(set, 'images', 'notes.jpg'), 'not an image');
  rows.push('images/wall.png,person0,normal', 'images/notes.jpg,person1,normal');
  writeFileSync(path.join(set, 'manifest.csv'), rows.join('\n') + '\n');
  poolStarts = 0;
});

afterAll(async () => {
  await pool?.close();
});

describe('evaluateSet', () => {
  it('identification: first image of each person in the gallery, the rest as probes', async () => {
    const r = (await evaluateSet(getPool, set, { model, outDir: out, command: 'test' })) as IdentificationResult;
    expect(r.mode).toBe('identification');
    expect(r.model).toBe(model);
    expect(r.identities).toBe(people);
    expect(r.gallery).toBe(people);
    // every second capture, plus the faceless wall and the broken file
    expect(r.probes).toBe(people + 2);
    expect(r.fta).toBe(2);
    // the two failures to acquire are misses; every real second capture is found
    expect(r.rank1).toBeCloseTo(people / (people + 2), 10);
    expect(r.all_pairs.genuine_pairs).toBe(people);
    expect(r.all_pairs.auc).toBe(1);
    expect(r.all_pairs.eer).toBe(0);
    expect(r.report).toBe(path.join(out, 'report.html'));
    expect(readFileSync(r.report!, 'utf8')).toContain('<svg');
    expect(readFileSync(r.report!, 'utf8')).toContain('DET of identification');
    // open set: every image is also a non-mated search against the gallery without its identity; with every
    // same-person pair above every different-person pair (AUC 1), only the two faceless probes miss
    expect(r.open_set).toMatchObject({ gallery: people, distractor_identities: 0, mated: people + 2, nonmated: 2 * people + 2 });
    expect(r.open_set.rank1).toBe(r.rank1);
    expect(r.open_set.fnir_at_fpir['0.01']).toBeCloseTo(2 / (people + 2), 10);
    expect(r.open_set.gallery_sizes.at(-1)?.gallery).toBe(people);
  });

  it('--distractors: their identities join the gallery, and a distractor as close as the mate outranks it', async () => {
    // the same first captures under other names, from another folder: ties with every mate
    const distractors = path.join(set, 'distractors');
    mkdirSync(distractors, { recursive: true });
    const rows = ['path,identity'];
    for (let i = 0; i < people; i++) {
      writeFileSync(path.join(distractors, `d${i}.jpg`), readFileSync(path.join(set, 'images', `p${i}-a.jpg`)));
      rows.push(`d${i}.jpg,stranger${i}`);
    }
    writeFileSync(path.join(distractors, 'manifest.csv'), rows.join('\n') + '\n');
    // the distractors' images are the set's, so the cache answers them all
    const r = (await evaluateSet(noPool, set, { model, outDir: out, distractors: [distractors], command: 'test' })) as IdentificationResult;
    expect(r.open_set).toMatchObject({ gallery: 2 * people, distractor_identities: people, mated: people + 2 });
    expect(r.open_set.rank1).toBe(0);
    expect(r.open_set.cmc['5']).toBeCloseTo(people / (people + 2), 10);
  });

  it('--gallery-images: the first k images of each identity enrol it, and only later ones are mated searches', async () => {
    const r = (await evaluateSet(noPool, set, { model, outDir: out, galleryImages: 2, command: 'test' })) as IdentificationResult;
    // left as mated searches: the faceless wall and the broken file, both misses
    expect(r.open_set).toMatchObject({ gallery: people, mated: 2, nonmated: 2 * people + 2, rank1: 0, gallery_images_per_identity: 2 });
    await expect(evaluateSet(noPool, set, { model, outDir: out, galleryImages: 0, command: 'test' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('--probe-images: an identity’s later images fused k at a time into one search, so a view without a face is no miss', async () => {
    const r = (await evaluateSet(noPool, set, { model, outDir: out, probeImages: 2, command: 'test' })) as IdentificationResult;
    // person0's second capture with the faceless wall, person1's with the broken file: two searches, both found;
    // the others have one later image (an incomplete group, not searched), and no gallery image is grouped with them
    expect(r.open_set).toMatchObject({ gallery: people, mated: 2, nonmated: 2, rank1: 1, probe_images_per_search: 2 });
    expect(r.open_set.fnir_at_fpir['0.01']).toBe(0);
    await expect(evaluateSet(noPool, set, { model, outDir: out, probeImages: 0, command: 'test' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('answers a rerun from the cache, failures to acquire included, without starting the pool', async () => {
    expect(existsSync(path.join(out, 'embeddings', model))).toBe(true);
    const r = (await evaluateSet(noPool, set, { model, outDir: out, command: 'test' })) as IdentificationResult;
    expect(r.fta).toBe(2);
    expect(r.rank1).toBeCloseTo(people / (people + 2), 10);
  });

  it('verification on a pairs file: unscored pairs are errors in accuracy', async () => {
    const pairsFile = path.join(set, 'some-pairs.csv');
    writeFileSync(
      pairsFile,
      ['file1,file2,same', 'images/p0-a.jpg,images/p0-b.jpg,1', 'images/p1-a.jpg,images/p1-b.jpg,1', 'images/p0-a.jpg,images/p1-a.jpg,0', 'images/p0-a.jpg,images/wall.png,1'].join('\n'),
    );
    const r = (await evaluateSet(noPool, set, { model, pairsFile, command: 'test', outDir: out })) as VerificationResult;
    expect(r.mode).toBe('verification');
    // FTA counts every image of the set: all of them are open-set searches, the broken file too
    expect(r).toMatchObject({ pairs: 4, genuine_pairs: 2, impostor_pairs: 1, fta: 2, fta_pairs: 1, auc: 1, eer: 0 });
    expect(r.accuracy).toBe(3 / 4);
    expect(r.tar_at_far).toEqual({ '0.01': 1, '0.001': 1 });
  });

  it('--group-by reports FMR and FNMR per value at the operating threshold', async () => {
    const thresholdsFile = path.join(set, 'thresholds.json');
    // operating threshold: the lowest same-person score, which the first test found above every other score
    const r0 = (await evaluateSet(noPool, set, { model, command: 'test', outDir: out })) as IdentificationResult;
    const t = r0.all_pairs.accuracy_threshold;
    const cut = (minScore: number, fmr: number) => ({ minScore, fmr });
    writeModelThresholds(
      model,
      {
        match: t,
        fmr: 0.001,
        thresholdsAtFmr: { '0.001': t },
        grades: { certain: cut(t, 0.0001), probable: cut(t, 0.001), possible: cut(t - 0.1, 0.01) },
        calibration: { sets: ['test'], impostorPairs: 0, genuinePairs: 0, failuresToAcquire: 0, date: new Date().toISOString(), command: 'test', minFalseMatches: 30, tarAtFmr: {} },
      },
      thresholdsFile,
    );
    const r = (await evaluateSet(noPool, set, { model, outDir: out, groupBy: 'lighting', thresholdsFile, command: 'test' })) as IdentificationResult;
    expect(r.fairness?.column).toBe('lighting');
    expect(r.fairness?.groups.map((g) => g.group)).toEqual(['dim', 'normal']);
    expect(r.operating?.fmr).toBe(0);
    expect(r.fairness?.groups.every((g) => g.fmr === 0 && g.fnmr === 0)).toBe(true);
    await expect(evaluateSet(noPool, set, { model, groupBy: 'age', thresholdsFile, command: 'test' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(poolStarts).toBe(1);
  });
});

describe('calibrateSets', () => {
  it('refuses a set with too few impostor pairs to measure the rate', async () => {
    await expect(calibrateSets(noPool, [set], { model, cacheDir: out, thresholdsFile: path.join(set, 't.json'), command: 'test' })).rejects.toMatchObject({
      code: 'INVALID_DATASET',
    });
  });
});
