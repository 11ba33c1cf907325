import path from 'node:path';
import { checkpointPath, type CheckpointFile } from '../audit/checkpoints.js';
import { AuditTrail } from '../audit/trail.js';
import type { Config } from '../config.js';
import { isMedfaceError, MedfaceError } from '../errors.js';
import type { Embedding, FacePool, Purpose, SubjectFace } from '../face/index.js';
import type { Gallery, GalleryMatch, GalleryOptions } from '../identity/gallery.js';
import { KEY_FILE_NAME, loadKeyRing, type KeyRing } from '../identity/keys.js';
import type { ProtectedTemplate, TemplateProtection, TransformedEmbedding } from '../identity/protection.js';
import { fuseViews } from '../identity/fusion.js';
import { identificationThresholds, type IdentificationDecision } from '../identity/identification.js';
import { TemplateIndex } from '../identity/template-index.js';
import type { ModelThresholds } from '../identity/thresholds.js';
import { openStore } from '../store/index.js';
import type { Store, StoredTemplate } from '../store/types.js';
import { registerKeys } from './key-registry.js';
import { loadPseudonymKey, pseudonymKeyPath } from './pseudonym-key.js';
import { indexedTemplate, storeTemplateReader } from './template-reader.js';

/** The active liveness check's settings (services/liveness.ts). */
export interface LivenessOptions {
  /** Seconds from issue to deadline, for every flow (default: DEFAULT_DEADLINE_SECONDS). */
  deadlineSeconds?: number;
  /**
   * The random source of the actions asked for (values in [0, 1)). Only tests set it, to make the challenge
   * a fixed camera video can answer; by default the actions come from the CSPRNG.
   */
  random?: () => number;
}

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
 * pool also follows a face over the frames of a liveness sequence (`observe`, then `embedObserved` for its key
 * frames) and judges live captures (`analyze`).
 */
export type FaceEmbedder = Pick<FacePool, 'embedSingle'> & Partial<Pick<FacePool, 'observe' | 'embedObserved' | 'analyze' | 'stats'>>;

export const DEFAULT_MAX_TEMPLATES = 5;
const DEFAULT_REFRESH_AFTER_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;
/** The face engine's refusals of a capture (as opposed to an engine that failed). */
const REFUSED_CAPTURE: readonly string[] = ['NO_FACE', 'MULTIPLE_FACES', 'QUALITY_REJECTED'];

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
  const auditKeyFile = pseudonymKeyPath(keyFile);
  const pseudonym = await loadPseudonymKey(auditKeyFile, (await store.listAuditEvents({ limit: 1 })).length > 0);
  const notices = [
    loaded.notice,
    pseudonym.generated ? `medface generated the audit pseudonym key ${auditKeyFile}. Back it up with the key file: without it a patient's audit entries can no longer be found.` : undefined,
  ].filter((n): n is string => n !== undefined);
  // Opening every template first: a key file that is not this database's fails here, before it is recorded.
  const templates = await TemplateIndex.open(storeTemplateReader(store), loaded.ring, {
    keyFile,
    thresholdsFile: options.thresholdsFile,
    gallery: options.gallery,
  });
  const medface = new Medface(store, templates, new AuditTrail(pseudonym.key), options, notices.join('\n') || undefined);
  const register = () => store.transaction((tx) => registerKeys(tx, loaded.ring, pseudonym.key));
  // two processes starting together on a new key file both record it; the one that lost finds it recorded
  await register().catch((e: unknown) => (e instanceof MedfaceError && e.code === 'CONFLICT' ? register() : Promise.reject(e)));
  return medface;
}

/**
 * Everything the use cases share, opened once per process: the store, the audit trail, the template index
 * (gallery, keys, template protection and thresholds; kept in sync by the services that write templates)
 * and the face pool (loaded on first use).
 *
 * The members that forward to `templates` are kept while their callers move to the index itself.
 */
