import { describe, expect, it } from 'vitest';
import { applyHomography, fitHomography, transferError, type Homography } from '../../src/liveness/geometry.js';

const grid = Array.from({ length: 25 }, (_, i) => ({ x: 100 + (i % 5) * 30, y: 80 + Math.floor(i / 5) * 35 }));

describe('fitHomography', () => {
  it('recovers a perspective map from exact correspondences', () => {
    const h: Homography = [0.9, 0.1, 12, -0.05, 1.1, -7, 0.0006, -0.0004, 1];
    const moved = grid.map((p) => applyHomography(h, p));
    const fitted = fitHomography(grid, moved);
    for (let i = 0; i < 9; i++) expect(fitted[i]).toBeCloseTo(h[i]!, 6);
    expect(transferError(fitted, grid, moved)).toBeLessThan(1e-6);
  });

  it('cannot explain parallax: points at different depths rotated in 3-D leave a residual', () => {
    // A bump in the middle (a nose) on a plane, turned 25° about the vertical axis and projected.
    const depth = (p: { x: number; y: number }): number => -60 * Math.exp(-((p.x - 160) ** 2 + (p.y - 150) ** 2) / 2000);
    const a = (25 * Math.PI) / 180;
    const turned = grid.map((p) => ({ x: 160 + (p.x - 160) * Math.cos(a) - depth(p) * Math.sin(a), y: p.y }));
    const flat = grid.map((p) => ({ x: 160 + (p.x - 160) * Math.cos(a), y: p.y }));
    expect(transferError(fitHomography(grid, flat), grid, flat)).toBeLessThan(1e-6);
    expect(transferError(fitHomography(grid, turned), grid, turned)).toBeGreaterThan(3);
  });

  it('refuses fewer than four points', () => {
    expect(() => fitHomography(grid.slice(0, 3), grid.slice(0, 3))).toThrow(RangeError);
  });
});
