import { MedfaceError } from '../errors.js';
import { curveOf, pointAtFar, tarAtFar, type ErrorCurve } from './metrics.js';
import { seededRandom } from './seeded-random.js';

/**
 * Open-set identification (ISO/IEC 19795-1 "identification", as NIST's FRVT 1:N reports it): searches are
 * run against a gallery of enrolled identities, and a search returns the top candidate when its score is ≥ the
 * threshold. A *mated* search is by someone enrolled; it fails (a false negative identification) unless its
 * own identity is the top candidate and reaches the threshold: rank 1 because the kiosk and the emergency
 * flow act on the top candidate. A *non-mated* search is by someone not enrolled; it is a false positive when
 * any candidate reaches the threshold. FNIR = failed mated searches / mated searches, FPIR = false positive
 * non-mated searches / non-mated searches. A search without a usable face returns no candidate: a miss when
 * mated, a correct rejection when non-mated (it is still counted in the denominator).
 *
 * Protocol (leave one identity out): every image of the evaluated set is searched twice. As a mated search
 * against the whole gallery, unless it is one of its identity's gallery images; and as a non-mated search
 * against the gallery without its own identity (N − 1 identities), which is what a person not enrolled meets.
 * So every identity of the set serves as a non-enrolled person once, without shrinking the gallery to make
 * room for a held-out share.
 *
 * A gallery identity with several images scores a search by its best-matching image (identity-level score):
 * N, FPIR's growth with the gallery and the impostor tail below all count identities, not images.
 */

/** One gallery identity: the embeddings of its gallery images that acquired (may be none). */
export interface GalleryIdentity<V> {
  identity: string;
  vectors: V[];
}

/** One search image: `mated` when its identity is enrolled and the image is not one of its gallery images. */
export interface SearchImage<V> {
  identity: string;
  vector: V | null;
  mated: boolean;
}

/**
 * Identity-level scores of every search against every gallery identity with at least one acquired image,
 * row-major (searches × identities); a search without a vector has a row of NaN.
 */
export interface ScoreMatrix {
  /** Gallery identities, by intent (those whose images all failed to acquire have no column). */
  identities: string[];
  /** Column of each identity in `identities`, -1 for one without an acquired image. */
  column: Int32Array;
  searches: Array<{ identity: string; mated: boolean; acquired: boolean; /** index in `identities`, -1 if not enrolled */ own: number }>;
  columns: number;
  scores: Float32Array;
}

export function scoreMatrix<V>(gallery: ReadonlyArray<GalleryIdentity<V>>, searches: ReadonlyArray<SearchImage<V>>, similarity: (a: V, b: V) => number): ScoreMatrix {
  const identities = gallery.map((g) => g.identity);
  const index = new Map(identities.map((id, i) => [id, i]));
  if (index.size !== identities.length) throw new MedfaceError('INVALID_DATASET', 'a gallery identity is listed twice');
  const column = new Int32Array(gallery.length).fill(-1);
  const enrolled: Array<GalleryIdentity<V>> = [];
  gallery.forEach((g, i) => {
    if (g.vectors.length > 0) {
      column[i] = enrolled.length;
      enrolled.push(g);
    }
  });
  const columns = enrolled.length;
  const scores = new Float32Array(searches.length * columns).fill(NaN);
  searches.forEach((s, r) => {
    if (s.vector === null) return;
    for (let c = 0; c < columns; c++) {
      let best = -Infinity;
      for (const v of enrolled[c]!.vectors) best = Math.max(best, similarity(s.vector, v));
      scores[r * columns + c] = best;
    }
  });
  return {
    identities,
    column,
    searches: searches.map((s) => ({ identity: s.identity, mated: s.mated, acquired: s.vector !== null, own: index.get(s.identity) ?? -1 })),
    columns,
    scores,
  };
}

/** What the searches gave against one gallery: rank and score of each mated search's mate, top score of each non-mated one. */
export interface SearchOutcomes {
  /** Gallery size N (identities). */
  gallery: number;
  /** Per mated search: rank of its identity (1 = top; null when not found: no face, or its identity has no acquired image) and its score. */
  mated: Array<{ rank: number | null; score: number }>;
  /** Per non-mated search: the top score over the gallery without its identity; null when it had no face. */
  nonmated: Array<number | null>;
}

