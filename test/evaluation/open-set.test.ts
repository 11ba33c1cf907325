import { describe, expect, it } from 'vitest';
import {
  extrapolate,
  fitTail,
  gallerySizeCurve,
  modelledFpir,
  modelledThreshold,
  openSetCurve,
  openSetMeasures,
  openSetRatesAt,
  scoreMatrix,
  searchOutcomes,
  tailFmr,
} from '../../src/evaluation/open-set.js';

/** One-dimensional "embeddings": the closer two numbers, the more similar. */
const near = (a: number, b: number) => -Math.abs(a - b);

const gallery = [
  { identity: 'a', vectors: [0] },
  { identity: 'b', vectors: [10] },
  // two gallery images: the identity scores with the better one
  { identity: 'c', vectors: [20, 21] },
  // enrolled, but its gallery image had no face
  { identity: 'd', vectors: [] },
];
const searches = [
  { identity: 'a', vector: 1, mated: true },
  { identity: 'b', vector: 4, mated: true },
  { identity: 'c', vector: 19, mated: true },
  { identity: 'd', vector: 5, mated: true },
  { identity: 'a', vector: null, mated: true },
  { identity: 'e', vector: 30, mated: false },
];

describe('open-set searches', () => {
  const matrix = scoreMatrix(gallery, searches, near);

  it('ranks each mated search’s mate and takes each non-mated search’s top score without its own identity', () => {
    const o = searchOutcomes(matrix);
    expect(o.gallery).toBe(4);
    expect(o.mated).toEqual([
      { rank: 1, score: -1 },
      // a (−4) outranks b’s own −6
      { rank: 2, score: -6 },
      { rank: 1, score: -1 },
      // d has no usable gallery image; the faceless search cannot find anyone
      { rank: null, score: NaN },
      { rank: null, score: NaN },
    ]);
    expect(o.nonmated).toEqual([-9, -4, -9, -5, null, -9]);
  });

  it('counts a tie with another identity against the mate', () => {
    const o = searchOutcomes(
      scoreMatrix(
        [
          { identity: 'a', vectors: [0] },
          { identity: 'b', vectors: [2] },
        ],
        [{ identity: 'a', vector: 1, mated: true }],
        near,
      ),
    );
    expect(o.mated).toEqual([{ rank: 2, score: -1 }]);
  });

  it('measures FNIR at FPIR, rank-1 and the CMC', () => {
    const o = searchOutcomes(matrix);
    const m = openSetMeasures(o);
    expect(m.mated).toBe(5);
    expect(m.nonmated).toBe(6);
    expect(m.rank1).toBeCloseTo(2 / 5, 12);
    expect(m.cmc['5']).toBeCloseTo(3 / 5, 12);
    // 6 non-mated searches: FPIR ≤ 1% allows none, so the threshold must clear the highest non-mated score (−4);
    // both rank-1 hits (−1) still pass, the three other mated searches never do
    expect(m.fnir_at_fpir['0.01']).toBeCloseTo(3 / 5, 12);
    expect(m.threshold_at_fpir['0.01']).toBe(-1);
    const curve = openSetCurve(o);
    expect(curve.genuine).toBe(5);
    expect(curve.impostor).toBe(6);
  });

  it('gives FPIR and FNIR at a fixed threshold, faceless searches in the denominators', () => {
    const o = searchOutcomes(matrix);
    expect(openSetRatesAt(o, -5)).toEqual({ fpir: 2 / 6, fnir: 1 - 2 / 5 });
    expect(openSetRatesAt(o, -0.5)).toEqual({ fpir: 0, fnir: 1 });
  });

  it('a sub-gallery holds only its members: searches of others become non-mated only', () => {
    const o = searchOutcomes(matrix, [0, 1]);
    expect(o.gallery).toBe(2);
    expect(o.mated).toEqual([
      { rank: 1, score: -1 },
      { rank: 2, score: -6 },
      { rank: null, score: NaN },
    ]);
    expect(o.nonmated).toEqual([-9, -4, -9, -5, null, -20]);
  });
});

