import { describe, expect, it } from 'vitest';
import { decide, similarity } from '../../src/identity/match.js';
import type { ModelThresholds } from '../../src/identity/thresholds.js';

const MODEL = 'test-net@1';
const emb = (...v: number[]) => ({ model: MODEL, vector: Float32Array.from(v) });

describe('similarity', () => {
  it('is the cosine of the two vectors, whatever their lengths', () => {
    expect(similarity(emb(1, 0), emb(1, 0))).toBe(1);
    expect(similarity(emb(3, 4), emb(6, 8))).toBeCloseTo(1, 7);
    expect(similarity(emb(1, 0), emb(0, 1))).toBe(0);
    expect(similarity(emb(1, 0), emb(-2, 0))).toBe(-1);
    expect(similarity(emb(1, 1), emb(1, 0))).toBeCloseTo(Math.SQRT1_2, 7);
  });

  it('refuses to compare embeddings of different models', () => {
    expect(() => similarity(emb(1, 0), { model: 'other-net@1', vector: Float32Array.from([1, 0]) })).toThrow(expect.objectContaining({ code: 'MODEL_MISMATCH' }));
  });

  it('refuses vectors of different lengths', () => {
    expect(() => similarity(emb(1, 0), emb(1, 0, 0))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('decide', () => {
  const thresholds = {
    match: 0.6,
    fmr: 0.001,
    thresholdsAtFmr: { '0.01': 0.5, '0.001': 0.6, '0.0001': 0.7 },
    grades: { certain: { minScore: 0.7, fmr: 0.0001 }, probable: { minScore: 0.6, fmr: 0.001 }, possible: { minScore: 0.5, fmr: 0.01 } },
  } as unknown as ModelThresholds;

  it.each([
    [0.95, true, 'certain'],
    [0.7, true, 'certain'],
    [0.69, true, 'probable'],
    [0.6, true, 'probable'],
    [0.59, false, 'possible'],
    [0.5, false, 'possible'],
    [0.49, false, 'certainly-not'],
    [-1, false, 'certainly-not'],
  ])('score %d -> match %s, grade %s', (score, match, grade) => {
    expect(decide(score, thresholds)).toEqual({ match, grade, threshold: 0.6 });
  });

  it('refuses a score that is not a number', () => {
    expect(() => decide(NaN, thresholds)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
