import type { AccessContext } from '../../access/context.js';
import type { Config } from '../../config.js';
import os from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type { AnalyzeOptions, DetectedFace, FacePool, PoolStats, Purpose } from '../../face/index.js';
// the constant alone: pool.ts loads no model (the face layer's index does, and is imported on first use)
import { DEFAULT_QUEUE_LIMIT } from '../../face/pool.js';
import { isMedfaceError, MedfaceError } from '../../errors.js';
import { accessContext, type AccessOptions } from '../access.js';
import { openMedface, type Medface, type MedfaceOptions } from '../context.js';
import { GallerySync } from './gallery-sync.js';

/** What a long-running deployment needs of the face pool: embeddings, its load, and closing it. */
export type ServingPool = Pick<FacePool, 'embedSingle' | 'stats' | 'close'> & Partial<Pick<FacePool, 'observe' | 'embedObserved' | 'analyze'>>;

export interface DeploymentOptions extends Omit<MedfaceOptions, 'faces'> {
  /** A started pool to use (tests share one per file); the caller keeps ownership. */
  pool?: ServingPool;
  /**
   * Without `pool`, the deployment starts its own of `poolSize` workers (default: one per core): `at-start`
   * (default) waits until every worker is warm, so a server never answers before it can recognise a face;
   * `on-first-use` starts it with the first request that needs a face.
   */
  startFaces?: 'at-start' | 'on-first-use';
  /** Analyses the started pool lets wait for a worker (default: the face layer's DEFAULT_QUEUE_LIMIT). */
  queueLimit?: number;
  /** The started pool's deadline per analysis (default: the face layer's DEFAULT_TASK_TIMEOUT_MS). */
  taskTimeoutMs?: number;
  access?: AccessOptions;
}

export interface Readiness {
  ready: boolean;
  store: 'ok' | 'unavailable';
  /** The face pool's warm workers, how many are expected, and the requests waiting for one (a full queue answers ENGINE_BUSY). */
  faces: PoolStats & { expected: number };
  /** `live`: the gallery follows what other nodes and processes commit; `reconnecting`: it may be behind. */
  gallery: 'live' | 'reconnecting';
}

/** How long start-up waits for the gallery's first comparison with the store before serving anyway (not ready). */
const GALLERY_SYNC_START_MS = 10_000;

/**
 * Everything a serving process holds for its lifetime: medface on the configured database with a face pool,
 * and access control on it. `close()` lets running face work finish, then closes the pool (when it started
 * it) and the store.
 */
export class Deployment {
  readonly medface: Medface;
  readonly access: AccessContext;
  readonly #faces: Faces;
  readonly #gallerySync: GallerySync;

  private constructor(medface: Medface, access: AccessContext, faces: Faces, gallerySync: GallerySync) {
    this.medface = medface;
    this.access = access;
    this.#faces = faces;
    this.#gallerySync = gallerySync;
  }

  static async start(config: Pick<Config, 'dataDir' | 'databaseUrl' | 'keyFile'>, options: DeploymentOptions = {}): Promise<Deployment> {
    const { pool, startFaces = 'at-start', access: accessOptions, queueLimit, taskTimeoutMs, ...medfaceOptions } = options;
    const faces = new Faces(pool, options.poolSize, options.embedderId, { queueLimit, taskTimeoutMs });
    let medface: Medface | undefined;
    let gallerySync: GallerySync | undefined;
    try {
      if (startFaces === 'at-start') await faces.pool();
      medface = await openMedface(config, {
        ...medfaceOptions,
        faces: {
          embedSingle: (bytes: Uint8Array, purpose: Purpose) => faces.embedSingle(bytes, purpose),
          observe: (bytes: Uint8Array, embed: boolean) => faces.observe(bytes, embed),
          embedObserved: (bytes: Uint8Array, face: DetectedFace) => faces.embedObserved(bytes, face),
          analyze: (bytes: Uint8Array, options?: AnalyzeOptions) => faces.analyze(bytes, options),
          stats: () => faces.stats(),
        },
      });
      // other nodes (or a CLI command) may commit templates between the gallery's build and listening
      gallerySync = GallerySync.start(medface);
      await Promise.race([gallerySync.whenStarted(), delay(GALLERY_SYNC_START_MS, undefined, { ref: false })]);
      return new Deployment(medface, await accessContext(medface, accessOptions), faces, gallerySync);
    } catch (e) {
      await gallerySync?.close();
      await medface?.close();
      await faces.close();
      throw e;
    }
  }

  /** Whether this process can serve: the store answers and every face worker is warm. */
  async readiness(): Promise<Readiness> {
    let store: Readiness['store'] = 'ok';
    try {
      await this.medface.store.listAuditEvents({ limit: 1 });
    } catch {
      store = 'unavailable';
    }
    const faces = this.faceStats();
    const gallery = this.#gallerySync.live ? 'live' : 'reconnecting';
    return { ready: store === 'ok' && gallery === 'live' && faces.workers > 0 && faces.workers >= faces.expected, store, faces, gallery };
  }

  /** The face pool's warm workers, how many are expected, and what they are doing now. */
  faceStats(): PoolStats & { expected: number } {
    return this.#faces.stats();
  }

