import { readFile, stat } from 'node:fs/promises';
import { MedfaceError } from '../errors.js';
import type { Embedding } from '../face/types.js';
import { Gallery, type GalleryEntry, type GalleryMatch, type GalleryOptions } from './gallery.js';
import { KeyRing } from './keys.js';
import { identificationThresholds, type IdentificationDecision } from './identification.js';
import { decide, type MatchGrade } from './match.js';
import { TemplateProtection, type ProtectedTemplate, type TransformedEmbedding } from './protection.js';
import { thresholdsFor, type ModelThresholds } from './thresholds.js';

/** A patient's stored template as the index reads it: the sealed blob, its id and whose it is. */
export interface IndexedTemplate extends ProtectedTemplate {
  id: string;
  patientId: string;
}

/**
 * What the index needs of storage, and nothing more: reading templates (one patient's, all of them, or only
 * their ids for a cheap comparison) and checking a key ring against the keys the records were sealed with.
 * The store adapter (services/biometrics/template-reader.ts) implements it; a test can hand in an in-memory one.
 */
export interface TemplateReader {
  /** The patient's stored templates (none for an unknown patient). */
  templatesOf(patientId: string): Promise<IndexedTemplate[]>;
  /** Every stored template, read in pages. */
  allTemplates(): AsyncIterable<IndexedTemplate>;
  /** Template ids and their patients in id order after `afterId`, without the blobs. */
  templateRefsPage(afterId: string | null, limit: number): Promise<{ id: string; patientId: string }[]>;
  /** Records the ring's keys, or refuses a ring that is not the one the records were sealed with (KEY_INVALID). */
  registerKeys(ring: KeyRing): Promise<void>;
}

export interface TemplateIndexOptions {
  /** The key file the ring was read from (read again when another process replaces it). */
  keyFile: string;
  /** Thresholds file; default config/thresholds.json. */
  thresholdsFile?: string | undefined;
  gallery?: Partial<GalleryOptions> | undefined;
}

/** Template ids read per query when the gallery is compared with the store. */
const RESYNC_PAGE = 5000;
/** How many times k an older model's search looks at, to see past patients the current model finds already. */
const STRANDED_FANOUT = 4;

/** The grades a search can be limited to (`certainly-not` is no candidate). */
export type CandidateGrade = Exclude<MatchGrade, 'certainly-not'>;

/** A patient found only through an older model's templates, graded by that model's thresholds. */
export interface StrandedMatch extends GalleryMatch {
  model: string;
  grade: MatchGrade;
}

/**
 * The patients' face templates as this process searches them: the in-memory gallery opened from the store,
 * the key ring and template protection that open and seal them, and the calibrated thresholds they are
 * judged with. It keeps the gallery true to the store: re-checking hits before reporting them, reloading a
 * patient another process changed, resyncing after missed changes, and following key-file changes.
 */
export class TemplateIndex {
  readonly #reader: TemplateReader;
  readonly #options: TemplateIndexOptions;
  #keys: KeyRing;
  #protection: TemplateProtection;
  #gallery = new Gallery();
  readonly #thresholds = new Map<string, ModelThresholds>();
  /** Identity of the key file as last read, to notice when another process replaces it. */
  #keyFileStamp: string;
  /** Per-patient queue: a patient's transaction and the gallery update after it run before the next one starts. */
  readonly #patientQueues = new Map<string, Promise<unknown>>();

  private constructor(reader: TemplateReader, keys: KeyRing, keyFileStamp: string, options: TemplateIndexOptions) {
    this.#reader = reader;
    this.#options = options;
    this.#keys = keys;
    this.#keyFileStamp = keyFileStamp;
    this.#protection = new TemplateProtection(keys);
  }

  /**
   * The index over `reader`'s templates with the ring just read from `options.keyFile`: every stored template
   * is opened into the gallery, so a key file that is not this database's fails here (KEY_INVALID), before
   * any comparison could be made with garbage vectors.
   */
  static async open(reader: TemplateReader, keys: KeyRing, options: TemplateIndexOptions): Promise<TemplateIndex> {
    const index = new TemplateIndex(reader, keys, await fileStamp(options.keyFile), options);
    await index.rebuild();
    return index;
  }

  get keyFile(): string {
    return this.#options.keyFile;
  }

  /** The thresholds file this process reads (undefined: the default config/thresholds.json). */
  get thresholdsFile(): string | undefined {
    return this.#options.thresholdsFile;
  }

  get keys(): KeyRing {
    return this.#keys;
  }

