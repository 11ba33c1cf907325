import { describe, expect, it } from 'vitest';
import { fuseViews } from '../../src/identity/fusion.js';
import { similarity } from '../../src/identity/match.js';

const MODEL = 'test-net@1';
const emb = (...v: number[]) => ({ model: MODEL, vector: Float32Array.from(v) });

describe('fuseViews', () => {
  it('is the normalised mean of the normalised views: a long vector weighs no more than a short one', () => {
    const fused = fuseViews([emb(10, 0), emb(0, 1)], 2);
    expect(fused.model).toBe(MODEL);
    expect(fused.vector[0]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(fused.vector[1]).toBeCloseTo(Math.SQRT1_2, 6);
  });

  it('takes the first views only, best first', () => {
    const ranked = [emb(1, 0, 0), emb(0, 1, 0), emb(0, 0, 1)];
    expect(Array.from(fuseViews(ranked, 1).vector)).toEqual([1, 0, 0]);
    const two = fuseViews(ranked, 2);
    expect(two.vector[2]).toBe(0);
    expect(similarity(two, emb(1, 1, 0))).toBeCloseTo(1, 6);
    // asking for more views than there are uses them all
    expect(similarity(fuseViews(ranked, 10), emb(1, 1, 1))).toBeCloseTo(1, 6);
  });

  it('averages out what differs between views of one face, keeping what they share', () => {
    // a shared direction plus per-view noise in orthogonal directions: the mean is nearer the shared one than any view
    const views = [emb(1, 0.6, 0, 0), emb(1, 0, 0.6, 0), emb(1, 0, 0, 0.6)];
    const face = emb(1, 0, 0, 0);
    const fused = fuseViews(views, 3);
    for (const v of views) expect(similarity(fused, face)).toBeGreaterThan(similarity(v, face));
  });

  it('refuses mixed models, no view and a view count below one', () => {
    expect(() => fuseViews([emb(1, 0), { model: 'other-net@1', vector: Float32Array.from([1, 0]) }], 2)).toThrow(expect.objectContaining({ code: 'MODEL_MISMATCH' }));
    expect(() => fuseViews([], 3)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => fuseViews([emb(1, 0)], 0)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => fuseViews([emb(1, 0), emb(1, 0, 0)], 2)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