  /** Calls `listener` after every face analysis this deployment asks for; returns the unsubscribe. */
  onFaceWork(listener: (work: FaceWork) => void): () => void {
    return this.#faces.onWork(listener);
  }

  /** What the face pool holds at once: one analysis per worker, and its queue (a given pool: its workers, no queue known). */
  faceCapacity(): { workers: number; queueLimit: number } {
    return this.#faces.capacity();
  }

  async close(): Promise<void> {
    try {
      await this.#faces.close();
    } finally {
      await this.#gallerySync.close();
      await this.medface.close();
    }
  }
}

/** One face analysis as monitoring sees it: what, how it ended (`refused`: the capture's fault), how long. */
export interface FaceWork {
  kind: 'embed' | 'observe' | 'analyze';
  outcome: 'ok' | 'refused' | 'error';
  seconds: number;
}

/** The deployment's face pool: given, or started (once) by the deployment, which then closes it. */
class Faces {
  readonly #given: ServingPool | undefined;
  readonly #size: number | undefined;
  readonly #embedderId: string | undefined;
  #started: Promise<ServingPool> | undefined;
  #warm: ServingPool | undefined;
  #expected: number;
  readonly #limits: { queueLimit: number | undefined; taskTimeoutMs: number | undefined };
  readonly #listeners = new Set<(work: FaceWork) => void>();

  constructor(given: ServingPool | undefined, size: number | undefined, embedderId: string | undefined, limits: { queueLimit: number | undefined; taskTimeoutMs: number | undefined }) {
    this.#given = given;
    this.#size = size;
    this.#embedderId = embedderId;
    this.#limits = limits;
    this.#warm = given;
    this.#expected = given ? given.stats().workers : 0;
  }

  pool(): Promise<ServingPool> {
    if (this.#given) return Promise.resolve(this.#given);
    this.#started ??= (async () => {
      // loaded here: the face layer pulls in tfjs and its models
      const { FacePool } = await import('../../face/index.js');
      const size = this.#size ?? (await import('node:os')).availableParallelism();
      this.#expected = size;
      const { queueLimit, taskTimeoutMs } = this.#limits;
      const pool = await FacePool.create({
        size,
        ...(this.#embedderId !== undefined && { embedderId: this.#embedderId }),
        ...(queueLimit !== undefined && { queueLimit }),
        ...(taskTimeoutMs !== undefined && { taskTimeoutMs }),
      });
      this.#warm = pool;
      return pool;
    })();
    return this.#started;
  }

  onWork(listener: (work: FaceWork) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async embedSingle(bytes: Uint8Array, purpose: Purpose) {
    return this.#timed('embed', async () => (await this.pool()).embedSingle(bytes, purpose));
  }

  /** A frame of a sequence (the liveness check); a given pool without it cannot follow a face over frames. */
  async observe(bytes: Uint8Array, embed: boolean) {
    const pool = await this.pool();
    if (!pool.observe) throw new MedfaceError('ENGINE_FAILED', 'this face pool cannot observe frames');
    return this.#timed('observe', () => pool.observe!(bytes, embed));
  }

  /** A face of a frame observed before, embedded without detecting it again (a liveness check's key frame). */
  async embedObserved(bytes: Uint8Array, face: DetectedFace) {
    const pool = await this.pool();
    if (!pool.embedObserved) throw new MedfaceError('ENGINE_FAILED', 'this face pool cannot embed observed frames');
    return this.#timed('observe', () => pool.embedObserved!(bytes, face));
  }

  async analyze(bytes: Uint8Array, options?: AnalyzeOptions) {
    const pool = await this.pool();
    if (!pool.analyze) throw new MedfaceError('ENGINE_FAILED', 'this face pool cannot analyse captures');
    return this.#timed('analyze', () => pool.analyze!(bytes, options));
  }

  /** Queue wait included: the time a request waits for its face is what the monitoring shows. */
  async #timed<T>(kind: FaceWork['kind'], run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let outcome: FaceWork['outcome'] = 'error';
    try {
      const result = await run();
      outcome = 'ok';
      return result;
    } catch (e) {
      if (isMedfaceError(e) && e.status < 500) outcome = 'refused';
      throw e;
    } finally {
      const seconds = (performance.now() - started) / 1000;
      for (const listener of this.#listeners) listener({ kind, outcome, seconds });
    }
  }

  capacity(): { workers: number; queueLimit: number } {
    if (this.#given) return { workers: Math.max(1, this.#given.stats().workers), queueLimit: 0 };
    return { workers: this.#size ?? os.availableParallelism(), queueLimit: this.#limits.queueLimit ?? DEFAULT_QUEUE_LIMIT };
  }

  stats(): PoolStats & { expected: number } {
    return { ...(this.#warm?.stats() ?? { workers: 0, busy: 0, queued: 0 }), expected: Math.max(this.#expected, this.#size ?? 1) };
  }

  async close(): Promise<void> {
    if (this.#given || !this.#started) return;
    const pool = await this.#started.catch(() => undefined);
    await pool?.close();
  }
}
