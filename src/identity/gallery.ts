import { availableParallelism } from 'node:os';
import { Index, MetricKind, ScalarKind } from 'usearch';
import { MedfaceError } from '../errors.js';
import type { TransformedEmbedding } from './protection.js';

/**
 * The in-memory 1:N search structure over every enrolled template, kept in sync with the store by the
 * services that write it. Vectors are the transformed (rotated) templates: the gallery never holds a raw
 * embedding. Each model and transform has its own space; a probe is only ever compared within its space.
 *
 * Within a space, search is exact (a brute-force dot-product scan) while the space is small, and goes
 * through an HNSW graph (usearch) once it reaches `exactBelow` templates; the graph is dropped again
 * when the space shrinks below half that, so a gallery hovering at the threshold doesn't rebuild it.
 * Exact vectors are always kept: they answer searches while a graph is being built, and build it.
 *
 * Building a graph is slow (minutes for a million templates), so it happens in chunks that yield to the
 * event loop, and writes made meanwhile go into the graph under construction too: an enrolment that
 * crosses the threshold doesn't stall the server, and searches stay exact until the graph is complete.
 */

export interface GalleryEntry {
  templateId: string;
  patientId: string;
  template: TransformedEmbedding;
}

export interface GalleryMatch {
  patientId: string;
  /** The patient's best-scoring template. */
  templateId: string;
  /** Cosine similarity of the probe and that template. */
  score: number;
}

export interface HnswSettings {
  /** Graph degree (M): more links, better recall, more memory. */
  connectivity: number;
  /** Candidate list size while inserting (efConstruction). */
  expansionAdd: number;
  /** Candidate list size while searching (ef): the recall/latency dial. */
  expansionSearch: number;
}

export interface GalleryOptions {
  /** Spaces with at least this many templates are searched approximately. */
  exactBelow: number;
  hnsw: HnswSettings;
  /** Threads for bulk graph construction (searches use one). */
  buildThreads: number;
}

/** Vectors added to a graph under construction before yielding to the event loop. */
const BUILD_CHUNK = 1024;

/**
 * Measured with `npx tsx bench/gallery.ts` on synthetic 128-D templates shaped like dlib embeddings (see
 * docs/performance.md): at a million templates, connectivity 32 and a search expansion of 1024 are what it
 * takes to find the exact answer's patient 99.7% of the time, at a p95 under 20 ms on one core.
 */
export const DEFAULT_GALLERY_OPTIONS: GalleryOptions = {
  exactBelow: 20_000,
  hnsw: { connectivity: 32, expansionAdd: 128, expansionSearch: 1024 },
  buildThreads: availableParallelism(),
};

export class Gallery {
  readonly #options: GalleryOptions;
  readonly #spaces = new Map<string, Space>();
  readonly #templates = new Map<string, Slot>();
  readonly #templatesOf = new Map<string, string[]>();
  /** patientsWithCount[n]: how many patients have n templates; its last index bounds a search's fan-out. */
  readonly #patientsWithCount: number[] = [0];

  constructor(options: Partial<GalleryOptions> = {}) {
    this.#options = { ...DEFAULT_GALLERY_OPTIONS, ...options, hnsw: { ...DEFAULT_GALLERY_OPTIONS.hnsw, ...options.hnsw } };
  }

