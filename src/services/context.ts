import path from 'node:path';
import { checkpointPath, type CheckpointFile } from '../audit/checkpoints.js';
import { AuditTrail } from '../audit/trail.js';
import type { Config } from '../config.js';
import { MedfaceError } from '../errors.js';
import type { GalleryOptions } from '../identity/gallery.js';
import { KEY_FILE_NAME, loadKeyRing } from '../identity/keys.js';
import { TemplateIndex } from '../identity/template-index.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { Faces, type FaceEmbedder } from './faces.js';
import { registerKeys } from './operations/key-registry.js';
import { loadPseudonymKey, pseudonymKeyPath } from './operations/pseudonym-key.js';
import { storeTemplateReader } from './biometrics/template-reader.js';

/** The active liveness check's settings (services/biometrics/liveness.ts). */
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

export const DEFAULT_MAX_TEMPLATES = 5;
const DEFAULT_REFRESH_AFTER_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;

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

/** What the use cases read of this process's configuration, fixed when it starts. */
export interface MedfaceSettings {
  /** Most templates one patient may have. */
  readonly maxTemplatesPerPatient: number;
  /** A strong verification refreshes the template set only when the newest template is at least this old. */
  readonly refreshAfterMs: number;
  /** The active liveness check's deadline and (tests only) the random source of its challenges. */
  readonly liveness: LivenessOptions;
  /** Keyed checkpoints of the audit head, beside the key file (audit/checkpoints.ts). */
  readonly checkpoints: CheckpointFile;
  /** Set on the run that generated a key file: the operator must be told to back it up. */
  readonly notice: string | undefined;
}

/**
 * Everything the use cases share, opened once per process: the store, the audit trail, the template index
 * (gallery, keys, template protection and thresholds; kept in sync by the services that write templates),
 * the face engine (loaded on first use) and the settings. Use cases reach each of them directly: the context
 * itself does nothing but hold them and close them.
 */
export class Medface {
  readonly store: Store;
  readonly audit: AuditTrail;
  /** The patients' templates as this process searches them, with the keys and thresholds they need. */
  readonly templates: TemplateIndex;
  /** The face pool of the current model and those of older models the gallery still holds templates of. */
  readonly faces: Faces;
  readonly settings: MedfaceSettings;

  constructor(store: Store, templates: TemplateIndex, audit: AuditTrail, options: MedfaceOptions, notice: string | undefined) {
    const maxTemplatesPerPatient = options.maxTemplatesPerPatient ?? DEFAULT_MAX_TEMPLATES;
    if (!Number.isInteger(maxTemplatesPerPatient) || maxTemplatesPerPatient < 1) {
      throw new MedfaceError('INVALID_ARGUMENT', 'maxTemplatesPerPatient must be a positive integer');
    }
    this.store = store;
    this.templates = templates;
    this.audit = audit;
    this.faces = new Faces(templates, { embedder: options.faces, embedderId: options.embedderId, poolSize: options.poolSize });
    this.settings = {
      maxTemplatesPerPatient,
      refreshAfterMs: (options.refreshAfterDays ?? DEFAULT_REFRESH_AFTER_DAYS) * DAY_MS,
      liveness: options.liveness ?? {},
      checkpoints: audit.checkpointFile(checkpointPath(templates.keyFile)),
      notice,
    };
  }

  /** Closes the face pools it started, the template index and the store. */
  async close(): Promise<void> {
    this.templates.close();
    try {
      await this.faces.close();
    } finally {
      await this.store.close();
    }
  }
}
