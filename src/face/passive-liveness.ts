/**
 * Passive presentation-attack score: how much one face image looks like a live face rather than a printed photo
 * held up to the camera, from a few cues that recapturing a face degrades. It is an extra signal reported with
 * every analysis, never a security control on its own (the active challenge in src/liveness/ is): a good print,
 * a screen replay or a mask can pass it, and it was fitted on printed-photo attacks only (docs/liveness.md).
 *
 * The cues are measured on the inner face — a square inside the mesh's extent, mostly skin, eyes, nose and
 * mouth — so that the background (which differs between any two data sets) plays no part. Each cue has a
 * direction fixed by physics, and the model may only weigh it in that direction (bench/train-passive-liveness.ts):
 * - `detail`: share of the luma spectrum's energy at high frequencies. Printing and re-photographing low-pass
 *   filter the face twice (printer dots, paper, the camera's optics once more).
 * - `microTexture`: share of non-uniform local binary patterns (LBP 8,1) — fine, irregular skin texture that a
 *   print smooths away.
 * - `saturation`: mean HSV saturation. Inks and paper compress the colour gamut; a recapture looks washed out.
 * - `chromaSpread`: standard deviation of chroma (Cb, Cr) over the face: the red–blue variation of live skin
 *   (lips, cheeks, shadows) that a print flattens.
 * - `specular`: share of near-white, unsaturated pixels: the highlights that skin's oily surface throws back,
 *   which matte paper does not.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MedfaceError } from '../errors.js';
import { meshExtent, resample } from './quality.js';
import type { DetectedFace, RgbImage } from './types.js';

export const PASSIVE_CUES = ['detail', 'microTexture', 'saturation', 'chromaSpread', 'specular'] as const;
export type PassiveCue = (typeof PASSIVE_CUES)[number];

/** Each cue on the scale the model uses (logarithms for the ratios, so a factor counts the same everywhere). */
export type PassiveCues = Record<PassiveCue, number>;

/** Why a face looks like a recapture: the cues that pull its score down the most. */
export type PassiveReason = 'LOW_DETAIL' | 'LOW_MICRO_TEXTURE' | 'LOW_SATURATION' | 'FLAT_COLOUR' | 'NO_SPECULAR_HIGHLIGHTS';

const REASON_OF: Record<PassiveCue, PassiveReason> = {
  detail: 'LOW_DETAIL',
  microTexture: 'LOW_MICRO_TEXTURE',
  saturation: 'LOW_SATURATION',
  chromaSpread: 'FLAT_COLOUR',
  specular: 'NO_SPECULAR_HIGHLIGHTS',
};

/**
 * The logistic model over standardised cues, its operating threshold and where both came from, as written by
 * bench/train-passive-liveness.ts to config/passive-liveness.json.
 */
export interface PassiveLivenessModel {
  /** `passive@N`: changes whenever the cues or the weights do. */
  model: string;
  cues: PassiveCue[];
  /** Mean and standard deviation of each cue over the training images (standardisation). */
  mean: number[];
  std: number[];
  /** Non-negative weight per standardised cue. */
  weights: number[];
  bias: number;
  /** A face is called live when its score is at least this. */
  threshold: number;
  /** How the threshold was chosen, and the training data's provenance: for people, not read by code. */
  thresholdChoice: string;
  provenance: Record<string, unknown>;
}

/** What an analysis reports for a face. */
export interface PassiveLiveness {
  /** 0..1, 1 = looks live. */
  passive: number;
  /** `passive` ≥ `threshold`, the model's operating threshold. */
  live: boolean;
  threshold: number;
  model: string;
  /** For a face below the threshold, the cues that pulled its score down the most, worst first. */
  reasons: PassiveReason[];
}

export const DEFAULT_PASSIVE_LIVENESS_PATH = fileURLToPath(new URL('../../config/passive-liveness.json', import.meta.url));

/**
 * Side of the square the inner face is resampled to, so every cue is measured at the same scale relative to the
 * face. Small on purpose: a face photographed from further away, or a compressed photo, has fewer pixels than a
 * close-up, and measured on a larger square (128, tried first) its upsampling read as missing detail — 29% of
 * 300 lfw-dev news photos scored as recaptures (docs/liveness.md). Shrinking every face to 64 px keeps the cues
 * about the face, not about its distance from the camera.
 */
const CROP_SIZE = 64;
/** The inner face's side as a fraction of the mesh extent's smaller side. */
const INNER_FACE = 0.8;
/** Radial frequency (cycles per pixel of the crop) above which spectral energy counts as detail. */
const DETAIL_BAND = 0.25;
/** Frequencies below this (the face's overall shading) are left out of the total. */
const LOWEST_FREQUENCY = 1 / 64;
/** A highlight pixel: luma above this and HSV saturation below SPECULAR_MAX_SATURATION. */
const SPECULAR_MIN_LUMA = 230;
const SPECULAR_MAX_SATURATION = 0.15;
/** Added to ratios that can be 0 before taking the logarithm. */
const LOG_FLOOR = { microTexture: 1e-3, specular: 2e-3 } as const;
/** A cue is a reason when it lowers the model's logit by at least this much. */
const REASON_LOGIT = 0.5;

