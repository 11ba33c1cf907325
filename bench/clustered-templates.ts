/**
 * Synthetic face templates with the neighbourhood structure of real ones, for gallery benchmarks and tests.
 * Isotropic random vectors are the wrong model: real embeddings share a large common component (strangers
 * still score a high cosine), identities differ along a few dozen dominant directions, and captures of one
 * person scatter around their identity with a smaller, flatter spread. The generator reproduces that as
 *
 *   sample = unit(√COMMON · population + between(identity) + f · within(capture))
 *
 * with Gaussian `between` and `within` parts whose variances decay exponentially over the first 60% of the
 * dimensions and are zero beyond, and f, a per-capture difficulty, uniform in [0.3, 1.6]. The constants were
 * fitted to 2,092 dlib-resnet embeddings of the development evaluation sets (lfw-dev, orl, yale; 1,017
 * people): common component |mean|² = 0.84; within-identity variance 0.037 (participation ratio 56);
 * between-identity variance 0.152 (participation ratio 30) measured on identity means of about two images,
 * so 0.13 once the within-identity noise those means carry is taken out; no variance beyond 77 of 128
 * dimensions. Resulting cosines, synthetic vs that sample: genuine p1/p50/p99 0.90/0.96/0.995 vs
 * 0.90/0.97/0.997, impostor p1/p50/p99 0.74/0.84/0.90 vs 0.76/0.84/0.91.
 * Seeded: the same options give the same vectors.
 */

export interface ClusteredOptions {
  identities: number;
  templatesPerIdentity: number;
  /** Fresh samples of randomly chosen enrolled identities. */
  queries: number;
  dimension?: number;
  seed?: number;
}

export interface ClusteredTemplates {
  dimension: number;
  /** Unit vectors, row-major: template t is identity Math.floor(t / templatesPerIdentity). */
  templates: Float32Array;
  templatesPerIdentity: number;
  queries: Float32Array;
  /** The identity each query was sampled from. */
  queryIdentities: Int32Array;
}

const COMMON = 0.84;
const BETWEEN_VARIANCE = 0.13;
const WITHIN_VARIANCE = 0.037;
/** e-folding lengths, in dimensions, of the between- and within-identity variance spectra. */
const BETWEEN_DECAY = 28;
const WITHIN_DECAY = 40;
const ACTIVE_FRACTION = 0.6;

export function clusteredTemplates(options: ClusteredOptions): ClusteredTemplates {
  const { identities, templatesPerIdentity, queries: queryCount, dimension = 128, seed = 1 } = options;
  const random = new Random(seed);
  const population = new Float32Array(dimension);
  for (let i = 0; i < dimension; i++) population[i] = random.normal();
  unit(population);
  const active = Math.round(ACTIVE_FRACTION * dimension);
  const betweenSd = standardDeviations(active, BETWEEN_DECAY, BETWEEN_VARIANCE);
  const withinSd = standardDeviations(active, WITHIN_DECAY, WITHIN_VARIANCE);

  const centres = new Float32Array(identities * dimension);
  for (let id = 0; id < identities; id++) {
    const centre = centres.subarray(id * dimension, (id + 1) * dimension);
    for (let i = 0; i < dimension; i++) centre[i] = Math.sqrt(COMMON) * population[i]! + (i < active ? betweenSd[i]! * random.normal() : 0);
  }
  const sample = (id: number, out: Float32Array): void => {
    // captures differ in difficulty (pose, light, age): some are near-duplicates, some far off
    const difficulty = 0.3 + 1.3 * random.uniform();
    for (let i = 0; i < dimension; i++) out[i] = centres[id * dimension + i]! + (i < active ? difficulty * withinSd[i]! * random.normal() : 0);
    unit(out);
  };
  const templates = new Float32Array(identities * templatesPerIdentity * dimension);
  for (let t = 0; t < identities * templatesPerIdentity; t++) {
    sample(Math.floor(t / templatesPerIdentity), templates.subarray(t * dimension, (t + 1) * dimension));
  }
  const queries = new Float32Array(queryCount * dimension);
  const queryIdentities = new Int32Array(queryCount);
  for (let q = 0; q < queryCount; q++) {
    queryIdentities[q] = Math.floor(random.uniform() * identities);
    sample(queryIdentities[q]!, queries.subarray(q * dimension, (q + 1) * dimension));
  }
  return { dimension, templates, templatesPerIdentity, queries, queryIdentities };
}

/** Per-dimension standard deviations of a spectrum decaying as exp(-i/decay), scaled to a total variance. */
function standardDeviations(count: number, decay: number, totalVariance: number): Float64Array {
  const variances = Float64Array.from({ length: count }, (_, i) => Math.exp(-i / decay));
  const scale = totalVariance / variances.reduce((sum, v) => sum + v, 0);
  return variances.map((v) => Math.sqrt(v * scale));
}

/** Scales a vector to unit length in place (typed-array callbacks are far slower than a plain loop). */
function unit(vector: Float32Array): Float32Array {
  let norm = 0;
  for (let i = 0; i < vector.length; i++) norm += vector[i]! * vector[i]!;
  const scale = 1 / Math.sqrt(norm);
  for (let i = 0; i < vector.length; i++) vector[i]! *= scale;
  return vector;
}

/** Seeded xoshiro128** (state from splitmix32): reproducible, fast, not cryptographic. */
class Random {
  #s: Uint32Array;
  #spare: number | undefined;

  constructor(seed: number) {
    let x = seed >>> 0;
    this.#s = Uint32Array.from({ length: 4 }, () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    });
  }

  /** Uniform in (0, 1). */
  uniform(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return (result + 0.5) / 2 ** 32;
  }

  /** Standard normal (Box–Muller, the second value of each pair kept for the next call). */
  normal(): number {
    if (this.#spare !== undefined) {
      const value = this.#spare;
      this.#spare = undefined;
      return value;
    }
    const radius = Math.sqrt(-2 * Math.log(this.uniform()));
    const angle = 2 * Math.PI * this.uniform();
    this.#spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
