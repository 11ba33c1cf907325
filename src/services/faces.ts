import { isMedfaceError } from '../errors.js';
import type { Embedding, FacePool, Purpose, SubjectFace } from '../face/index.js';
import { fuseViews } from '../identity/fusion.js';
import type { TemplateIndex } from '../identity/template-index.js';

/**
 * What the use cases need of the face layer: one quality-gated face and its embedding per capture; a server's
 * pool also follows a face over the frames of a liveness sequence (`observe`, then `embedObserved` for its key
 * frames) and judges live captures (`analyze`).
 */
export type FaceEmbedder = Pick<FacePool, 'embedSingle'> & Partial<Pick<FacePool, 'observe' | 'embedObserved' | 'analyze' | 'stats'>>;

export interface FacesOptions {
  /** A face pool to use instead of starting one; the caller keeps ownership (close() leaves it running). */
  embedder?: FaceEmbedder | undefined;
  /** Which embedder the face pool started here runs (default: the face layer's DEFAULT_EMBEDDER_ID). */
  embedderId?: string | undefined;
  /** Worker threads of the pool started on first use (default 1: a CLI command embeds one image at a time). */
  poolSize?: number | undefined;
}

/** Why the gallery's templates of a model cannot be searched. */
export type UnsearchableReason = 'not-in-release' | 'not-calibrated';

/** The face engine's refusals of a capture (as opposed to an engine that failed). */
const REFUSED_CAPTURE: readonly string[] = ['NO_FACE', 'MULTIPLE_FACES', 'QUALITY_REJECTED'];

/**
 * The face engine as the use cases reach it: the current model's pool (loaded on first use, so commands
 * without a face never pay for the models) and the pools of older models the template index still holds
 * templates of, with which a capture is embedded again to find patients enrolled before the recogniser
 * changed. The face layer is imported here, not in identity/: the index only ever sees embeddings.
 */
export class Faces {
  readonly #templates: TemplateIndex;
  readonly #options: FacesOptions;
  #pool: Promise<FacePool> | undefined;
  /** Pools of older models, started on first use: only while the gallery still holds templates of them. */
  readonly #olderPools = new Map<string, Promise<FacePool>>();

  constructor(templates: TemplateIndex, options: FacesOptions = {}) {
    this.#templates = templates;
    this.#options = options;
  }

  /** The face pool, started on first use (loaded then too: commands without a face never pay for the models). */
  engine(): Promise<FaceEmbedder> {
    if (this.#options.embedder) return Promise.resolve(this.#options.embedder);
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
    return (await this.engine()).embedSingle(bytes, purpose);
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
  async searchableOlderModels(among: Iterable<string> = this.#templates.gallery.models()): Promise<string[]> {
    const current = await this.currentModel();
    const models: string[] = [];
    for (const model of new Set(among)) if (model !== current && (await this.unsearchableModel(model)) === null) models.push(model);
    return models;
  }

  /** The models the gallery holds templates of that cannot be searched, and why: identification says so in its audit entry. */
  async unsearchableModels(): Promise<{ model: string; reason: UnsearchableReason }[]> {
    const found = [];
    for (const model of this.#templates.gallery.models()) {
      const reason = await this.unsearchableModel(model);
      if (reason) found.push({ model, reason });
    }
    return found;
  }

  /** Why the gallery's templates of `model` cannot be searched, or null when they can. */
  async unsearchableModel(model: string): Promise<UnsearchableReason | null> {
    const { EMBEDDER_IDS } = await import('../face/index.js');
    if (!EMBEDDER_IDS.includes(model)) return 'not-in-release';
    return this.#calibrated(model) ? null : 'not-calibrated';
  }

  #calibrated(model: string): boolean {
    try {
      this.#templates.thresholds(model);
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

  /** Closes the pools it started (an embedder handed in stays the caller's); one that failed to start is skipped. */
  async close(): Promise<void> {
    const pools = [this.#pool, ...this.#olderPools.values()];
    this.#pool = undefined;
    this.#olderPools.clear();
    for (const pool of pools) if (pool) await (await pool.catch(() => undefined))?.close();
  }
}