/** Reads and checks the model file; `THRESHOLDS_INVALID` when it is missing or malformed. */
export function loadPassiveLivenessModel(file = DEFAULT_PASSIVE_LIVENESS_PATH): PassiveLivenessModel {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new MedfaceError('THRESHOLDS_INVALID', `The passive liveness model cannot be read: ${(e as Error).message}`);
  }
  const m = parsed as Partial<PassiveLivenessModel>;
  const n = m.cues?.length ?? 0;
  const numbers = (a: unknown): boolean => Array.isArray(a) && a.length === n && a.every((v) => Number.isFinite(v));
  const valid =
    typeof m.model === 'string' &&
    n > 0 &&
    m.cues!.every((c) => (PASSIVE_CUES as readonly string[]).includes(c)) &&
    numbers(m.mean) &&
    numbers(m.std) &&
    m.std!.every((s) => s > 0) &&
    numbers(m.weights) &&
    m.weights!.every((w) => w >= 0) &&
    Number.isFinite(m.bias) &&
    typeof m.threshold === 'number' &&
    m.threshold >= 0 &&
    m.threshold <= 1;
  if (!valid) throw new MedfaceError('THRESHOLDS_INVALID', 'The passive liveness model file is malformed.');
  return m as PassiveLivenessModel;
}

/**
 * The inner face as luma, Cb, Cr and saturation planes, each CROP_SIZE² and resampled like quality.ts does, and
 * its share of highlight pixels, counted at full resolution (averaging would dim a small highlight away).
 */
function innerFace(image: RgbImage, face: DetectedFace): { luma: Float32Array; cb: Float32Array; cr: Float32Array; sat: Float32Array; highlights: number } {
  const extent = meshExtent(face.mesh);
  const side = Math.min(extent.width, extent.height) * INNER_FACE;
  const cx = extent.x + extent.width / 2,
    cy = extent.y + extent.height / 2;
  const x0 = Math.min(image.width - 1, Math.max(0, Math.round(cx - side / 2)));
  const y0 = Math.min(image.height - 1, Math.max(0, Math.round(cy - side / 2)));
  const w = Math.max(1, Math.min(image.width, Math.round(cx + side / 2)) - x0);
  const h = Math.max(1, Math.min(image.height, Math.round(cy + side / 2)) - y0);
  const luma = new Float32Array(w * h),
    cb = new Float32Array(w * h),
    cr = new Float32Array(w * h),
    sat = new Float32Array(w * h);
  let highlights = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = ((y0 + y) * image.width + x0 + x) * 3;
      const r = image.data[i]!,
        g = image.data[i + 1]!,
        b = image.data[i + 2]!;
      const k = y * w + x;
      luma[k] = 0.299 * r + 0.587 * g + 0.114 * b;
      cb[k] = -0.168736 * r - 0.331264 * g + 0.5 * b;
      cr[k] = 0.5 * r - 0.418688 * g - 0.081312 * b;
      const max = Math.max(r, g, b);
      sat[k] = max > 0 ? (max - Math.min(r, g, b)) / max : 0;
      if (luma[k]! > SPECULAR_MIN_LUMA && sat[k]! < SPECULAR_MAX_SATURATION) highlights++;
    }
  }
  return {
    luma: resample(luma, w, h, CROP_SIZE),
    cb: resample(cb, w, h, CROP_SIZE),
    cr: resample(cr, w, h, CROP_SIZE),
    sat: resample(sat, w, h, CROP_SIZE),
    highlights: highlights / (w * h),
  };
}

/** cos and sin of -2πk/CROP_SIZE, the FFT's twiddle factors, computed once. */
const TWIDDLE_COS = Float64Array.from({ length: CROP_SIZE / 2 }, (_, k) => Math.cos((-2 * Math.PI * k) / CROP_SIZE));
const TWIDDLE_SIN = Float64Array.from({ length: CROP_SIZE / 2 }, (_, k) => Math.sin((-2 * Math.PI * k) / CROP_SIZE));

/** In-place iterative radix-2 FFT of one complex row of CROP_SIZE values. */
function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      // Swapped through locals: a destructuring swap builds an array per swap, most of this cue's garbage.
      const r = re[i]!,
        m = im[i]!;
      re[i] = re[j]!;
      im[i] = im[j]!;
      re[j] = r;
      im[j] = m;
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const half = len >> 1;
    const stride = n / len;
    for (let i = 0; i < n; i += len) {
      for (let k = 0; k < half; k++) {
        const c = TWIDDLE_COS[k * stride]!,
          s = TWIDDLE_SIN[k * stride]!;
        const a = i + k,
          b = a + half;
        const xr = re[b]! * c - im[b]! * s,
          xi = re[b]! * s + im[b]! * c;
        re[b] = re[a]! - xr;
        im[b] = im[a]! - xi;
        re[a] = re[a]! + xr;
        im[a] = im[a]! + xi;
      }
    }
  }
}