/**
 * Outcomes against the gallery made of the identities `members` (indices into `matrix.identities`; all of
 * them when omitted). Mated searches are those of member identities; every search is a non-mated search
 * against the members other than its own identity. Ties count against the mate (a rank is 1 + the number
 * of other identities scoring at least as high).
 */
export function searchOutcomes(matrix: ScoreMatrix, members?: ArrayLike<number>): SearchOutcomes {
  const all = members ?? Int32Array.from(matrix.identities.keys());
  const isMember = new Uint8Array(matrix.identities.length);
  const cols: number[] = [];
  for (let i = 0; i < all.length; i++) {
    isMember[all[i]!] = 1;
    if (matrix.column[all[i]!]! >= 0) cols.push(matrix.column[all[i]!]!);
  }
  const mated: SearchOutcomes['mated'] = [];
  const nonmated: SearchOutcomes['nonmated'] = [];
  matrix.searches.forEach((s, r) => {
    const ownCol = s.own >= 0 ? matrix.column[s.own]! : -1;
    const isMated = s.mated && s.own >= 0 && isMember[s.own] === 1;
    if (!s.acquired) {
      if (isMated) mated.push({ rank: null, score: NaN });
      nonmated.push(null);
      return;
    }
    const row = r * matrix.columns;
    const mate = isMated && ownCol >= 0 ? matrix.scores[row + ownCol]! : NaN;
    let top = -Infinity;
    let above = 0;
    for (const c of cols) {
      if (c === ownCol) continue;
      const v = matrix.scores[row + c]!;
      if (v > top) top = v;
      if (v >= mate) above++;
    }
    if (isMated) mated.push(Number.isNaN(mate) ? { rank: null, score: NaN } : { rank: above + 1, score: mate });
    nonmated.push(Number.isFinite(top) ? top : null);
  });
  return { gallery: all.length, mated, nonmated };
}

/**
 * FNIR against FPIR as an error curve: its "genuine" side is the mated searches (accepted at a threshold
 * when the mate is ranked first and scores ≥ it; misses are never accepted), its "impostor" side the
 * non-mated searches' top scores (those without a face are never accepted). So fnmrAt gives FNIR and fmrAt
 * FPIR at each point, and tarAtFar / pointAtFar read FNIR at a target FPIR.
 */
export function openSetCurve(o: SearchOutcomes): ErrorCurve {
  if (o.mated.length === 0 || o.nonmated.length === 0) {
    throw new MedfaceError('INVALID_DATASET', 'open-set identification needs at least one mated and one non-mated search');
  }
  const hits = o.mated.filter((m) => m.rank === 1).map((m) => m.score);
  const falsePositives = o.nonmated.filter((s): s is number => s !== null);
  return curveOf(hits, falsePositives, o.mated.length, o.nonmated.length);
}

/** The FPIRs open-set results are reported at (keys as in the JSON output). */
export const REPORTED_FPIRS = { '0.01': 0.01, '0.001': 0.001 } as const;
export type FpirKey = keyof typeof REPORTED_FPIRS;

/** The ranks the cumulative match characteristic is reported at. */
export const CMC_RANKS = [1, 5, 10, 20] as const;

export interface OpenSetMeasures {
  gallery: number;
  mated: number;
  nonmated: number;
  /** Share of mated searches whose mate is ranked first, whatever its score (closed-set rank-1). */
  rank1: number;
  /** Cumulative match characteristic: share of mated searches with their mate at rank ≤ k. */
  cmc: Record<string, number>;
  fnir_at_fpir: Record<FpirKey, number>;
  /** The lowest threshold whose FPIR is ≤ the target; null when only accepting nothing reaches it. */
  threshold_at_fpir: Record<FpirKey, number | null>;
}

export function openSetMeasures(o: SearchOutcomes, curve: ErrorCurve = openSetCurve(o)): OpenSetMeasures {
  const atRank = (k: number) => o.mated.filter((m) => m.rank !== null && m.rank <= k).length / o.mated.length;
  const keys = Object.keys(REPORTED_FPIRS) as FpirKey[];
  return {
    gallery: o.gallery,
    mated: o.mated.length,
    nonmated: o.nonmated.length,
    rank1: atRank(1),
    cmc: Object.fromEntries(CMC_RANKS.map((k) => [String(k), atRank(k)])),
    fnir_at_fpir: Object.fromEntries(keys.map((k) => [k, 1 - tarAtFar(curve, REPORTED_FPIRS[k])])) as Record<FpirKey, number>,
    threshold_at_fpir: Object.fromEntries(
      keys.map((k) => {
        const t = curve.threshold[pointAtFar(curve, REPORTED_FPIRS[k])]!;
        return [k, Number.isFinite(t) ? t : null];
      }),
    ) as Record<FpirKey, number | null>,
  };
}