export class Medface {
  readonly store: Store;
  readonly audit: AuditTrail;
  /** The patients' templates as this process searches them, with the keys and thresholds they need. */
  readonly templates: TemplateIndex;
  /** Keyed checkpoints of the audit head, beside the key file (audit/checkpoints.ts). */
  readonly checkpoints: CheckpointFile;
  readonly maxTemplatesPerPatient: number;
  readonly refreshAfterMs: number;
  readonly liveness: LivenessOptions;
  /** Set on the run that generated a key file: the operator must be told to back it up. */
  readonly notice: string | undefined;
  readonly #options: MedfaceOptions;
  #pool: Promise<FacePool> | undefined;
  /** Pools of older models, started on first use: only while the gallery still holds templates of them. */
  readonly #olderPools = new Map<string, Promise<FacePool>>();

  constructor(store: Store, templates: TemplateIndex, audit: AuditTrail, options: MedfaceOptions, notice: string | undefined) {
    this.store = store;
    this.templates = templates;
    this.audit = audit;
    this.checkpoints = audit.checkpointFile(checkpointPath(templates.keyFile));
    this.maxTemplatesPerPatient = options.maxTemplatesPerPatient ?? DEFAULT_MAX_TEMPLATES;
    if (!Number.isInteger(this.maxTemplatesPerPatient) || this.maxTemplatesPerPatient < 1) {
      throw new MedfaceError('INVALID_ARGUMENT', 'maxTemplatesPerPatient must be a positive integer');
    }
    this.refreshAfterMs = (options.refreshAfterDays ?? DEFAULT_REFRESH_AFTER_DAYS) * DAY_MS;
    this.liveness = options.liveness ?? {};
    this.notice = notice;
    this.#options = options;
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

  /** The model the face pool embeds with: new templates are made with it, and every probe is embedded by it. */
  async currentModel(): Promise<string> {
    return this.#options.embedderId ?? (await import('../face/index.js')).DEFAULT_EMBEDDER_ID;
  }

  /**
   * The capture embedded by each older model the gallery still holds templates of (none once every template
   * is of the current model): a patient enrolled before the recogniser changed, and not re-derived from a
   * kept photo since, can only be found with the model that made their templates. A capture an older
   * model's engine refuses is left out for that model; the current model's answer stands. `among`: the models
   * to consider, by default those the gallery holds; a 1:1 comparison passes its templates' own (a staff
   * member's are not in the gallery).
   */
  olderModelProbes(bytes: Uint8Array, purpose: Purpose, among?: Iterable<string>): Promise<Embedding[]> {
    return this.#olderModelProbes(async (pool) => (await pool.embedSingle(bytes, purpose)).embedding, among);
  }

  /**
   * The same for a verified liveness sequence: the frames its probe was made from (LivenessResult.probeFrames),
   * each embedded by every older model the gallery holds and fused as the current model's were. The frames
   * were judged by the liveness check, so no capture gate applies; a model that finds no face in any of them
   * is left out. `among` as for `olderModelProbes`.
   */
  olderModelFrameProbes(frames: readonly Uint8Array[], among?: Iterable<string>): Promise<Embedding[]> {
    return this.#olderModelProbes(async (pool) => {
      const views: Embedding[] = [];
      for (const frame of frames) {
        const embedding = (await pool.observe(frame, true)).subject?.embedding;
        if (embedding) views.push(embedding);
      }
      return views.length > 0 ? fuseViews(views, views.length) : null;
    }, among);
  }

  async #olderModelProbes(probeWith: (pool: FacePool) => Promise<Embedding | null>, among?: Iterable<string>): Promise<Embedding[]> {
    const probes: Embedding[] = [];
    for (const model of await this.searchableOlderModels(among)) {
      try {
        const probe = await probeWith(await this.#olderPool(model));
        if (probe) probes.push(probe);
      } catch (e) {
        if (!(isMedfaceError(e) && REFUSED_CAPTURE.includes(e.code))) throw e;
      }
    }
    return probes;
  }

  /**
   * The older models the gallery holds templates of (or those of `among`) that can be searched: this release
   * runs them and their thresholds are calibrated. The others' patients cannot be found by face until they are
   * migrated or enrolled again (`unsearchableModel` says why; `templates status` and the admin's page show it).
   */
  async searchableOlderModels(among: Iterable<string> = this.templates.gallery.models()): Promise<string[]> {
    const current = await this.currentModel();
    const models: string[] = [];
    for (const model of new Set(among)) if (model !== current && (await this.unsearchableModel(model)) === null) models.push(model);
    return models;
  }

  /** The models the gallery holds templates of that cannot be searched, and why: identification says so in its audit entry. */
  async unsearchableModels(): Promise<{ model: string; reason: 'not-in-release' | 'not-calibrated' }[]> {
    const found = [];
    for (const model of this.templates.gallery.models()) {
      const reason = await this.unsearchableModel(model);
      if (reason) found.push({ model, reason });
    }
    return found;
  }

  /** Why the gallery's templates of `model` cannot be searched, or null when they can. */
  async unsearchableModel(model: string): Promise<'not-in-release' | 'not-calibrated' | null> {
    const { EMBEDDER_IDS } = await import('../face/index.js');
    if (!EMBEDDER_IDS.includes(model)) return 'not-in-release';
    return this.#calibrated(model) ? null : 'not-calibrated';
  }

  #calibrated(model: string): boolean {
    try {
      this.templates.thresholds(model);
      return true;
    } catch (e) {
      if (isMedfaceError(e) && e.code === 'THRESHOLDS_MISSING') return false;
      throw e;
    }
  }

  #olderPool(model: string): Promise<FacePool> {
    let pool = this.#olderPools.get(model);
    if (!pool) {
      pool = import('../face/index.js').then(({ FacePool }) => FacePool.create({ size: 1, embedderId: model }));
      this.#olderPools.set(model, pool);
    }
    return pool;
  }

  get keyFile(): string {
    return this.templates.keyFile;
  }

  get thresholdsFile(): string | undefined {
    return this.templates.thresholdsFile;
  }

  get keys(): KeyRing {
    return this.templates.keys;
  }

  get protection(): TemplateProtection {
    return this.templates.protection;
  }

  get gallery(): Gallery {
    return this.templates.gallery;
  }

  search(probe: TransformedEmbedding, k: number, minScore: number): Promise<GalleryMatch[]> {
    return this.templates.search(probe, k, minScore);
  }

  reloadPatient(patientId: string): Promise<void> {
    return this.templates.reloadPatient(patientId);
  }

  resyncGallery(): Promise<void> {
    return this.templates.resync();
  }

  thresholds(model: string): ModelThresholds {
    return this.templates.thresholds(model);
  }

  /** The 1:N decision for `model` at the gallery's current number of patients (identity/identification.ts). */
  identificationThresholds(model: string): IdentificationDecision {
    return identificationThresholds(model, this.thresholds(model), this.templates.gallery.patients);
  }

  exclusive<T>(patientId: string, fn: () => Promise<T>): Promise<T> {
    return this.templates.exclusive(patientId, fn);
  }

  openTemplate(t: StoredTemplate): Promise<TransformedEmbedding> {
    return this.templates.open(indexedTemplate(t));
  }

  seal(embedding: SubjectFace['embedding'], patientId: string): Promise<ProtectedTemplate> {
    return this.templates.seal(embedding, patientId);
  }

  syncKeys(): Promise<void> {
    return this.templates.syncKeys();
  }

  reloadKeys(): Promise<void> {
    return this.templates.reloadKeys();
  }

  useKeys(ring: KeyRing): Promise<void> {
    return this.templates.useKeys(ring);
  }

  rebuildGallery(): Promise<void> {
    return this.templates.rebuild();
  }

  /** Closes the face pools it started and the store. */
  async close(): Promise<void> {
    const pools = [this.#pool, ...this.#olderPools.values()];
    this.#pool = undefined;
    this.#olderPools.clear();
    this.templates.close();
    try {
      for (const pool of pools) if (pool) await (await pool.catch(() => undefined))?.close();
    } finally {
      await this.store.close();
    }
  }
}