  /** Builds a gallery from the store's templates at start; graphs are built once at the end, in bulk. */
  static async build(entries: AsyncIterable<GalleryEntry> | Iterable<GalleryEntry>, options: Partial<GalleryOptions> = {}): Promise<Gallery> {
    const gallery = new Gallery(options);
    for await (const entry of entries) gallery.#insert(entry);
    for (const space of gallery.#spaces.values()) space.fitIndex();
    await gallery.whenIndexed();
    return gallery;
  }

  /** Resolves once every graph under construction is complete; rejects if building one failed. */
  async whenIndexed(): Promise<void> {
    await Promise.all([...this.#spaces.values()].map((space) => space.building));
  }

  get size(): number {
    return this.#templates.size;
  }

  /** Patients with at least one template: the N a 1:N search's false-positive rate grows with. */
  get patients(): number {
    return this.#templatesOf.size;
  }

  /** Every template held and its patient: what a consistency check compares with the store. */
  *entries(): IterableIterator<{ templateId: string; patientId: string }> {
    for (const { templateId, patientId } of this.#templates.values()) yield { templateId, patientId };
  }

  /** The ids of a patient's templates held. */
  templatesOf(patientId: string): readonly string[] {
    return this.#templatesOf.get(patientId) ?? [];
  }

  /** Adds a template; re-adding an id replaces the old vector (e.g. after transform renewal). */
  add(entry: GalleryEntry): void {
    this.#insert(entry).fitIndex();
  }

  remove(templateId: string): boolean {
    const slot = this.#templates.get(templateId);
    if (!slot) return false;
    slot.space.delete(slot);
    this.#templates.delete(templateId);
    const templates = this.#templatesOf.get(slot.patientId)!;
    this.#countPatient(templates.length, -1);
    templates.splice(templates.indexOf(templateId), 1);
    if (templates.length === 0) this.#templatesOf.delete(slot.patientId);
    else this.#countPatient(templates.length, +1);
    slot.space.fitIndex();
    return true;
  }

  /** Removes every template of a patient (consent withdrawal, erasure); returns how many there were. */
  removePatient(patientId: string): number {
    const templates = [...(this.#templatesOf.get(patientId) ?? [])];
    for (const templateId of templates) this.remove(templateId);
    return templates.length;
  }

  clear(): void {
    for (const space of this.#spaces.values()) space.close();
    this.#spaces.clear();
    this.#templates.clear();
    this.#templatesOf.clear();
    this.#patientsWithCount.length = 1;
  }

  /** The embedder models the gallery holds templates of. */
  models(): string[] {
    return [...new Set([...this.#spaces.values()].filter((space) => space.count > 0).map((space) => space.model))];
  }

  /** Whether any of the patient's templates held is of `model`. */
  hasTemplateOf(patientId: string, model: string): boolean {
    return this.templatesOf(patientId).some((templateId) => this.#templates.get(templateId)!.space.model === model);
  }

  /** Whether the probe's space is currently searched through the approximate index. */
  isApproximate(model: string, transformId: string): boolean {
    return this.#spaces.get(spaceKey(model, transformId))?.approximate ?? false;
  }

  /**
   * The k patients whose best template is closest to the probe, best first, each with that template and
   * its cosine. A probe of a model or transform with no templates finds nothing. Thresholds are not
   * applied here: every caller decides what counts as a match with the calibrated thresholds.
   */
  search(probe: TransformedEmbedding, k: number): GalleryMatch[] {
    if (!Number.isInteger(k) || k < 1) throw new MedfaceError('INVALID_ARGUMENT', 'k must be a positive integer');
    const space = this.#spaces.get(spaceKey(probe.model, probe.transformId));
    if (!space || space.count === 0) return [];
    const query = normalised(probe);
    if (query.length !== space.dimension) throw dimensionMismatch(probe, space.dimension);
    // a patient has at most `maxTemplatesPerPatient` templates, so the best k·that templates hold the best k patients
    const templatesWanted = Math.min(space.count, k * this.#maxTemplatesPerPatient());
    const best = new Map<string, GalleryMatch>();
    for (const [score, slot] of space.nearest(query, templatesWanted)) {
      if (!best.has(slot.patientId)) best.set(slot.patientId, { patientId: slot.patientId, templateId: slot.templateId, score });
      if (best.size === k) break;
    }
    return [...best.values()];
  }

  #insert(entry: GalleryEntry): Space {
    const { templateId, patientId, template } = entry;
    const key = spaceKey(template.model, template.transformId);
    const vector = normalised(template);
    let space = this.#spaces.get(key);
    if (space && vector.length !== space.dimension) throw dimensionMismatch(template, space.dimension);
    this.remove(templateId);
    if (!space) {
      space = new Space(template.model, vector.length, this.#options);
      this.#spaces.set(key, space);
    }
    this.#templates.set(templateId, space.insert(templateId, patientId, vector));
    let templates = this.#templatesOf.get(patientId);
    if (!templates) {
      templates = [];
      this.#templatesOf.set(patientId, templates);
    }
    if (templates.length > 0) this.#countPatient(templates.length, -1);
    templates.push(templateId);
    this.#countPatient(templates.length, +1);
    return space;
  }

  #countPatient(templateCount: number, change: 1 | -1): void {
    const counts = this.#patientsWithCount;
    while (counts.length <= templateCount) counts.push(0);
    counts[templateCount]! += change;
    while (counts.length > 1 && counts[counts.length - 1] === 0) counts.pop();
  }

  #maxTemplatesPerPatient(): number {
    return Math.max(1, this.#patientsWithCount.length - 1);
  }
}

interface Slot {
  templateId: string;
  patientId: string;
  space: Space;
  /** Row in the space's vector table; moves when another row is deleted. */
  row: number;
  /** Key of the vector in the HNSW graph; freed keys are reused so the key table stays dense. */
  key: number;
}

/** One model-and-transform space: exact rows, plus an HNSW graph while the space is large. */
class Space {
  readonly model: string;
  readonly dimension: number;
  readonly #options: GalleryOptions;
  #vectors: Float32Array;
  readonly #rows: Slot[] = [];
  readonly #byKey: (Slot | undefined)[] = [];
  readonly #freeKeys: number[] = [];
  /** The HNSW graph, complete or under construction; writes go to it either way. */
  #graph: Index | undefined;
  #graphComplete = false;
  /** The construction under way, if any. */
  building: Promise<void> | undefined;

  constructor(model: string, dimension: number, options: GalleryOptions) {
    this.model = model;
    this.dimension = dimension;
    this.#options = options;
    this.#vectors = new Float32Array(dimension * 64);
  }

  get count(): number {
    return this.#rows.length;
  }

  get approximate(): boolean {
    return this.#graphComplete;
  }

  insert(templateId: string, patientId: string, vector: Float32Array): Slot {
    const row = this.#rows.length;
    if ((row + 1) * this.dimension > this.#vectors.length) {
      const grown = new Float32Array(this.#vectors.length * 2);
      grown.set(this.#vectors);
      this.#vectors = grown;
    }
    this.#vectors.set(vector, row * this.dimension);
    const slot: Slot = { templateId, patientId, space: this, row, key: this.#freeKeys.pop() ?? this.#byKey.length };
    this.#rows.push(slot);
    this.#byKey[slot.key] = slot;
    this.#graph?.add(BigInt(slot.key), vector, 1);
    return slot;
  }

  /** Deletes a template, moving the last row into its place. */
  delete(slot: Slot): void {
    const last = this.#rows.pop()!;
    if (last !== slot) {
      const d = this.dimension;
      this.#vectors.copyWithin(slot.row * d, last.row * d, (last.row + 1) * d);
      last.row = slot.row;
      this.#rows[slot.row] = last;
    }
    this.#byKey[slot.key] = undefined;
    this.#freeKeys.push(slot.key);
    this.#graph?.remove(BigInt(slot.key));
  }

  /** Starts a graph when the space has grown to the threshold, drops it when the space has shrunk to half. */
  fitIndex(): void {
    const { exactBelow, hnsw } = this.#options;
    if (!this.#graph && this.count >= exactBelow && this.count > 0) {
      const graph = new Index({
        dimensions: this.dimension,
        metric: MetricKind.Cos,
        quantization: ScalarKind.F32,
        connectivity: hnsw.connectivity,
        expansion_add: hnsw.expansionAdd,
        expansion_search: hnsw.expansionSearch,
        multi: false,
      });
      this.#graph = graph;
      this.#graphComplete = false;
      const building = this.#build(graph).finally(() => {
        if (this.building === building) this.building = undefined;
      });
      this.building = building;
      // a failed build leaves exact search in charge; whenIndexed() reports the failure
      building.catch(() => {
        if (this.#graph === graph) this.#graph = undefined;
      });
    } else if (this.#graph && this.count < exactBelow / 2) {
      this.close();
    }
  }

  /** Stops any construction; the space is being discarded. */
  close(): void {
    this.#graph = undefined;
    this.#graphComplete = false;
  }

  /**
   * Adds the templates present when construction started, chunk by chunk. Templates added meanwhile went
   * straight into the graph (and deleted ones out of it), so only keys the graph lacks are added here.
   */
  async #build(graph: Index): Promise<void> {
    const d = this.dimension;
    const keysAtStart = this.#byKey.length;
    for (let start = 0; start < keysAtStart; start += BUILD_CHUNK) {
      await new Promise((resolve) => setImmediate(resolve));
      if (this.#graph !== graph) return; // dropped or replaced while we yielded
      const keys: bigint[] = [];
      const chunk = new Float32Array(BUILD_CHUNK * d);
      for (let key = start; key < Math.min(start + BUILD_CHUNK, keysAtStart); key++) {
        const slot = this.#byKey[key];
        if (!slot || graph.contains(BigInt(key))) continue;
        chunk.set(this.#vectors.subarray(slot.row * d, (slot.row + 1) * d), keys.length * d);
        keys.push(BigInt(key));
      }
      if (keys.length > 0) graph.add(keys, chunk.subarray(0, keys.length * d), this.#options.buildThreads);
    }
    if (this.#graph === graph) this.#graphComplete = true;
  }

  /** The `n` templates closest to a unit query with their cosines, best first. */
  nearest(query: Float32Array, n: number): [number, Slot][] {
    return this.#graphComplete ? this.#approximateNearest(query, n) : this.#exactNearest(query, n);
  }

  #approximateNearest(query: Float32Array, n: number): [number, Slot][] {
    const { keys, distances } = this.#graph!.search(query, n, 1);
    const hits: [number, Slot][] = [];
    for (let i = 0; i < keys.length; i++) {
      const slot = this.#byKey[Number(keys[i])];
      // usearch pads a short answer with sentinel keys; those are skipped
      if (slot) hits.push([1 - distances[i]!, slot]);
    }
    return hits;
  }

  #exactNearest(query: Float32Array, n: number): [number, Slot][] {
    const d = this.dimension;
    const vectors = this.#vectors;
    const top = new TopScores(n);
    for (let row = 0, offset = 0; row < this.#rows.length; row++, offset += d) {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += vectors[offset + i]! * query[i]!;
      top.offer(dot, row);
    }
    return top.sorted().map(({ score, row }) => [score, this.#rows[row]!]);
  }
}

/** A bounded min-heap keeping the n highest scores seen. */
class TopScores {
  readonly #scores: Float64Array;
  readonly #rows: Int32Array;
  #size = 0;

  constructor(capacity: number) {
    this.#scores = new Float64Array(capacity);
    this.#rows = new Int32Array(capacity);
  }

  offer(score: number, row: number): void {
    const scores = this.#scores;
    const capacity = scores.length;
    if (this.#size < capacity) {
      let i = this.#size++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (scores[parent]! <= score) break;
        scores[i] = scores[parent]!;
        this.#rows[i] = this.#rows[parent]!;
        i = parent;
      }
      scores[i] = score;
      this.#rows[i] = row;
    } else if (score > scores[0]!) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= capacity) break;
        const right = left + 1;
        const child = right < capacity && scores[right]! < scores[left]! ? right : left;
        if (scores[child]! >= score) break;
        scores[i] = scores[child]!;
        this.#rows[i] = this.#rows[child]!;
        i = child;
      }
      scores[i] = score;
      this.#rows[i] = row;
    }
  }

  sorted(): { score: number; row: number }[] {
    const out = [];
    for (let i = 0; i < this.#size; i++) out.push({ score: this.#scores[i]!, row: this.#rows[i]! });
    return out.sort((a, b) => b.score - a.score);
  }
}

function spaceKey(model: string, transformId: string): string {
  return `${model}\u0000${transformId}`;
}

/** A unit-length copy, so that a dot product is the cosine; a zero or non-finite vector has no direction. */
function normalised(template: TransformedEmbedding): Float32Array {
  const { vector } = template;
  let norm = 0;
  for (let i = 0; i < vector.length; i++) norm += vector[i]! * vector[i]!;
  if (vector.length === 0 || !(norm > 0) || !Number.isFinite(norm)) {
    throw new MedfaceError('INVALID_ARGUMENT', `a template of ${template.model} must be a non-zero vector of finite numbers`);
  }
  const scale = 1 / Math.sqrt(norm);
  const unit = new Float32Array(vector.length);
  for (let i = 0; i < vector.length; i++) unit[i] = vector[i]! * scale;
  return unit;
}

function dimensionMismatch(template: TransformedEmbedding, expected: number): MedfaceError {
  return new MedfaceError('MODEL_MISMATCH', `a ${template.model} vector has ${template.vector.length} dimensions, the gallery holds ${expected}`, {
    model: template.model,
  });
}