/**
 * Share of the spectral energy above DETAIL_BAND, of a Hann-windowed square image (the window keeps the crop's
 * edges from reading as detail).
 */
function highFrequencyShare(img: Float32Array, n: number): number {
  let mean = 0;
  for (const v of img) mean += v;
  mean /= img.length;
  const re = new Float64Array(n * n),
    im = new Float64Array(n * n);
  const hann = (i: number): number => 0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 0.5)) / n);
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) re[y * n + x] = (img[y * n + x]! - mean) * hann(x) * hann(y);
  const rowRe = new Float64Array(n),
    rowIm = new Float64Array(n);
  for (let y = 0; y < n; y++) {
    rowRe.set(re.subarray(y * n, y * n + n));
    rowIm.set(im.subarray(y * n, y * n + n));
    fft(rowRe, rowIm);
    re.set(rowRe, y * n);
    im.set(rowIm, y * n);
  }
  let detail = 0,
    total = 0;
  for (let x = 0; x < n; x++) {
    for (let y = 0; y < n; y++) {
      rowRe[y] = re[y * n + x]!;
      rowIm[y] = im[y * n + x]!;
    }
    fft(rowRe, rowIm);
    const fx = (x < n / 2 ? x : x - n) / n;
    for (let y = 0; y < n; y++) {
      const fy = (y < n / 2 ? y : y - n) / n;
      const radius = Math.hypot(fx, fy);
      if (radius < LOWEST_FREQUENCY) continue;
      const power = rowRe[y]! ** 2 + rowIm[y]! ** 2;
      total += power;
      if (radius >= DETAIL_BAND) detail += power;
    }
  }
  return total > 0 ? detail / total : 0;
}

/** Share of 8-neighbour, radius-1 local binary patterns with more than two 0/1 transitions around the circle. */
function nonUniformLbpShare(img: Float32Array, n: number): number {
  const offsets = [-n - 1, -n, -n + 1, 1, n + 1, n, n - 1, -1];
  let nonUniform = 0;
  for (let y = 1; y < n - 1; y++) {
    for (let x = 1; x < n - 1; x++) {
      const i = y * n + x;
      const centre = img[i]!;
      let transitions = 0;
      let previous = img[i + offsets[7]!]! >= centre;
      for (const o of offsets) {
        const bit = img[i + o]! >= centre;
        if (bit !== previous) transitions++;
        previous = bit;
      }
      if (transitions > 2) nonUniform++;
    }
  }
  return nonUniform / (n - 2) ** 2;
}

function mean(values: Float32Array): number {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

function std(values: Float32Array): number {
  const m = mean(values);
  let sumSq = 0;
  for (const v of values) sumSq += (v - m) ** 2;
  return Math.sqrt(sumSq / values.length);
}

/** Measures the cues of one detected face in the image it was found in. */
export function measurePassiveCues(image: RgbImage, face: DetectedFace): PassiveCues {
  const { luma, cb, cr, sat, highlights } = innerFace(image, face);
  return {
    detail: Math.log(Math.max(highFrequencyShare(luma, CROP_SIZE), 1e-9)),
    microTexture: Math.log(nonUniformLbpShare(luma, CROP_SIZE) + LOG_FLOOR.microTexture),
    saturation: mean(sat),
    chromaSpread: Math.log(Math.hypot(std(cb), std(cr)) + 1e-3),
    specular: Math.log(highlights + LOG_FLOOR.specular),
  };
}

/** Each cue's contribution to the model's logit. */
function contributions(cues: PassiveCues, model: PassiveLivenessModel): number[] {
  return model.cues.map((c, j) => (model.weights[j]! * (cues[c] - model.mean[j]!)) / model.std[j]!);
}

/** The model's score for measured cues, 0..1 (1 = looks live). */
export function passiveScore(cues: PassiveCues, model: PassiveLivenessModel): number {
  const logit = model.bias + contributions(cues, model).reduce((s, v) => s + v, 0);
  return 1 / (1 + Math.exp(-logit));
}

/** The score of one face, judged at the model's operating threshold. */
export function assessPassiveLiveness(image: RgbImage, face: DetectedFace, model: PassiveLivenessModel): PassiveLiveness {
  const cues = measurePassiveCues(image, face);
  const passive = passiveScore(cues, model);
  const live = passive >= model.threshold;
  const reasons = live
    ? []
    : contributions(cues, model)
        .map((value, j) => ({ value, reason: REASON_OF[model.cues[j]!] }))
        .filter((c) => c.value <= -REASON_LOGIT)
        .sort((a, b) => a.value - b.value)
        .map((c) => c.reason);
  return { passive, live, threshold: model.threshold, model: model.model, reasons };
}
