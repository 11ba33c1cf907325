import type { FairnessReport } from './fairness.js';
import { fmrAt, fnmrAt, type ErrorCurve } from './metrics.js';
import type { GallerySizePoint } from './open-set.js';

/**
 * A self-contained HTML evaluation report: a summary table, ROC and DET curves and genuine/impostor
 * score histograms as inline SVG, and the per-group table when one was asked for. No scripts, fonts or
 * external assets, so the file can be archived with the run and opened anywhere offline.
 */

export interface ReportInput {
  title: string;
  /** Label and value rows for the summary table, in order. */
  summary: Array<[string, string | number]>;
  curve: ErrorCurve;
  genuine: ArrayLike<number>;
  impostor: ArrayLike<number>;
  /** Decision threshold to mark on the histogram, with what it is. */
  threshold?: { value: number; label: string };
  fairness?: FairnessReport;
  /** Open-set identification: its summary rows, its FNIR/FPIR curve (as openSetCurve builds it) and the gallery-size curve. */
  openSet?: { summary: Array<[string, string | number]>; curve: ErrorCurve; gallerySizes: GallerySizePoint[] };
  /** Reproduction notes: command, date, machine. */
  footer: string;
}

const W = 460;
const H = 340;
const M = { left: 58, right: 16, top: 16, bottom: 46 };
const PLOT_W = W - M.left - M.right;
const PLOT_H = H - M.top - M.bottom;
const GENUINE = '#1b7837';
const IMPOSTOR = '#b2182b';

export function renderReport(input: ReportInput): string {
  const rows = input.summary.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(formatValue(v))}</td></tr>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(input.title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}
table{border-collapse:collapse;margin:8px 0 20px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f4f4f4;font-weight:600}figure{display:inline-block;margin:0 16px 16px 0}
figcaption{font-weight:600;margin-bottom:4px}svg text{font:11px system-ui,sans-serif;fill:#333}
footer{color:#666;font-size:12px;white-space:pre-wrap}
</style></head><body>
<h1>${esc(input.title)}</h1>
<table>${rows}</table>
<figure><figcaption>ROC (log FAR)</figcaption>${rocSvg(input.curve)}</figure>
<figure><figcaption>DET (normal deviate scales)</figcaption>${detSvg(input.curve)}</figure>
<figure><figcaption>Score distributions</figcaption>${histogramSvg(input.genuine, input.impostor, input.threshold)}</figure>
${input.openSet ? openSetSection(input.openSet) : ''}
${input.fairness ? fairnessTable(input.fairness) : ''}
<footer>${esc(input.footer)}</footer>
</body></html>
`;
}

function rocSvg(curve: ErrorCurve): string {
  const lo = rateFloor(curve.impostor);
  const x = (far: number) => M.left + ((Math.log10(Math.max(far, lo)) - Math.log10(lo)) / -Math.log10(lo)) * PLOT_W;
  const y = (tar: number) => M.top + (1 - tar) * PLOT_H;
  const pts: Array<[number, number]> = [];
  for (let p = 0; p < curve.threshold.length; p++) pts.push([x(fmrAt(curve, p)), y(1 - fnmrAt(curve, p))]);
  const xTicks = decades(lo).map((v) => ({ at: x(v), label: percent(v) }));
  const yTicks = [0, 0.2, 0.4, 0.6, 0.8, 1].map((v) => ({ at: y(v), label: v.toFixed(1) }));
  return svg(axes(xTicks, yTicks, 'false accept rate (FAR)', 'true accept rate (TAR)') + polyline(thin(pts), '#2166ac'));
}

function detSvg(curve: ErrorCurve, xLabel = 'false match rate (FMR)', yLabel = 'false non-match rate (FNMR)'): string {
  const lo = Math.min(rateFloor(curve.impostor), rateFloor(curve.genuine));
  const hi = 0.5;
  const span = probit(hi) - probit(lo);
  const x = (r: number) => M.left + ((probit(clamp(r, lo, hi)) - probit(lo)) / span) * PLOT_W;
  const y = (r: number) => M.top + (1 - (probit(clamp(r, lo, hi)) - probit(lo)) / span) * PLOT_H;
  const pts: Array<[number, number]> = [];
  for (let p = 0; p < curve.threshold.length; p++) {
    const fmr = fmrAt(curve, p);
    const fnmr = fnmrAt(curve, p);
    // a zero rate sits at minus infinity on a normal deviate scale
    if (fmr > 0 && fnmr > 0 && fmr <= hi && fnmr <= hi) pts.push([x(fmr), y(fnmr)]);
  }
  const ticks = [...decades(lo), 0.2, 0.5].filter((v) => v >= lo && v <= hi);
  const diagonal = `<line x1="${x(lo)}" y1="${y(lo)}" x2="${x(hi)}" y2="${y(hi)}" stroke="#bbb" stroke-dasharray="4 3"/>`;
  return svg(
    axes(
      ticks.map((v) => ({ at: x(v), label: percent(v) })),
      ticks.map((v) => ({ at: y(v), label: percent(v) })),
      xLabel,
      yLabel,
    ) +
      diagonal +
      (pts.length ? polyline(thin(pts), '#2166ac') : `<text x="${M.left + 10}" y="${M.top + 20}">no point with both rates between ${percent(lo)} and 50%</text>`),
  );
}

function openSetSection(o: NonNullable<ReportInput['openSet']>): string {
  const rows = o.summary.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(formatValue(v))}</td></tr>`).join('');
  const rate = (r: number | null) => (r === null ? 'n/a' : percent(r));
  const sizes = o.gallerySizes
    .map(
      (p) =>
        `<tr><td>${p.gallery}</td><td>${p.draws}</td><td>${p.mated.toFixed(1)}</td><td>${rate(p.rank1)}</td><td>${rate(p.fnir_at_fpir['0.01'])}</td><td>${rate(p.fnir_at_fpir['0.001'])}</td><td>${p.threshold_at_fpir_1pct?.toFixed(4) ?? 'n/a'}</td><td>${rate(p.modelled_fpir_at_threshold)}</td></tr>`,
    )
    .join('');
  return `<h2>Open-set identification</h2>
<table>${rows}</table>
<figure><figcaption>DET of identification (normal deviate scales)</figcaption>${detSvg(o.curve, 'false positive identification rate (FPIR)', 'false negative identification rate (FNIR)')}</figure>
<h3>Gallery size</h3>
<table><tr><th>gallery identities</th><th>draws</th><th>mated searches (mean)</th><th>rank-1</th><th>FNIR at FPIR 1%</th><th>FNIR at FPIR 0.1%</th><th>threshold at FPIR 1%</th><th>modelled FPIR at that threshold</th></tr>${sizes}</table>`;
}