  get protection(): TemplateProtection {
    return this.#protection;
  }

  get gallery(): Gallery {
    return this.#gallery;
  }

  /** The calibrated thresholds of an embedder model, read once. */
  thresholds(model: string): ModelThresholds {
    let thresholds = this.#thresholds.get(model);
    if (!thresholds) {
      thresholds = thresholdsFor(model, this.#options.thresholdsFile);
      this.#thresholds.set(model, thresholds);
    }
    return thresholds;
  }

  /** The 1:N decision for `model` at the gallery's current number of patients (identification.ts). */
  identificationThresholds(model: string): IdentificationDecision {
    return identificationThresholds(model, this.thresholds(model), this.#gallery.patients);
  }

  /** A probe in the space of the current transform, ready to search or compare. */
  probe(embedding: Embedding): TransformedEmbedding {
    return this.#protection.transformProbe(embedding);
  }

  /**
   * The gallery's k nearest patients, those scoring at least `minScore` checked against the store first.
   * Another process (the CLI beside a server) may have withdrawn or erased a patient this gallery still
   * holds: such a patient's entries are reloaded from the store and the search is run again, so a deleted
   * template is never reported as a match.
   */
  async search(probe: TransformedEmbedding, k: number, minScore: number): Promise<GalleryMatch[]> {
    const stale = new Set<string>();
    for (const hit of this.#gallery.search(probe, k)) {
      if (hit.score < minScore || stale.has(hit.patientId)) continue;
      const stored = await this.#reader.templatesOf(hit.patientId);
      if (!stored.some((t) => t.id === hit.templateId)) stale.add(hit.patientId);
    }
    for (const patientId of stale) await this.reloadPatient(patientId);
    return this.#gallery.search(probe, k);
  }

  /**
   * Patients the current model cannot find yet: probes of older models (the same capture, embedded by each
   * model the gallery still holds templates of) searched among the patients with no template of
   * `currentModel` — enrolled before the recogniser changed and neither re-derived from a kept photo nor
   * re-enrolled since. Each hit is graded by its own model's thresholds and kept at `minGrade` or better,
   * so a grade means the same false-match rate whichever model found the patient.
   */
  async searchStranded(probes: readonly Embedding[], currentModel: string, k: number, minGrade: CandidateGrade): Promise<StrandedMatch[]> {
    const found = new Map<string, StrandedMatch>();
    for (const embedding of probes) {
      if (embedding.model === currentModel) continue;
      const thresholds = this.thresholds(embedding.model);
      const minScore = thresholds.grades[minGrade].minScore;
      // patients holding templates of both models are the current model's to find: look past them
      const hits = await this.search(this.probe(embedding), k * STRANDED_FANOUT, minScore);
      for (const hit of hits) {
        if (hit.score < minScore || this.#gallery.hasTemplateOf(hit.patientId, currentModel)) continue;
        const seen = found.get(hit.patientId);
        if (!seen || seen.score < hit.score) found.set(hit.patientId, { ...hit, model: embedding.model, grade: decide(hit.score, thresholds).grade });
      }
    }
    return [...found.values()].sort((a, b) => b.score - a.score).slice(0, k);
  }

  /**
   * Makes the gallery hold exactly the patient's stored templates (another process or node changed them):
   * templates gone are removed, new ones opened and added, the others left as they are. Ordered with this
   * process's own changes to the patient (`exclusive`).
   */
  reloadPatient(patientId: string): Promise<void> {
    return this.exclusive(patientId, async () => {
      const stored = await this.#reader.templatesOf(patientId);
      const gallery = this.#gallery;
      const held = new Set(gallery.templatesOf(patientId));
      const added: GalleryEntry[] = [];
      for (const t of stored) if (!held.delete(t.id)) added.push({ templateId: t.id, patientId, template: await this.open(t) });
      if (gallery !== this.#gallery) return; // rebuilt from the store meanwhile
      for (const templateId of held) gallery.remove(templateId);
      for (const entry of added) gallery.add(entry);
    });
  }

  /**
   * Brings the gallery back in line with the store after changes may have been missed (the node lost its
   * listening connection, or another process wrote the SQLite file): the key file is read again if it was
   * replaced, the store's template ids are compared with the gallery's, and every patient that differs is
   * reloaded. Only ids are read for the comparison, in pages; templates are opened only where they differ.
   */
  async resync(): Promise<void> {
    await this.syncKeys();
    const unseen = new Map<string, string>();
    for (const { templateId, patientId } of this.#gallery.entries()) unseen.set(templateId, patientId);
    const differing = new Set<string>();
    for (let after: string | null = null; ;) {
      const page = await this.#reader.templateRefsPage(after, RESYNC_PAGE);
      for (const ref of page) if (!unseen.delete(ref.id)) differing.add(ref.patientId);
      if (page.length < RESYNC_PAGE) break;
      after = page[page.length - 1]!.id;
    }
    for (const patientId of unseen.values()) differing.add(patientId);
    for (const patientId of differing) await this.reloadPatient(patientId);
  }

  /**
   * Runs `fn` after every earlier exclusive call for the same patient has finished. The store's patient lock
   * orders transactions; this also orders the gallery updates that follow each commit, so a withdrawal's
   * removal can never be overtaken by an earlier enrolment's late addition.
   */
  exclusive<T>(patientId: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#patientQueues.get(patientId) ?? Promise.resolve();
    const result = previous.then(fn, fn);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.#patientQueues.set(patientId, settled);
    void settled.then(() => {
      if (this.#patientQueues.get(patientId) === settled) this.#patientQueues.delete(patientId);
    });
    return result;
  }

  /**
   * A stored template opened into the current transform's space, ready to compare with a probe. A record
   * that names a key or transform this process has not loaded was re-protected by another process (key
   * rotation, transform renewal): the key file is read again first.
   */
  async open(t: IndexedTemplate): Promise<TransformedEmbedding> {
    if (!this.#keys.kekIds.includes(t.keyId) || !this.#keys.transformIds.includes(t.transformId)) await this.reloadKeys();
    return this.#openWithCurrentKeys(t);
  }

  /** Seals an embedding for a binding (a patient id) under the keys currently live (re-reading a replaced key file first). */
  async seal(embedding: Embedding, binding: string): Promise<ProtectedTemplate> {
    await this.syncKeys();
    return this.#protection.protect(embedding, binding);
  }

  /**
   * Reads the key file again if it was replaced since this process loaded it: another process (`medface keys
   * rotate`, `keys renew-transform`) added a key that new records must be sealed with. A stat per write.
   */
  async syncKeys(): Promise<void> {
    if ((await fileStamp(this.keyFile)) !== this.#keyFileStamp) await this.reloadKeys();
  }

  /** Reads the key file again (never generating one) and switches to it. */
  async reloadKeys(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.keyFile, 'utf8');
    } catch (e) {
      throw new MedfaceError('KEY_MISSING', `the key file ${this.keyFile} cannot be read`, { path: this.keyFile, reason: (e as NodeJS.ErrnoException).code });
    }
    const stamp = await fileStamp(this.keyFile);
    await this.useKeys(KeyRing.parse(text));
    this.#keyFileStamp = stamp;
  }

  /**
   * Switches to another key ring after checking it against the store's key metadata (recording new keys).
   * When the current transform changes, the gallery is rebuilt in the new space.
   */
  async useKeys(ring: KeyRing): Promise<void> {
    await this.#reader.registerKeys(ring);
    const transformChanged = ring.currentTransformId !== this.#keys.currentTransformId;
    this.#keys = ring;
    this.#protection = new TemplateProtection(ring);
    if (transformChanged) await this.rebuild();
  }

  /**
   * Builds the gallery from every stored template. Templates still under an older transform (a renewal in
   * progress) are moved into the current one in memory, so every vector shares the probes' space.
   */
  async rebuild(): Promise<void> {
    const open = this.#openWithCurrentKeys.bind(this);
    const reader = this.#reader;
    async function* entries(): AsyncIterable<GalleryEntry> {
      for await (const t of reader.allTemplates()) yield { templateId: t.id, patientId: t.patientId, template: open(t) };
    }
    const previous = this.#gallery;
    this.#gallery = await Gallery.build(entries(), this.#options.gallery);
    previous.clear();
  }

  /** Frees the gallery's memory; the index is not used after this. */
  close(): void {
    this.#gallery.clear();
  }

  #openWithCurrentKeys(t: IndexedTemplate): TransformedEmbedding {
    const current = t.transformId === this.#keys.currentTransformId ? t : this.#protection.renew(t, t.patientId);
    return this.#protection.unprotect(current, t.patientId);
  }
}

/** Changes when the file is replaced (saveKeyRing renames a new file into place) or rewritten. */
async function fileStamp(file: string): Promise<string> {
  try {
    const s = await stat(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch (e) {
    throw new MedfaceError('KEY_MISSING', `the key file ${file} cannot be read`, { path: file, reason: (e as NodeJS.ErrnoException).code });
  }
}
