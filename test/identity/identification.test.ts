import { describe, expect, it } from 'vitest';
import { calibrateThresholds } from '../../src/evaluation/calibrate.js';
import { fmrForFpir, identificationThresholds, impostorScoreAt } from '../../src/identity/identification.js';
import { decide } from '../../src/identity/match.js';
import type { ModelThresholds } from '../../src/identity/thresholds.js';

/**
 * Impostor scores with an exponential upper tail, FMR(t) = exp(−(t − 0.5) / 0.02) above 0.5: the exact
 * quantiles of n draws, so every rate's true threshold is known, also far below what n pairs can measure.
 */
const n = 200_000;
const SCALE = 0.02;
const trueScoreAt = (fmr: number) => 0.5 + SCALE * Math.log(1 / fmr);
const impostor = Float64Array.from({ length: n }, (_, k) => trueScoreAt((k + 0.5) / n));
const genuine = Float64Array.from([0.7, 0.75, 0.8, 0.9]);
const calibrated: ModelThresholds = calibrateThresholds({ scores: { genuine, impostor }, fmr: 0.001, sets: ['synthetic'], failuresToAcquire: 0, command: 'test' });

describe('identification thresholds sized to the gallery', () => {
  it('asks each comparison for the rate that keeps the whole search at the target FPIR', () => {
    for (const [fpir, size] of [
      [0.01, 1],
      [0.001, 1000],
      [0.01, 1_000_000],
    ] as const) {
      const fmr = fmrForFpir(fpir, size);
      expect((1 - (1 - fmr) ** size) / fpir).toBeCloseTo(1, 6);
    }
    expect(fmrForFpir(0.001, 1)).toBeCloseTo(0.001, 15);
  });

  it('raises the threshold as the gallery grows, for every grade', () => {
    const sizes = [1, 2, 10, 100, 1000, 10_000, 100_000, 1_000_000];
    const at = sizes.map((size) => identificationThresholds('net@1', calibrated, size));
    for (let i = 1; i < at.length; i++) {
      expect(at[i]!.match).toBeGreaterThan(at[i - 1]!.match);
      for (const g of ['certain', 'probable', 'possible'] as const) expect(at[i]!.grades[g].minScore).toBeGreaterThan(at[i - 1]!.grades[g].minScore);
    }
    for (const t of at) {
      expect(t.match).toBe(t.grades.probable.minScore);
      expect(t.grades.certain.minScore).toBeGreaterThan(t.grades.probable.minScore);
      expect(t.grades.probable.minScore).toBeGreaterThan(t.grades.possible.minScore);
    }
    // a one-patient gallery is a 1:1 comparison: the same threshold as verification's at the same rate
    expect(at[0]!.match).toBeCloseTo(calibrated.match, 3);
    // an empty gallery is sized as one patient
    expect(identificationThresholds('net@1', calibrated, 0)).toEqual(at[0]);
  });

  it('reads measured rates from the measured tail and extrapolates below them with the fitted exponential', () => {
    const tail = calibrated.identification!.impostorTail;
    // 30 false matches are the fewest a rate can be measured with: 1.5e-4 of 200,000 pairs; 1e-4 is too few
    expect(Object.keys(tail.scoresAtFmr)).toContain('0.0002');
    expect(Object.keys(tail.scoresAtFmr)).not.toContain('0.0001');
    expect(tail.exponential.exceedances).toBe(1000);
    expect(tail.exponential.scale).toBeCloseTo(SCALE, 3);
    for (const fmr of [0.01, 0.003, 0.0005]) {
      const at = impostorScoreAt(tail, fmr);
      expect(at.extrapolated).toBe(false);
      expect(at.score).toBeCloseTo(trueScoreAt(fmr), 3);
    }
    for (const fmr of [1e-5, 1e-7, 1e-9]) {
      const at = impostorScoreAt(tail, fmr);
      expect(at.extrapolated).toBe(true);
      expect(Math.abs(at.score - trueScoreAt(fmr))).toBeLessThan(0.01);
    }
    const sized = identificationThresholds('net@1', calibrated, 1_000_000);
    expect(sized.grades.probable).toMatchObject({ fpir: 0.001, extrapolated: true });
    // 1 − 0.999^(1e-6) ≈ 1.0005e-9 per comparison
    expect(sized.grades.probable.fmr / 1e-9).toBeCloseTo(1.0005, 4);
  });

  it('grades a score differently in a small and a large gallery, with the meaning of each grade kept', () => {
    const small = identificationThresholds('net@1', calibrated, 10);
    const large = identificationThresholds('net@1', calibrated, 100_000);
    const score = (small.match + small.grades.certain.minScore) / 2;
    expect(decide(score, small)).toMatchObject({ match: true, grade: 'probable' });
    expect(decide(score, large).match).toBe(false);
    // the grades stand for the same rates as the verification grades, per search instead of per comparison
    expect([large.grades.certain.fpir, large.grades.probable.fpir, large.grades.possible.fpir]).toEqual([
      calibrated.grades.certain.fmr,
      calibrated.grades.probable.fmr,
      calibrated.grades.possible.fmr,
    ]);
  });

  it('THRESHOLDS_MISSING for a model calibrated before identification was', () => {
    const { identification: _, ...old } = calibrated;
    expect(() => identificationThresholds('net@1', old, 10)).toThrow(expect.objectContaining({ code: 'THRESHOLDS_MISSING' }));
  });
});
