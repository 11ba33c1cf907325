import type { StoreChange, StoreWatch } from '../../store/types.js';
import type { Medface } from '../context.js';

/** After a failed update the gallery is compared with the store again this much later. */
const RETRY_MS = 1000;

/**
 * Keeps a serving process's gallery and key ring in step with what other processes commit, so that several
 * nodes on one PostgreSQL (or a CLI command beside a server on SQLite) agree within about a second:
 *  - a patient's templates changed (enrolled, refreshed, replaced, erased, withdrawn): that patient is reloaded;
 *  - keys changed or records were re-protected (rotation, transform renewal): the key file is read again if it
 *    was replaced, and a new transform rebuilds the gallery in the new space;
 *  - changes may have been missed (listening (re)started, SQLite written by another process): the gallery's
 *    template ids are compared with the store's and every patient that differs is reloaded.
 * Every update reads the store's committed state, so updates arriving in any order, twice, or for this
 * process's own commits leave the same gallery. A failed update is retried by a full comparison.
 */
export class GallerySync {
  readonly #medface: Medface;
  readonly #watch: StoreWatch;
  #keys: Promise<void> = Promise.resolve();
  #resync: Promise<void> | undefined;
  #resyncAgain = false;
  #retry: NodeJS.Timeout | undefined;
  #failing = false;
  #closed = false;
  /** The first comparison after start; resolves when it is done. */
  readonly #started: Promise<void>;
  #markStarted!: () => void;

  private constructor(medface: Medface) {
    this.#medface = medface;
    this.#started = new Promise((resolve) => (this.#markStarted = resolve));
    this.#watch = medface.store.watch((change) => this.#apply(change));
  }

  static start(medface: Medface): GallerySync {
    return new GallerySync(medface);
  }

  /** Listening, and the last update succeeded: the gallery follows the store. */
  get live(): boolean {
    return this.#watch.live && !this.#failing;
  }

  /** Resolves once the first comparison with the store after listening started has completed. */
  whenStarted(): Promise<void> {
    return this.#started;
  }

  #apply(change: StoreChange): void {
    if (this.#closed) return;
    switch (change.kind) {
      case 'templates':
        this.#medface.templates.reloadPatient(change.patientId).catch(() => this.#failed());
        break;
      case 'keys':
        this.#keys = this.#keys.then(() => this.#medface.templates.syncKeys()).catch(() => this.#failed());
        break;
      case 'resync':
        this.#startResync();
        break;
    }
  }

  /** One comparison at a time; a request during one runs another after it (it may have started too early). */
  #startResync(): void {
    if (this.#resync) {
      this.#resyncAgain = true;
      return;
    }
    this.#resync = (async () => {
      do {
        this.#resyncAgain = false;
        try {
          await this.#medface.templates.resync();
          this.#failing = false;
          this.#markStarted();
        } catch {
          this.#failed();
        }
      } while (this.#resyncAgain && !this.#closed);
      this.#resync = undefined;
    })();
  }

  #failed(): void {
    this.#failing = true;
    if (this.#closed || this.#retry) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (!this.#closed) this.#startResync();
    }, RETRY_MS);
    this.#retry.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    await this.#watch.close();
    await this.#resync?.catch(() => undefined);
  }
}
