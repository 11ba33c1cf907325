import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { allPairScores, calibrateThresholds, concatScores } from '../../src/evaluation/calibrate.js';
import { decide } from '../../src/identity/match.js';
import { thresholdsFor, writeModelThresholds } from '../../src/identity/thresholds.js';

/** 100,000 distinct impostor scores k/100000 and a few genuine ones. */
const impostor = Float64Array.from({ length: 100_000 }, (_, k) => k / 100_000);
const genuine = Float64Array.from([0.5, 0.99, 0.9991, 0.9999]);
const input = { scores: { genuine, impostor }, fmr: 0.001, sets: ['synthetic'], failuresToAcquire: 0, command: 'test', date: new Date(0) };

describe('calibrateThresholds', () => {
  it('puts each threshold at the impostor quantile of its false-match rate', () => {
    const t = calibrateThresholds(input);
    // FMR 1e-3 of 100,000 -> the top 100 impostors (0.99900..0.99999) may pass, 0.99899 may not
    expect(t.match).toBeCloseTo(0.998995, 12);
    expect(t.grades.probable).toEqual({ minScore: t.match, fmr: 0.001 });
    // FMR 1e-2 -> top 1000 pass: between 0.98999 and 0.99000
    expect(t.grades.possible.minScore).toBeCloseTo(0.989995, 12);
    expect(t.thresholdsAtFmr['0.01']).toBe(t.grades.possible.minScore);
    // FMR 1e-4 allows 10 false matches, fewer than the 30 a measured rate needs, so it is left out and
    // `certain` sits at the lowest measurable rate, 30 / 100,000
    expect(t.thresholdsAtFmr['0.0001']).toBeUndefined();
    expect(t.grades.certain.fmr).toBeCloseTo(3e-4, 15);
    expect(t.grades.certain.minScore).toBeCloseTo(0.999695, 12);
    expect(t.calibration).toMatchObject({ impostorPairs: 100_000, genuinePairs: 4, minFalseMatches: 30, date: '1970-01-01T00:00:00.000Z' });
    expect(t.calibration.tarAtFmr['0.001']).toBe(0.5);
    expect(t.calibration.tarAtFmr['0.01']).toBe(0.75);
  });

  it('uses FMR 1e-4 for `certain` when enough impostors were scored', () => {
    const many = Float64Array.from({ length: 400_000 }, (_, k) => k / 400_000);
    const t = calibrateThresholds({ ...input, scores: { genuine, impostor: many } });
    expect(t.grades.certain.fmr).toBe(1e-4);
    // the top 40 pass: between (400000-41)/400000 and (400000-40)/400000
    expect(t.grades.certain.minScore).toBeCloseTo((399_959 + 399_960) / 2 / 400_000, 12);
    expect(Object.keys(t.thresholdsAtFmr).sort()).toEqual(['0.0001', '0.001', '0.01']);
  });

  it('writes a file that validates and grades as calibrated', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'medface-cal-')), 'thresholds.json');
    writeModelThresholds('net@1', calibrateThresholds(input), file);
    const t = thresholdsFor('net@1', file);
    expect(decide(0.9999, t).grade).toBe('certain');
    expect(decide(0.9991, t)).toEqual({ match: true, grade: 'probable', threshold: t.match });
    expect(decide(0.995, t)).toEqual({ match: false, grade: 'possible', threshold: t.match });
    expect(decide(0.5, t).grade).toBe('certainly-not');
  });

  it('records the 1:N section at the grades’ rates, with its own operating rate when one is given', () => {
    const t = calibrateThresholds(input);
    expect(t.identification).toMatchObject({ fpir: 0.001, grades: { certain: { fpir: t.grades.certain.fmr }, probable: { fpir: 0.001 }, possible: { fpir: 0.01 } } });
    // the measured tail: 1-2-5 rates from the `possible` rate down to the lowest with 30 false matches (3e-4)
    expect(Object.keys(t.identification!.impostorTail.scoresAtFmr)).toEqual(['0.01', '0.005', '0.002', '0.001', '0.0005']);
    expect(t.identification!.impostorTail.scoresAtFmr['0.001']).toBe(t.match);
    expect(t.identification!.impostorTail.exponential).toMatchObject({ fmr: 0.01, exceedances: 1000 });
    const own = calibrateThresholds({ ...input, fpir: 0.01 });
    expect(own.identification!.grades).toEqual({ certain: { fpir: own.grades.certain.fmr }, probable: { fpir: 0.01 }, possible: { fpir: 0.01 } });
    expect(own.match).toBe(t.match);
    expect(() => calibrateThresholds({ ...input, fpir: 1 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('refuses a rate too small for the number of impostor pairs', () => {
    expect(() => calibrateThresholds({ ...input, fmr: 1e-4 })).toThrow(expect.objectContaining({ code: 'INVALID_DATASET' }));
    expect(() => calibrateThresholds({ ...input, fmr: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => calibrateThresholds({ ...input, scores: { genuine: new Float64Array(0), impostor } })).toThrow(expect.objectContaining({ code: 'INVALID_DATASET' }));
  });
});

describe('allPairScores', () => {
  const e = (...v: number[]) => ({ model: 'm@1', vector: Float32Array.from(v) });
  it('scores every pair within a set, skipping images without a face', () => {
    const s = allPairScores([
      { identity: 'a', embedding: e(1, 0) },
      { identity: 'a', embedding: e(1, 1) },
      { identity: 'b', embedding: e(0, 1) },
      { identity: 'b', embedding: null },
    ]);
    expect(Array.from(s.genuine).map((x) => +x.toFixed(6))).toEqual([+Math.SQRT1_2.toFixed(6)]);
    expect(Array.from(s.impostor).map((x) => +x.toFixed(6))).toEqual([0, +Math.SQRT1_2.toFixed(6)]);
    const both = concatScores([s, s]);
    expect(both.genuine.length).toBe(2);
    expect(both.impostor.length).toBe(4);
  });
});