function histogramSvg(genuine: ArrayLike<number>, impostor: ArrayLike<number>, threshold?: { value: number; label: string }): string {
  let [lo, hi] = extent([genuine, impostor]);
  if (threshold) {
    lo = Math.min(lo, threshold.value);
    hi = Math.max(hi, threshold.value);
  }
  if (hi === lo) hi = lo + 1e-6;
  const bins = 50;
  const density = (scores: ArrayLike<number>) => {
    const counts = new Array<number>(bins).fill(0);
    for (let i = 0; i < scores.length; i++) counts[Math.min(bins - 1, Math.floor(((scores[i]! - lo) / (hi - lo)) * bins))]!++;
    return counts.map((c) => (scores.length ? c / scores.length : 0));
  };
  const g = density(genuine);
  const im = density(impostor);
  const top = Math.max(...g, ...im, 1e-9);
  const x = (s: number) => M.left + ((s - lo) / (hi - lo)) * PLOT_W;
  const y = (d: number) => M.top + (1 - d / top) * PLOT_H;
  const barW = PLOT_W / bins;
  const bars = (d: number[], color: string) =>
    d
      .map((v, i) =>
        v > 0
          ? `<rect x="${(M.left + i * barW).toFixed(1)}" y="${y(v).toFixed(1)}" width="${barW.toFixed(1)}" height="${(M.top + PLOT_H - y(v)).toFixed(1)}" fill="${color}" fill-opacity="0.5"/>`
          : '',
      )
      .join('');
  const xTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => lo + f * (hi - lo)).map((v) => ({ at: x(v), label: v.toFixed(2) }));
  const yTicks = [0, 0.5, 1].map((f) => ({ at: y(f * top), label: (f * top).toFixed(3) }));
  // the label goes on whichever side of the line has room
  const labelLeft = threshold !== undefined && x(threshold.value) > M.left + PLOT_W / 2;
  const mark = threshold
    ? `<line x1="${x(threshold.value)}" y1="${M.top}" x2="${x(threshold.value)}" y2="${M.top + PLOT_H}" stroke="#000" stroke-dasharray="5 3"/>` +
      `<text x="${x(threshold.value) + (labelLeft ? -4 : 4)}" y="${M.top + 12}" text-anchor="${labelLeft ? 'end' : 'start'}">${esc(threshold.label)} ${threshold.value.toFixed(3)}</text>`
    : '';
  const legend =
    `<rect x="${M.left + 8}" y="${M.top + 22}" width="10" height="10" fill="${GENUINE}" fill-opacity="0.5"/><text x="${M.left + 22}" y="${M.top + 31}">genuine (${genuine.length})</text>` +
    `<rect x="${M.left + 8}" y="${M.top + 38}" width="10" height="10" fill="${IMPOSTOR}" fill-opacity="0.5"/><text x="${M.left + 22}" y="${M.top + 47}">impostor (${impostor.length})</text>`;
  return svg(axes(xTicks, yTicks, 'similarity', 'share of pairs per bin') + bars(im, IMPOSTOR) + bars(g, GENUINE) + mark + legend);
}

