import { describe, expect, it } from 'vitest';
import { errorCurve } from '../../src/evaluation/metrics.js';
import { probit, renderReport } from '../../src/evaluation/report.js';

describe('renderReport', () => {
  const genuine = Array.from({ length: 200 }, (_, i) => 0.5 + (i % 50) / 100);
  const impostor = Array.from({ length: 5000 }, (_, i) => -0.2 + (i % 90) / 100);
  const html = renderReport({
    title: 'lfw <dev> & co',
    summary: [
      ['pairs', 5200],
      ['AUC', 0.987654321],
    ],
    curve: errorCurve(genuine, impostor),
    genuine,
    impostor,
    threshold: { value: 0.45, label: 'match' },
    fairness: {
      column: 'condition',
      threshold: 0.45,
      groups: [{ group: 'glasses', genuinePairs: 3, impostorPairs: 4, failedPairs: 0, fmr: 0.25, fnmr: 0 }],
      fmr_ratio: 1,
      fnmr_ratio: null,
    },
    footer: 'medface evaluate set --out dir',
  });

  it('is a self-contained page with ROC, DET and histogram SVGs', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.match(/<svg /g)).toHaveLength(3);
    expect(html.match(/<polyline /g)!.length).toBeGreaterThanOrEqual(2);
    expect(html).toContain('<rect x=');
    expect(html).not.toMatch(/<script|<link|src=|href=/);
  });

  it('escapes text and formats the summary and group tables', () => {
    expect(html).toContain('<title>lfw &lt;dev&gt; &amp; co</title>');
    expect(html).toContain('<td>0.9877</td>');
    expect(html).toContain('<td>5200</td>');
    expect(html).toContain('By condition');
    expect(html).toContain('FNMR unbounded (best group 0)');
  });
});

describe('probit', () => {
  it('inverts the standard normal CDF', () => {
    expect(probit(0.5)).toBeCloseTo(0, 9);
    expect(probit(0.975)).toBeCloseTo(1.959964, 5);
    expect(probit(0.001)).toBeCloseTo(-3.090232, 5);
    expect(probit(0)).toBe(-Infinity);
  });
});
