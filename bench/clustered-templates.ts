/**
 * Synthetic face templates with the neighbourhood structure of real ones, for gallery benchmarks and tests.
 * Random unit vectors are far too easy for a nearest-neighbour index (in 128-D every pair is ~orthogonal),
 * while real embeddings crowd into a cone: strangers still score a cosine of about 0.4-0.6, look-alike
 * groups more, and samples of one person about 0.8-0.95. So identities are drawn as
 * centre = unit(α·population + β·group + γ·own) and samples as unit(centre + noise), with a per-sample noise
 * level so some captures are harder than others. Seeded: the same options give the same vectors.
 */

export interface ClusteredOptions {
  identities: number;
  templatesPerIdentity: number;
  /** Fresh samples of randomly chosen enrolled identities. */
  queries: number;
  dimension?: number;
  /** Look-alike groups identities are drawn from. */
  groups?: number;
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

// squared weights of population, group and own direction in an identity centre (they sum to 1)
const POPULATION = 0.45;
const GROUP = 0.15;
const OWN = 0.4;
/** Per-dimension noise so that d·σ² ≈ 0.11, i.e. a typical same-identity cosine of about 0.9. */
const NOISE_PER_DIMENSION = Math.sqrt(0.11 / 128);

export function clusteredTemplates(options: ClusteredOptions): ClusteredTemplates {
  const { identities, templatesPerIdentity, queries: queryCount, dimension = 128, groups = 256, seed = 1 } = options;
  const random = new Random(seed);
  const unitRandom = (): Float32Array => {
    const vector = new Float32Array(dimension);
    for (let i = 0; i < dimension; i++) vector[i] = random.normal();
    return unit(vector);
  };
  const population = unitRandom();
  const groupDirections = Array.from({ length: groups }, unitRandom);
  const centres = new Float32Array(identities * dimension);
  for (let id = 0; id < identities; id++) {
    const group = groupDirections[Math.floor(random.uniform() * groups)]!;
    const own = unitRandom();
    const centre = centres.subarray(id * dimension, (id + 1) * dimension);
    for (let i = 0; i < dimension; i++) {
      centre[i] = Math.sqrt(POPULATION) * population[i]! + Math.sqrt(GROUP) * group[i]! + Math.sqrt(OWN) * own[i]!;
    }
    unit(centre);
  }
  const sample = (id: number, out: Float32Array): void => {
    // noise level varies per capture: most are clean, a few are hard (pose, light, age)
    const sigma = NOISE_PER_DIMENSION * (0.6 + 0.8 * random.uniform()) * Math.sqrt(128 / dimension);
    for (let i = 0; i < dimension; i++) out[i] = centres[id * dimension + i]! + sigma * random.normal();
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
