import { describe, expect, it } from 'vitest';
import { allowedFalseMatches, auc, bestAccuracy, detPoints, eer, errorCurve, errorRates, tarAtFar, thresholdAtFmr } from '../../src/evaluation/metrics.js';

const thousandImpostors = Array.from({ length: 1000 }, (_, i) => i / 1000);

describe('verification metrics', () => {
  it('perfect separation: AUC 1, EER 0, accuracy 1 at the lowest genuine score', () => {
    const curve = errorCurve([0.8, 0.9, 0.95], [0.1, 0.2, 0.3]);
    expect(auc(curve)).toBe(1);
    expect(eer(curve)).toBe(0);
    expect(bestAccuracy(curve)).toEqual({ accuracy: 1, threshold: 0.8 });
    expect(tarAtFar(curve, 0.01)).toBe(1);
  });

  it('complete inversion: AUC 0, EER 1', () => {
    const curve = errorCurve([0.1, 0.2], [0.8, 0.9]);
    expect(auc(curve)).toBe(0);
    expect(eer(curve)).toBe(1);
  });

  it('known overlap: one impostor above one genuine', () => {
    // genuine 0.6 lies below impostor 0.65: 15 of 16 genuine/impostor orderings are right;
    // accepting >= 0.6 or >= 0.65 errs once on each side -> EER exactly 1/4
    const curve = errorCurve([0.6, 0.7, 0.8, 0.9], [0.1, 0.2, 0.3, 0.65]);
    expect(auc(curve)).toBe(15 / 16);
    expect(eer(curve)).toBe(0.25);
    expect(bestAccuracy(curve)).toEqual({ accuracy: 7 / 8, threshold: 0.7 });
    // two pairs without a face are errors at every threshold
    expect(bestAccuracy(curve, 2).accuracy).toBe(7 / 10);
  });

  it('interpolates the EER when no threshold gives equal rates', () => {
    // operating points (FMR, FNMR) go from (0, 1/3) at 0.9 to (1/2, 1/3) at 0.5: the line FMR = FNMR
    // crosses that segment at 1/3
    const curve = errorCurve([0.3, 0.9, 0.95], [0.1, 0.5]);
    expect(eer(curve)).toBeCloseTo(1 / 3, 12);
  });

  it('tied genuine and impostor scores count one half', () => {
    const curve = errorCurve([0.5], [0.5]);
    expect(auc(curve)).toBe(0.5);
    expect(eer(curve)).toBe(0.5);
  });

  it('TAR at FAR allows floor(FAR x impostors) false accepts', () => {
    const curve = errorCurve([0.9955, 0.9985, 0.5, 0.9995], thousandImpostors);
    // FAR 0.1%: one impostor (0.999) may pass -> genuines above 0.998 pass: 2 of 4
    expect(tarAtFar(curve, 0.001)).toBe(0.5);
    // FAR 1%: ten impostors (0.990..0.999) may pass -> 3 of 4
    expect(tarAtFar(curve, 0.01)).toBe(0.75);
  });

  it('FMR and FNMR at a threshold', () => {
    expect(errorRates([0.6, 0.7, 0.8, 0.9], [0.1, 0.2, 0.3, 0.65], 0.65)).toEqual({ fmr: 0.25, fnmr: 0.25 });
    expect(errorRates([0.6, 0.7], [0.7, 0.1], 0.7)).toEqual({ fmr: 0.5, fnmr: 0.5 });
  });

  it('DET points run from nothing accepted to everything accepted', () => {
    const pts = detPoints(errorCurve([0.6, 0.9], [0.1, 0.65]));
    expect(pts[0]).toEqual({ threshold: Infinity, fmr: 0, fnmr: 1 });
    expect(pts.at(-1)).toEqual({ threshold: 0.1, fmr: 1, fnmr: 0 });
    expect(pts.map((p) => p.threshold)).toEqual([Infinity, 0.9, 0.65, 0.6, 0.1]);
  });

  it('refuses empty or non-finite score sets', () => {
    expect(() => errorCurve([], [0.1])).toThrow(expect.objectContaining({ code: 'INVALID_DATASET' }));
    expect(() => errorCurve([NaN], [0.1])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('thresholds at a false-match rate', () => {
  it('lies halfway between the last rejected and the first accepted impostor score', () => {
    // 1% of 1000 = 10 may pass: 0.990..0.999; 0.989 must be rejected
    const t = thresholdAtFmr(thousandImpostors, 0.01);
    expect(t).toBeCloseTo(0.9895, 12);
    expect(errorRates([1], thousandImpostors, t).fmr).toBe(0.01);
  });

  it('never lets tied scores push the rate past the target', () => {
    const t = thresholdAtFmr([0.9, 0.8, 0.8, 0.8, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], 0.2);
    // two may pass, but 0.8 is shared by three: only 0.9 can be accepted
    expect(t).toBeCloseTo(0.85, 12);
    expect(errorRates([1], [0.9, 0.8, 0.8, 0.8, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], t).fmr).toBe(0.1);
    // no false match allowed and the top score is shared: the threshold sits just above it
    const top = thresholdAtFmr([0.5, 0.5], 0.1);
    expect(top).toBeGreaterThan(0.5);
    expect(top).toBeLessThan(0.5 + 1e-15);
  });

  it('rounds the allowed count without losing a comparison to floating point', () => {
    expect(allowedFalseMatches(0.29, 100)).toBe(29);
    expect(allowedFalseMatches(0.001, 500)).toBe(0);
    expect(allowedFalseMatches(1e-4, 1_200_000)).toBe(120);
  });
});
