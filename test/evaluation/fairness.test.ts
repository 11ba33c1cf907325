import { describe, expect, it } from 'vitest';
import { groupRates } from '../../src/evaluation/fairness.js';

describe('groupRates', () => {
  const group: Record<string, string> = { a1: 'light', a2: 'dark', b1: 'light', b2: 'dark', c1: 'light' };
  const pairs = [
    { file1: 'a1', file2: 'a2', same: true, score: 0.9 }, // light+dark, accepted
    { file1: 'b1', file2: 'b2', same: true, score: 0.4 }, // light+dark, rejected
    { file1: 'a1', file2: 'b1', same: false, score: 0.7 }, // light only, false match
    { file1: 'a1', file2: 'c1', same: false, score: 0.1 }, // light only
    { file1: 'a2', file2: 'b2', same: false, score: 0.2 }, // dark only
    { file1: 'a2', file2: 'c1', same: false, score: null }, // no face: counted apart
  ];

  it('counts each pair towards the groups of both its images', () => {
    const r = groupRates(pairs, (f) => group[f]!, 'lighting', 0.5);
    expect(r.column).toBe('lighting');
    expect(r.threshold).toBe(0.5);
    expect(r.groups).toEqual([
      { group: 'dark', genuinePairs: 2, impostorPairs: 1, failedPairs: 1, fmr: 0, fnmr: 0.5 },
      { group: 'light', genuinePairs: 2, impostorPairs: 2, failedPairs: 1, fmr: 0.5, fnmr: 0.5 },
    ]);
    expect(r.fnmr_ratio).toBe(1);
    // best FMR is 0: the ratio is unbounded, reported as null
    expect(r.fmr_ratio).toBeNull();
  });

  it('gives the worst/best ratio when both rates are non-zero', () => {
    const r = groupRates(
      [
        { file1: 'x', file2: 'y', same: true, score: 0.1 },
        { file1: 'x', file2: 'y', same: true, score: 0.9 },
        { file1: 'x', file2: 'y', same: true, score: 0.9 },
        { file1: 'x', file2: 'y', same: true, score: 0.9 },
        { file1: 'z', file2: 'z', same: true, score: 0.1 },
        { file1: 'z', file2: 'z', same: true, score: 0.9 },
      ],
      (f) => (f === 'z' ? 'g2' : 'g1'),
      'c',
      0.5,
    );
    expect(r.groups.map((g) => g.fnmr)).toEqual([0.25, 0.5]);
    expect(r.fnmr_ratio).toBe(2);
    expect(r.fmr_ratio).toBeNull();
  });
});
