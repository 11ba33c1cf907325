import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { checkpointPath, type CheckpointFile } from '../audit/checkpoints.js';
import { AuditTrail } from '../audit/trail.js';
import type { Config } from '../config.js';
import { MedfaceError } from '../errors.js';
import type { FacePool, Purpose, SubjectFace } from '../face/index.js';
import { Gallery, type GalleryEntry, type GalleryMatch, type GalleryOptions } from '../identity/gallery.js';
import { KEY_FILE_NAME, KeyRing, loadKeyRing } from '../identity/keys.js';
import { TemplateProtection, type ProtectedTemplate, type TransformedEmbedding } from '../identity/protection.js';
import { identificationThresholds, type IdentificationDecision } from '../identity/identification.js';
import { thresholdsFor, type ModelThresholds } from '../identity/thresholds.js';
import { openStore } from '../store/index.js';
import type { Store, StoredTemplate } from '../store/types.js';
import { registerKeys } from './keys.js';
import { protectedTemplate } from './templates.js';
import { loadPseudonymKey, pseudonymKeyPath } from './pseudonym-key.js';
import type { LivenessOptions } from './liveness.js';

export interface MedfaceOptions {
  /** Key file; default `<dataDir>/medface.key` (generated on first run). */
  keyFile?: string | undefined;
  /** Thresholds file; default config/thresholds.json. */
  thresholdsFile?: string | undefined;
  /** Which embedder the face pool started here runs (default: the face layer's DEFAULT_EMBEDDER_ID). */
  embedderId?: string;
  /** Most templates one patient may have (default 5). */
  maxTemplatesPerPatient?: number;
  /** A strong verification refreshes the template set only when the newest template is at least this old (default 30). */
  refreshAfterDays?: number;
  /** A face pool to use instead of starting one; the caller keeps ownership (close() leaves it running). */
  faces?: FaceEmbedder;
  /** Worker threads of the pool started on first use (default 1: a CLI command embeds one image at a time). */
  poolSize?: number;
  gallery?: Partial<GalleryOptions>;
  /** The active liveness check's deadline and (tests only) the random source of its challenges. */
  liveness?: LivenessOptions;
}

/**
 * What the use cases need of the face layer: one quality-gated face and its embedding per capture; a server's
 * pool also follows a face over the frames of a liveness sequence (`observe`) and judges live captures (`analyze`).
 */
export type FaceEmbedder = Pick<FacePool, 'embedSingle'> & Partial<Pick<FacePool, 'observe' | 'analyze' | 'stats'>>;

export const DEFAULT_MAX_TEMPLATES = 5;
const DEFAULT_REFRESH_AFTER_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Template ids read per query when the gallery is compared with the store. */
const RESYNC_PAGE = 5000;

/** Opens the configured database and starts medface on it (see `startMedface`). */
export async function openMedface(config: Pick<Config, 'dataDir' | 'databaseUrl' | 'keyFile'>, options: MedfaceOptions = {}): Promise<Medface> {
  const store = await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl });
  const keyFile = options.keyFile ?? config.keyFile ?? path.join(config.dataDir, KEY_FILE_NAME);
  try {
    return await startMedface(store, { ...options, keyFile });
  } catch (e) {
    await store.close();
    throw e;
  }
}

/**
 * Starts medface on an open store, which it then owns: loads the key ring (generating the key file on a first
 * run), checks it against the key metadata in the store, and builds the in-memory gallery by opening every
 * stored template. A key file that does not belong to this database fails here with KEY_INVALID or
 * KEY_MISSING, before any comparison could be made with garbage vectors.
 */