describe('gallery-size curve', () => {
  // 60 identities on a line, one gallery image each and one search each near it
  const people = Array.from({ length: 60 }, (_, i) => i);
  const matrix = scoreMatrix(
    people.map((i) => ({ identity: `p${i}`, vectors: [i * 10] })),
    people.map((i) => ({ identity: `p${i}`, vector: i * 10 + 3, mated: true })),
    near,
  );

  it('measures the whole gallery once and random sub-galleries of each smaller size, the same on every run', () => {
    const curve = gallerySizeCurve(matrix, [10, 30, 100], 4, undefined);
    expect(curve.map((p) => [p.gallery, p.draws])).toEqual([
      [10, 4],
      [30, 4],
      [60, 1],
    ]);
    expect(curve[0]!.mated).toBe(10);
    const whole = openSetMeasures(searchOutcomes(matrix));
    expect(curve[2]!.fnir_at_fpir).toEqual(whole.fnir_at_fpir);
    expect(gallerySizeCurve(matrix, [10, 30, 100], 4, undefined)).toEqual(curve);
  });
});

describe('impostor tail', () => {
  // the exact quantiles of an exponential distribution of scale 1: FMR(t) = exp(−t)
  const n = 100_000;
  const scores = Float64Array.from({ length: n }, (_, i) => -Math.log((i + 1) / (n + 1)));

  it('fits an exponential tail: its scale and the FMR beyond the data’s reach', () => {
    const tail = fitTail(scores, 0.01)!;
    expect(tail.exceedances).toBe(1000);
    expect(tail.u).toBeCloseTo(Math.log(100), 1);
    expect(tail.sigma).toBeCloseTo(1, 1);
    // one decade further out than the data reaches
    expect(tailFmr(tail, Math.log(1e6)) / 1e-6).toBeGreaterThan(0.9);
    expect(tailFmr(tail, Math.log(1e6)) / 1e-6).toBeLessThan(1.1);
  });

  it('turns FMR into FPIR for a gallery of n, and back into a threshold', () => {
    const tail = fitTail(scores, 0.01)!;
    const t = Math.log(1e5);
    const fmr = tailFmr(tail, t);
    expect(modelledFpir(tail, 1000, t)).toBeCloseTo(1 - (1 - fmr) ** 1000, 12);
    expect(modelledThreshold(tail, 1000, modelledFpir(tail, 1000, t))).toBeCloseTo(t, 9);
    // a larger gallery needs a higher threshold for the same FPIR
    expect(modelledThreshold(tail, 1_000_000, 0.01)!).toBeGreaterThan(modelledThreshold(tail, 1000, 0.01)!);
    // an FMR above the fitted tail is not the model's to answer
    expect(modelledThreshold(tail, 1, 0.5)).toBeUndefined();
  });

  it('refuses a tail with fewer than 30 scores in it', () => {
    expect(fitTail(scores.subarray(0, 2999), 0.01)).toBeUndefined();
    expect(fitTail(scores.subarray(0, 3000), 0.01)).toBeDefined();
  });

  it('extrapolates to hospital-sized galleries, with the measured searches’ FNIR at each modelled threshold', () => {
    const tail = fitTail(scores, 0.01)!;
    const m = scoreMatrix(
      [
        { identity: 'a', vectors: [0] },
        { identity: 'b', vectors: [100] },
      ],
      [{ identity: 'a', vector: 1, mated: true }],
      (x, y) => 20 - Math.abs(x - y),
    );
    const points = extrapolate(tail, searchOutcomes(m));
    expect(points.map((p) => p.gallery)).toEqual([10_000, 100_000, 1_000_000]);
    // the mate scores 19, above each size's threshold (about ln(N / 0.01): 13.8, 16.1, 18.4)
    for (const p of points) {
      const t = p.threshold_at_fpir['0.01']!;
      expect(t).toBeCloseTo(Math.log(p.gallery / 0.01), 0);
      expect(p.fnir_at_threshold['0.01']).toBe(t <= 19 ? 0 : 1);
    }
  });
});