function fairnessTable(f: FairnessReport): string {
  const rate = (r: number | null) => (r === null ? 'n/a' : percent(r));
  const ratio = (r: number | null) => (r === null ? 'unbounded (best group 0)' : r.toFixed(2));
  const rows = f.groups
    .map((g) => `<tr><td>${esc(g.group)}</td><td>${g.genuinePairs}</td><td>${g.impostorPairs}</td><td>${g.failedPairs}</td><td>${rate(g.fmr)}</td><td>${rate(g.fnmr)}</td></tr>`)
    .join('');
  return `<h2>By ${esc(f.column)} at threshold ${f.threshold.toFixed(4)}</h2>
<table><tr><th>${esc(f.column)}</th><th>genuine pairs</th><th>impostor pairs</th><th>failed pairs</th><th>FMR</th><th>FNMR</th></tr>${rows}</table>
<p>Worst/best group ratio: FMR ${ratio(f.fmr_ratio)}, FNMR ${ratio(f.fnmr_ratio)}.</p>`;
}

interface Tick {
  at: number;
  label: string;
}

function axes(xTicks: Tick[], yTicks: Tick[], xLabel: string, yLabel: string): string {
  const x0 = M.left;
  const y0 = M.top + PLOT_H;
  const grid =
    xTicks
      .map(
        (t) => `<line x1="${t.at.toFixed(1)}" y1="${M.top}" x2="${t.at.toFixed(1)}" y2="${y0}" stroke="#eee"/><text x="${t.at.toFixed(1)}" y="${y0 + 14}" text-anchor="middle">${esc(t.label)}</text>`,
      )
      .join('') +
    yTicks
      .map(
        (t) =>
          `<line x1="${x0}" y1="${t.at.toFixed(1)}" x2="${x0 + PLOT_W}" y2="${t.at.toFixed(1)}" stroke="#eee"/><text x="${x0 - 4}" y="${(t.at + 4).toFixed(1)}" text-anchor="end">${esc(t.label)}</text>`,
      )
      .join('');
  return (
    grid +
    `<rect x="${x0}" y="${M.top}" width="${PLOT_W}" height="${PLOT_H}" fill="none" stroke="#888"/>` +
    `<text x="${x0 + PLOT_W / 2}" y="${H - 8}" text-anchor="middle">${esc(xLabel)}</text>` +
    `<text transform="translate(14 ${M.top + PLOT_H / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`
  );
}

function svg(body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${body}</svg>`;
}

function polyline(pts: Array<[number, number]>, color: string): string {
  return `<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ')}"/>`;
}

/** Drops points closer than half a pixel to the last kept one: a million-pair curve stays a small file. */
function thin(pts: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const p of pts) {
    const last = out[out.length - 1];
    if (!last || Math.abs(p[0] - last[0]) >= 0.5 || Math.abs(p[1] - last[1]) >= 0.5) out.push(p);
  }
  const end = pts[pts.length - 1];
  if (end && out[out.length - 1] !== end) out.push(end);
  return out;
}

/** The lowest rate worth drawing: a decade below one error in n comparisons, at most 1e-6. */
function rateFloor(n: number): number {
  return Math.max(1e-6, 10 ** Math.floor(Math.log10(1 / Math.max(n, 1))));
}

function decades(lo: number): number[] {
  const out: number[] = [];
  for (let e = Math.round(Math.log10(lo)); e <= 0; e++) out.push(10 ** e);
  return out;
}

function percent(r: number): string {
  const p = r * 100;
  return `${p >= 1 ? +p.toFixed(1) : +p.toPrecision(2)}%`;
}

function formatValue(v: string | number): string {
  return typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : v;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/** Smallest and largest value; a loop because Math.min(...a) overflows the stack on a million scores. */
function extent(arrays: Array<ArrayLike<number>>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) {
      lo = Math.min(lo, a[i]!);
      hi = Math.max(hi, a[i]!);
    }
  }
  return [lo, hi];
}

/**
 * Inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9): the
 * axis scale of a DET plot, on which normally distributed scores give straight lines.
 */
export function probit(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - low) return -probit(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