export async function startMedface(store: Store, options: MedfaceOptions & { keyFile: string }): Promise<Medface> {
  const { keyFile } = options;
  const loaded = await loadKeyRing({ path: keyFile, storeHasTemplates: (await store.countTemplates()) > 0 });
  const stamp = await fileStamp(keyFile);
  const auditKeyFile = pseudonymKeyPath(keyFile);
  const pseudonym = await loadPseudonymKey(auditKeyFile, (await store.listAuditEvents({ limit: 1 })).length > 0);
  const notices = [
    loaded.notice,
    pseudonym.generated
      ? `medface generated the audit pseudonym key ${auditKeyFile}. Back it up with the key file: without it a patient's audit entries can no longer be found.`
      : undefined,
  ].filter((n): n is string => n !== undefined);
  const medface = new Medface(store, loaded.ring, stamp, new AuditTrail(pseudonym.key), keyFile, options, notices.join('\n') || undefined);
  // Opening every template first: a key file that is not this database's fails here, before it is recorded.
  await medface.rebuildGallery();
  const register = () => store.transaction((tx) => registerKeys(tx, loaded.ring, pseudonym.key));
  // two processes starting together on a new key file both record it; the one that lost finds it recorded
  await register().catch((e: unknown) => (e instanceof MedfaceError && e.code === 'CONFLICT' ? register() : Promise.reject(e)));
  return medface;
}

/**
 * Everything the use cases share, opened once per process: the store, the deployment's keys and template
 * protection, the audit trail, the in-memory gallery (kept in sync by the services that write templates),
 * the calibrated thresholds and the face pool (both loaded on first use).
 */
export class Medface {
  readonly store: Store;
  readonly audit: AuditTrail;
  /** Keyed checkpoints of the audit head, beside the key file (audit/checkpoints.ts). */
  readonly checkpoints: CheckpointFile;
  readonly keyFile: string;
  readonly maxTemplatesPerPatient: number;
  readonly refreshAfterMs: number;
  readonly liveness: LivenessOptions;
  /** Set on the run that generated a key file: the operator must be told to back it up. */
  readonly notice: string | undefined;
  readonly #options: MedfaceOptions;
  #keys: KeyRing;
  #protection: TemplateProtection;
  #gallery = new Gallery();
  readonly #thresholds = new Map<string, ModelThresholds>();
  #pool: Promise<FacePool> | undefined;
  /** Identity of the key file as last read, to notice when another process replaces it. */
  #keyFileStamp: string;
  /** Per-patient queue: a patient's transaction and the gallery update after it run before the next one starts. */
  readonly #patientQueues = new Map<string, Promise<unknown>>();

