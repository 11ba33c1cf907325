import { MedfaceError } from '../errors.js';

/**
 * Biometric performance measures (ISO/IEC 19795-1 terms) over similarity scores, where a comparison is
 * accepted when its score is ≥ the threshold. Genuine scores come from same-identity pairs, impostor
 * scores from different-identity pairs. FMR = impostors accepted / impostors; FNMR = genuines rejected /
 * genuines; for verification FAR ≡ FMR and TAR ≡ 1 − FNMR.
 */

/**
 * Every distinct operating point of a score set, from the strictest threshold (+∞: nothing accepted) to
 * the most lenient (the lowest score: everything accepted). Counts rather than rates so that accuracy and
 * rates are exact; typed arrays because calibration sweeps over a million impostor pairs.
 */
export interface ErrorCurve {
  genuine: number;
  impostor: number;
  /** Threshold of each point, strictly decreasing; the first is +Infinity. */
  threshold: Float64Array;
  /** Genuine scores ≥ threshold. */
  genuineAccepted: Uint32Array;
  /** Impostor scores ≥ threshold. */
  impostorAccepted: Uint32Array;
}

export function errorCurve(genuineScores: ArrayLike<number>, impostorScores: ArrayLike<number>): ErrorCurve {
  if (genuineScores.length === 0) throw new MedfaceError('INVALID_DATASET', 'no genuine scores: cannot measure error rates');
  if (impostorScores.length === 0) throw new MedfaceError('INVALID_DATASET', 'no impostor scores: cannot measure error rates');
  return curveOf(genuineScores, impostorScores, genuineScores.length, impostorScores.length);
}

/**
 * The error curve of `genuineTotal` genuine and `impostorTotal` impostor comparisons of which only those with
 * the scores given can ever be accepted (the others are rejected at every threshold: open-set searches that
 * miss their mate or found no face).
 */
export function curveOf(genuineScores: ArrayLike<number>, impostorScores: ArrayLike<number>, genuineTotal: number, impostorTotal: number): ErrorCurve {
  const g = sortedDescending(genuineScores, 'genuine');
  const im = sortedDescending(impostorScores, 'impostor');
  if (genuineTotal < g.length || impostorTotal < im.length) throw new MedfaceError('INVALID_ARGUMENT', 'more scores than comparisons');
  const n = distinctCount(g, im) + 1;
  const threshold = new Float64Array(n);
  const genuineAccepted = new Uint32Array(n);
  const impostorAccepted = new Uint32Array(n);
  threshold[0] = Infinity;
  let gi = 0;
  let ii = 0;
  for (let p = 1; p < n; p++) {
    const t = Math.max(gi < g.length ? g[gi]! : -Infinity, ii < im.length ? im[ii]! : -Infinity);
    while (gi < g.length && g[gi] === t) gi++;
    while (ii < im.length && im[ii] === t) ii++;
    threshold[p] = t;
    genuineAccepted[p] = gi;
    impostorAccepted[p] = ii;
  }
  return { genuine: genuineTotal, impostor: impostorTotal, threshold, genuineAccepted, impostorAccepted };
}

export function fmrAt(curve: ErrorCurve, point: number): number {
  return curve.impostorAccepted[point]! / curve.impostor;
}

export function fnmrAt(curve: ErrorCurve, point: number): number {
  return 1 - curve.genuineAccepted[point]! / curve.genuine;
}

/**
 * Area under the ROC curve (trapezoids between operating points, so tied scores count one half). Summed
 * in whole counts and divided once, so a perfect separation gives exactly 1.
 */
export function auc(curve: ErrorCurve): number {
  let twiceArea = 0;
  for (let p = 1; p < curve.threshold.length; p++) {
    const impostorsAdded = curve.impostorAccepted[p]! - curve.impostorAccepted[p - 1]!;
    twiceArea += impostorsAdded * (curve.genuineAccepted[p]! + curve.genuineAccepted[p - 1]!);
  }
  return twiceArea / (2 * curve.genuine * curve.impostor);
}

/**
 * Equal error rate: where FMR = FNMR on the curve joining consecutive operating points by straight
 * lines. Exact when some threshold gives equal rates; otherwise interpolated on the crossing segment.
 */
export function eer(curve: ErrorCurve): number {
  let prevFmr = 0;
  let prevFnmr = 1;
  for (let p = 1; p < curve.threshold.length; p++) {
    const fmr = fmrAt(curve, p);
    const fnmr = fnmrAt(curve, p);
    const d = fnmr - fmr;
    if (d <= 0) {
      if (d === 0) return fmr;
      const prevD = prevFnmr - prevFmr;
      const lambda = prevD / (prevD - d);
      return prevFmr + lambda * (fmr - prevFmr);
    }
    prevFmr = fmr;
    prevFnmr = fnmr;
  }
  // unreachable for non-empty sets: the last point accepts everything (FMR 1, FNMR 0)
  return prevFmr;
}