/** FPIR and FNIR when accepting the top candidate at score ≥ threshold (e.g. the 1:1 operating threshold). */
export function openSetRatesAt(o: SearchOutcomes, threshold: number): { fpir: number; fnir: number } {
  const fp = o.nonmated.filter((s) => s !== null && s >= threshold).length;
  const hits = o.mated.filter((m) => m.rank === 1 && m.score >= threshold).length;
  return { fpir: fp / o.nonmated.length, fnir: 1 - hits / o.mated.length };
}

/**
 * The upper tail of the impostor score distribution (one search against one gallery identity it is not),
 * modelled beyond the score u exceeded by a share p of impostor comparisons as exponential (a generalised
 * Pareto tail of shape 0, the peaks-over-threshold model of extreme-value theory): FMR(t) = p·exp(−(t − u)/σ),
 * σ the mean excess over u (its maximum-likelihood estimate).
 */
export interface ImpostorTail {
  /** Impostor comparisons the tail was fitted on. */
  comparisons: number;
  /** Share of comparisons above u, and their number. */
  exceedance: number;
  exceedances: number;
  u: number;
  sigma: number;
}

/** Fewest scores over u for a tail fit worth reporting (the rule of 30, as for measured rates). */
const MIN_EXCEEDANCES = 30;

/** Fits the tail on the top `share` of the identity-level impostor scores; undefined when fewer than 30 scores lie above. */
export function fitImpostorTail(matrix: ScoreMatrix, share = 1e-3): ImpostorTail | undefined {
  const scores = new Float64Array(matrix.scores.length);
  let n = 0;
  matrix.searches.forEach((s, r) => {
    if (!s.acquired) return;
    const ownCol = s.own >= 0 ? matrix.column[s.own]! : -1;
    for (let c = 0; c < matrix.columns; c++) if (c !== ownCol) scores[n++] = matrix.scores[r * matrix.columns + c]!;
  });
  return fitTail(scores.subarray(0, n), share);
}

/** The exponential tail of a score sample (exported for tests on synthetic scores). */
export function fitTail(scores: ArrayLike<number>, share: number): ImpostorTail | undefined {
  const k = Math.floor(scores.length * share);
  if (k < MIN_EXCEEDANCES) return undefined;
  const sorted = Float64Array.from(scores).sort().reverse();
  const u = sorted[k]!;
  let excess = 0;
  let over = 0;
  for (let i = 0; i < k; i++) {
    if (sorted[i]! > u) {
      excess += sorted[i]! - u;
      over++;
    }
  }
  return { comparisons: sorted.length, exceedance: over / sorted.length, exceedances: over, u, sigma: excess / over };
}

/** Modelled FMR of one impostor comparison at threshold t ≥ u. */
export function tailFmr(tail: ImpostorTail, t: number): number {
  return tail.exceedance * Math.exp(-(t - tail.u) / tail.sigma);
}

/**
 * FPIR of a gallery of n identities if its impostor comparisons were independent: 1 − (1 − FMR(t))^n.
 * Real searches are not independent (some faces resemble many), which the measured sub-galleries check.
 */
export function modelledFpir(tail: ImpostorTail, n: number, t: number): number {
  return -Math.expm1(n * Math.log1p(-tailFmr(tail, t)));
}

/** The threshold at which the model gives FPIR `fpir` in a gallery of n identities; undefined below the fitted tail. */
export function modelledThreshold(tail: ImpostorTail, n: number, fpir: number): number | undefined {
  const fmr = -Math.expm1(Math.log1p(-fpir) / n);
  if (fmr > tail.exceedance) return undefined;
  return tail.u + tail.sigma * Math.log(tail.exceedance / fmr);
}

