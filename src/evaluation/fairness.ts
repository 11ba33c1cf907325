import { MedfaceError } from '../errors.js';

/**
 * Differential performance across groups (ISO/IEC 19795-10 in spirit, ISO/IEC 19795-1 terms): FMR and
 * FNMR for each value of a manifest column at one decision threshold, and how far apart the groups are.
 */

export interface ScoredPair {
  file1: string;
  file2: string;
  same: boolean;
  /** null when either image had no usable face (failure to acquire). */
  score: number | null;
}

export interface GroupRates {
  group: string;
  genuinePairs: number;
  impostorPairs: number;
  /** Pairs of this group that could not be compared; excluded from FMR and FNMR, as ISO/IEC 19795-1 defines them. */
  failedPairs: number;
  fmr: number | null;
  fnmr: number | null;
}

export interface FairnessReport {
  column: string;
  threshold: number;
  groups: GroupRates[];
  /** Highest group FMR / lowest group FMR; null when the lowest is 0 and the highest is not (unbounded). */
  fmr_ratio: number | null;
  fnmr_ratio: number | null;
}

/**
 * A pair counts towards the group of each of its two images (once when both share it): with a
 * condition column such as Yale's, genuine pairs always join two different conditions, and each
 * condition should answer for the comparisons it takes part in.
 */
export function groupRates(pairs: readonly ScoredPair[], groupOf: (file: string) => string, column: string, threshold: number): FairnessReport {
  const tally = new Map<string, { g: number; gRejected: number; i: number; iAccepted: number; failed: number }>();
  for (const pair of pairs) {
    for (const group of new Set([groupOf(pair.file1), groupOf(pair.file2)])) {
      let t = tally.get(group);
      if (!t) tally.set(group, (t = { g: 0, gRejected: 0, i: 0, iAccepted: 0, failed: 0 }));
      if (pair.score === null) t.failed++;
      else if (pair.same) {
        t.g++;
        if (pair.score < threshold) t.gRejected++;
      } else {
        t.i++;
        if (pair.score >= threshold) t.iAccepted++;
      }
    }
  }
  if (tally.size === 0) throw new MedfaceError('INVALID_DATASET', 'no pairs to compare groups on');
  const groups = [...tally.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([group, t]): GroupRates => ({
      group,
      genuinePairs: t.g,
      impostorPairs: t.i,
      failedPairs: t.failed,
      fmr: t.i ? t.iAccepted / t.i : null,
      fnmr: t.g ? t.gRejected / t.g : null,
    }));
  return {
    column,
    threshold,
    groups,
    fmr_ratio: worstToBest(groups.map((g) => g.fmr)),
    fnmr_ratio: worstToBest(groups.map((g) => g.fnmr)),
  };
}

function worstToBest(rates: Array<number | null>): number | null {
  const measured = rates.filter((r): r is number => r !== null);
  if (measured.length === 0) return null;
  const worst = Math.max(...measured);
  const best = Math.min(...measured);
  if (worst === 0) return 1;
  return best === 0 ? null : worst / best;
}