/** FMR and FNMR when accepting scores ≥ threshold. */
export function errorRates(genuineScores: ArrayLike<number>, impostorScores: ArrayLike<number>, threshold: number): { fmr: number; fnmr: number } {
  let fm = 0;
  for (let i = 0; i < impostorScores.length; i++) if (impostorScores[i]! >= threshold) fm++;
  let fnm = 0;
  for (let i = 0; i < genuineScores.length; i++) if (genuineScores[i]! < threshold) fnm++;
  return {
    fmr: impostorScores.length ? fm / impostorScores.length : NaN,
    fnmr: genuineScores.length ? fnm / genuineScores.length : NaN,
  };
}

/**
 * The largest number of false matches a target rate allows among `impostors` comparisons. The tiny
 * relative slack keeps products like 0.29 × 100 = 28.999999999999996 from losing a whole comparison.
 */
export function allowedFalseMatches(fmr: number, impostors: number): number {
  return Math.floor(fmr * impostors * (1 + 1e-12));
}

/**
 * The lowest decision threshold whose false-match rate on these impostor scores is ≤ `fmr`: it lies
 * halfway between the highest impostor score that must be rejected and the next higher distinct score,
 * so exactly the allowed number of impostors (or fewer, when scores tie) reaches it.
 */
export function thresholdAtFmr(impostorScores: ArrayLike<number>, fmr: number): number {
  if (impostorScores.length === 0) throw new MedfaceError('INVALID_DATASET', 'no impostor scores: cannot measure error rates');
  const im = sortedDescending(impostorScores, 'impostor');
  const k = allowedFalseMatches(fmr, im.length);
  if (k >= im.length) return im[im.length - 1]!;
  const rejected = im[k]!;
  let above = k - 1;
  while (above >= 0 && im[above] === rejected) above--;
  return above >= 0 ? (rejected + im[above]!) / 2 : nextUp(rejected);
}

/**
 * True accept rate at a false accept rate: the largest share of genuine pairs accepted by any threshold
 * whose FAR on these impostors is ≤ `far`. With N impostors, rates below 1/N are measured as FAR 0.
 */
export function tarAtFar(curve: ErrorCurve, far: number): number {
  return curve.genuineAccepted[pointAtFar(curve, far)]! / curve.genuine;
}

/** The most lenient operating point whose FAR on these impostors is ≤ `far` (index into the curve). */
export function pointAtFar(curve: ErrorCurve, far: number): number {
  const k = allowedFalseMatches(far, curve.impostor);
  let point = 0;
  for (let p = 0; p < curve.threshold.length; p++) {
    if (curve.impostorAccepted[p]! > k) break;
    point = p;
  }
  return point;
}

/**
 * Best-threshold verification accuracy. Pairs that could not be scored (a failure to acquire on either
 * image) count as errors whatever the threshold, so they are added to the denominator only.
 */
export function bestAccuracy(curve: ErrorCurve, unscoredPairs = 0): { accuracy: number; threshold: number } {
  const total = curve.genuine + curve.impostor + unscoredPairs;
  let best = -1;
  let threshold = Infinity;
  for (let p = 0; p < curve.threshold.length; p++) {
    const correct = curve.genuineAccepted[p]! + (curve.impostor - curve.impostorAccepted[p]!);
    if (correct > best) {
      best = correct;
      threshold = curve.threshold[p]!;
    }
  }
  return { accuracy: total ? best / total : NaN, threshold };
}

export interface DetPoint {
  threshold: number;
  fmr: number;
  fnmr: number;
}

/** The curve as (FMR, FNMR) points, e.g. for a DET plot. */
export function detPoints(curve: ErrorCurve): DetPoint[] {
  const out: DetPoint[] = [];
  for (let p = 0; p < curve.threshold.length; p++) out.push({ threshold: curve.threshold[p]!, fmr: fmrAt(curve, p), fnmr: fnmrAt(curve, p) });
  return out;
}

function sortedDescending(scores: ArrayLike<number>, what: string): Float64Array {
  const a = Float64Array.from(scores);
  for (const s of a) if (!Number.isFinite(s)) throw new MedfaceError('INVALID_ARGUMENT', `${what} scores must be finite numbers`);
  return a.sort().reverse();
}

function distinctCount(a: Float64Array, b: Float64Array): number {
  let n = 0;
  let i = 0;
  let j = 0;
  let last = NaN;
  while (i < a.length || j < b.length) {
    const v = j >= b.length || (i < a.length && a[i]! >= b[j]!) ? a[i++]! : b[j++]!;
    if (v !== last) n++;
    last = v;
  }
  return n;
}

/** The smallest double greater than x. */
function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  view.setBigUint64(0, x > 0 ? bits + 1n : bits - 1n);
  return view.getFloat64(0);
}