/** FNIR against gallery size, each size below the whole gallery averaged over random sub-galleries. */
export interface GallerySizePoint {
  gallery: number;
  /** Sub-galleries drawn (1 for the whole gallery); draws without a mated search are left out. */
  draws: number;
  /** Mated searches per draw, on average. */
  mated: number;
  rank1: number;
  fnir_at_fpir: Record<FpirKey, number>;
  /** Mean measured threshold at FPIR 1%. */
  threshold_at_fpir_1pct: number | null;
  /** What the independence model (modelledFpir, with the tail fitted on the whole gallery) gives at that threshold: to compare with 1%. */
  modelled_fpir_at_threshold: number | null;
}

/**
 * The gallery-size curve: for each size n below the whole gallery, `draws` sub-galleries of n identities
 * drawn at random (a fixed seed, so reruns agree) from the whole gallery, each measured as the whole one is.
 */
export function gallerySizeCurve(matrix: ScoreMatrix, sizes: readonly number[], draws: number, tail: ImpostorTail | undefined): GallerySizePoint[] {
  const n = matrix.identities.length;
  // seeded: the same sub-galleries on every run
  const random = seededRandom(0x5eed);
  const points: GallerySizePoint[] = [];
  for (const size of [...sizes.filter((s) => s < n), n]) {
    const measured: Array<{ m: OpenSetMeasures; modelled: number | null }> = [];
    for (let d = 0; d < (size < n ? draws : 1); d++) {
      const members = size < n ? sample(n, size, random) : undefined;
      const outcomes = searchOutcomes(matrix, members);
      if (outcomes.mated.length === 0) continue;
      const m = openSetMeasures(outcomes);
      const t = m.threshold_at_fpir['0.01'];
      measured.push({ m, modelled: tail && t !== null && t >= tail.u ? modelledFpir(tail, size, t) : null });
    }
    if (measured.length === 0) continue;
    const mean = (f: (x: (typeof measured)[number]) => number | null): number | null => {
      const v = measured.map(f);
      return v.some((x) => x === null) ? null : v.reduce((a, b) => a! + b!, 0)! / v.length;
    };
    points.push({
      gallery: size,
      draws: measured.length,
      mated: mean((x) => x.m.mated)!,
      rank1: mean((x) => x.m.rank1)!,
      fnir_at_fpir: { '0.01': mean((x) => x.m.fnir_at_fpir['0.01'])!, '0.001': mean((x) => x.m.fnir_at_fpir['0.001'])! },
      threshold_at_fpir_1pct: mean((x) => x.m.threshold_at_fpir['0.01']),
      modelled_fpir_at_threshold: mean((x) => x.modelled),
    });
  }
  return points;
}

/** Gallery sizes the model extrapolates to: a clinic, a hospital, a region. */
export const EXTRAPOLATED_GALLERIES = [10_000, 100_000, 1_000_000] as const;

export interface ExtrapolatedPoint {
  gallery: number;
  /** Threshold at which the tail model gives each FPIR in a gallery of this size (null beyond the fitted tail). */
  threshold_at_fpir: Record<FpirKey, number | null>;
  /**
   * FNIR of the measured mated searches at that threshold. Not a bound either way: a larger gallery holds more
   * identities that can outrank a mate (FNIR higher), while the independence model overstates FPIR on measured
   * galleries (its threshold too high: FNIR lower at a measured one). An order of magnitude (docs/accuracy.md).
   */
  fnir_at_threshold: Record<FpirKey, number | null>;
}

export function extrapolate(tail: ImpostorTail, outcomes: SearchOutcomes): ExtrapolatedPoint[] {
  const keys = Object.keys(REPORTED_FPIRS) as FpirKey[];
  return EXTRAPOLATED_GALLERIES.map((gallery) => {
    const t = Object.fromEntries(keys.map((k) => [k, modelledThreshold(tail, gallery, REPORTED_FPIRS[k]) ?? null])) as Record<FpirKey, number | null>;
    return {
      gallery,
      threshold_at_fpir: t,
      fnir_at_threshold: Object.fromEntries(keys.map((k) => [k, t[k] === null ? null : openSetRatesAt(outcomes, t[k]).fnir])) as Record<FpirKey, number | null>,
    };
  });
}

/** `size` distinct indices below n (a partial Fisher–Yates shuffle). */
function sample(n: number, size: number, random: () => number): Int32Array {
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < size; i++) {
    const j = i + Math.floor(random() * (n - i));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.subarray(0, size);
}