  constructor(
    store: Store,
    keys: KeyRing,
    keyFileStamp: string,
    audit: AuditTrail,
    keyFile: string,
    options: MedfaceOptions,
    notice: string | undefined,
  ) {
    this.store = store;
    this.audit = audit;
    this.checkpoints = audit.checkpointFile(checkpointPath(keyFile));
    this.keyFile = keyFile;
    this.maxTemplatesPerPatient = options.maxTemplatesPerPatient ?? DEFAULT_MAX_TEMPLATES;
    if (!Number.isInteger(this.maxTemplatesPerPatient) || this.maxTemplatesPerPatient < 1) {
      throw new MedfaceError('INVALID_ARGUMENT', 'maxTemplatesPerPatient must be a positive integer');
    }
    this.refreshAfterMs = (options.refreshAfterDays ?? DEFAULT_REFRESH_AFTER_DAYS) * DAY_MS;
    this.liveness = options.liveness ?? {};
    this.notice = notice;
    this.#options = options;
    this.#keys = keys;
    this.#keyFileStamp = keyFileStamp;
    this.#protection = new TemplateProtection(keys);
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
      const stored = await this.store.listTemplates(hit.patientId);
      if (!stored.some((t) => t.id === hit.templateId)) stale.add(hit.patientId);
    }
    for (const patientId of stale) await this.reloadPatient(patientId);
    return this.#gallery.search(probe, k);
  }

  /**
   * Makes the gallery hold exactly the patient's stored templates (another process or node changed them):
   * templates gone are removed, new ones opened and added, the others left as they are. Ordered with this
   * process's own changes to the patient (`exclusive`).
   */
  reloadPatient(patientId: string): Promise<void> {
    return this.exclusive(patientId, async () => {
      const stored = await this.store.listTemplates(patientId);
      const gallery = this.#gallery;
      const held = new Set(gallery.templatesOf(patientId));
      const added: GalleryEntry[] = [];
      for (const t of stored) if (!held.delete(t.id)) added.push({ templateId: t.id, patientId, template: await this.openTemplate(t) });
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
  async resyncGallery(): Promise<void> {
    await this.syncKeys();
    const gallery = this.#gallery;
    const unseen = new Map<string, string>();
    for (const { templateId, patientId } of gallery.entries()) unseen.set(templateId, patientId);
    const differing = new Set<string>();
    for (let after: string | null = null; ; ) {
      const page = await this.store.listTemplateRefsPage(after, RESYNC_PAGE);
      for (const ref of page) if (!unseen.delete(ref.id)) differing.add(ref.patientId);
      if (page.length < RESYNC_PAGE) break;
      after = page[page.length - 1]!.id;
    }
    for (const patientId of unseen.values()) differing.add(patientId);
    for (const patientId of differing) await this.reloadPatient(patientId);
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

  /**
   * The model's 1:N thresholds for the gallery as it is now: every enrolled patient is one more chance for a
   * stranger to be matched, so the cut-offs rise with the number of patients (identity/identification.ts).
   */
  identificationThresholds(model: string): IdentificationDecision {
    return identificationThresholds(model, this.thresholds(model), this.#gallery.patients);
  }

  /** The face pool, started on first use (loaded then too: commands without a face never pay for the models). */
  faces(): Promise<FaceEmbedder> {
    if (this.#options.faces) return Promise.resolve(this.#options.faces);
    if (!this.#pool) {
      const { poolSize = 1, embedderId } = this.#options;
      this.#pool = import('../face/index.js').then(({ FacePool }) => FacePool.create({ size: poolSize, ...(embedderId && { embedderId }) }));
    }
    return this.#pool;
  }

  /**
   * The one face of a capture with its embedding, quality-gated for `purpose`; refusals keep their codes.
   * The embedding names its model: templates and thresholds of that model are the ones it is compared with.
   */
  async embed(bytes: Uint8Array, purpose: Purpose): Promise<SubjectFace> {
    return (await this.faces()).embedSingle(bytes, purpose);
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
  async openTemplate(t: StoredTemplate): Promise<TransformedEmbedding> {
    if (!this.#keys.kekIds.includes(t.keyId) || !this.#keys.transformIds.includes(t.transformId)) await this.reloadKeys();
    return this.#open(t);
  }

  /** Seals an embedding for a patient under the keys currently live in the store (re-reading the key file if another process rotated them). */
  async seal(embedding: SubjectFace['embedding'], patientId: string): Promise<ProtectedTemplate> {
    await this.syncKeys();
    return this.#protection.protect(embedding, patientId);
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
    await this.store.transaction((tx) => registerKeys(tx, ring));
    const transformChanged = ring.currentTransformId !== this.#keys.currentTransformId;
    this.#keys = ring;
    this.#protection = new TemplateProtection(ring);
    if (transformChanged) await this.rebuildGallery();
  }

  /**
   * Builds the gallery from every stored template. Templates still under an older transform (a renewal in
   * progress) are moved into the current one in memory, so every vector shares the probes' space.
   */
  async rebuildGallery(): Promise<void> {
    const open = this.#open.bind(this);
    const store = this.store;
    async function* entries(): AsyncIterable<GalleryEntry> {
      for await (const t of store.iterateTemplates()) yield { templateId: t.id, patientId: t.patientId, template: open(t) };
    }
    const previous = this.#gallery;
    this.#gallery = await Gallery.build(entries(), this.#options.gallery);
    previous.clear();
  }

  #open(t: StoredTemplate): TransformedEmbedding {
    const sealed = protectedTemplate(t);
    const current = sealed.transformId === this.#keys.currentTransformId ? sealed : this.#protection.renew(sealed, t.patientId);
    return this.#protection.unprotect(current, t.patientId);
  }

  /** Closes the face pool it started and the store. */
  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    this.#gallery.clear();
    try {
      if (pool) await (await pool.catch(() => undefined))?.close();
    } finally {
      await this.store.close();
    }
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
