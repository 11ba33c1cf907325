import { describe, expect, it } from 'vitest';
import { percentile } from '../../src/services/evaluation/bench.js';

describe('percentile', () => {
  it('is the nearest-rank percentile', () => {
    const v = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect(percentile(v, 0.5)).toBe(5);
    expect(percentile(v, 0.95)).toBe(10);
    expect(percentile(v, 0.1)).toBe(1);
    expect(percentile([42], 0.95)).toBe(42);
    expect(percentile([], 0.5)).toBeNaN();
  });
});
