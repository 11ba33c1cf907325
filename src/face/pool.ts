import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { MedfaceError } from '../errors.js';
import { workerEntry } from '../worker-entry.js';
import type { Analysis, AnalyzeOptions, EngineOptions, FrameObservation, SubjectFace } from './engine.js';
import type { ImageLimits } from './image.js';
import type { DetectedFace, Embedding, Purpose } from './types.js';
import type { ErrorData, WorkerMessage, WorkerTask } from './worker.js';

export interface PoolOptions extends EngineOptions {
  /** Worker threads, each with its own engine (default: one per core). */
  size?: number;
  /** Tasks allowed to wait for a free worker; beyond it requests are refused with ENGINE_BUSY. */
  queueLimit?: number;
  /** How long a worker may take over one task before it is taken for hung, stopped and replaced. */
  taskTimeoutMs?: number;
}

export const DEFAULT_QUEUE_LIMIT = 32;
/** Generous: a 40-megapixel photo on a slow core takes a few seconds; a hung worker takes forever. */
export const DEFAULT_TASK_TIMEOUT_MS = 30_000;

export interface PoolStats {
  /** Workers started, warm and serving. */
  workers: number;
  /** Workers running a task now. */
  busy: number;
  /** Tasks waiting for a worker. */
  queued: number;
}

/** A task's message without its id (assigned on dispatch). */
type TaskBody = WorkerTask extends infer T ? (T extends WorkerTask ? Omit<T, 'id'> : never) : never;

interface Pending {
  body: TaskBody;
  resolve: (value: unknown) => void;
  reject: (error: MedfaceError) => void;
}

interface Running {
  id: number;
  resolve: (value: unknown) => void;
  reject: (error: MedfaceError) => void;
  /** Settles when the task has been answered, or its worker has died. */
  finished: Promise<void>;
  finish: () => void;
  /** Stops a worker that does not answer (a hung engine would hold its slot forever). */
  deadline: NodeJS.Timeout;
}

interface Slot {
  worker: Worker;
  /** The task it runs now. */
  task?: Running;
}

function toError(e: ErrorData): MedfaceError {
  return new MedfaceError(e.code, e.message, e.details);
}

/**
 * One FaceEngine per worker thread (tfjs-wasm computes on the thread that calls it), with a bounded queue in
 * front: a server under more load than its cores answer ENGINE_BUSY at once instead of piling up requests
 * (and the images they hold) without limit. A worker that dies is replaced and its task fails ENGINE_FAILED.
 */
export class FacePool {
  /** Warm workers. */
  private readonly slots: Slot[] = [];
  /** Workers still loading their models (replacements among them). */
  private readonly starting = new Set<Worker>();
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closing = false;

  private constructor(
    private readonly engineOptions: EngineOptions,
    private readonly queueLimit: number,
    private readonly taskTimeoutMs: number,
  ) {}

  /** Starts `size` workers and resolves once every one has loaded its models and warmed up. */
  static async create(options: PoolOptions = {}): Promise<FacePool> {
    const { size = os.availableParallelism(), queueLimit = DEFAULT_QUEUE_LIMIT, taskTimeoutMs = DEFAULT_TASK_TIMEOUT_MS, ...engineOptions } = options;
    if (!Number.isInteger(size) || size < 1) {
      throw new MedfaceError('INVALID_ARGUMENT', `Pool size must be a positive integer, not ${size}.`);
    }
    if (!Number.isInteger(queueLimit) || queueLimit < 0) {
      throw new MedfaceError('INVALID_ARGUMENT', `queueLimit must be a non-negative integer, not ${queueLimit}.`);
    }
    if (!Number.isInteger(taskTimeoutMs) || taskTimeoutMs < 1) {
      throw new MedfaceError('INVALID_ARGUMENT', `taskTimeoutMs must be a positive integer, not ${taskTimeoutMs}.`);
    }
    const pool = new FacePool(engineOptions, queueLimit, taskTimeoutMs);
    const started = await Promise.allSettled(Array.from({ length: size }, () => pool.startWorker()));
    const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure) {
      await pool.close();
      throw failure.reason;
    }
    return pool;
  }

  analyze(bytes: Uint8Array, options: AnalyzeOptions = {}): Promise<Analysis> {
    return this.submit({ kind: 'analyze', bytes, options }) as Promise<Analysis>;
  }

  embedSingle(bytes: Uint8Array, purpose: Purpose, imageLimits?: Partial<ImageLimits>): Promise<SubjectFace> {
    const body: TaskBody = imageLimits ? { kind: 'embedSingle', bytes, purpose, imageLimits } : { kind: 'embedSingle', bytes, purpose };
    return this.submit(body) as Promise<SubjectFace>;
  }

  /** See FaceEngine.observe. */
  observe(bytes: Uint8Array, embed: boolean, imageLimits?: Partial<ImageLimits>): Promise<FrameObservation> {
    const body: TaskBody = imageLimits ? { kind: 'observe', bytes, embed, imageLimits } : { kind: 'observe', bytes, embed };
    return this.submit(body) as Promise<FrameObservation>;
  }

  /** See FaceEngine.embedObserved: `face` is an observation's subject (FrameObservation), for the same bytes. */
  embedObserved(bytes: Uint8Array, face: DetectedFace, imageLimits?: Partial<ImageLimits>): Promise<Embedding> {
    const { box, score, pose, mesh } = face;
    const body: TaskBody = { kind: 'embedObserved', bytes, face: { box, score, pose, mesh }, ...(imageLimits && { imageLimits }) };
    return this.submit(body) as Promise<Embedding>;
  }

  stats(): PoolStats {
    return {
      workers: this.slots.length,
      busy: this.slots.filter((s) => s.task).length,
      queued: this.queue.length,
    };
  }

  /** Refuses new work, fails waiting tasks with ENGINE_CLOSED, lets running ones finish, then stops the workers. */
  async close(): Promise<void> {
    this.closing = true;
    for (const pending of this.queue.splice(0)) {
      pending.reject(new MedfaceError('ENGINE_CLOSED', 'The face engine is shutting down.'));
    }
    await Promise.all([
      ...this.slots.map(async (slot) => {
        await slot.task?.finished;
        await slot.worker.terminate();
      }),
      ...[...this.starting].map((worker) => worker.terminate()),
    ]);
  }

  private submit(body: TaskBody): Promise<unknown> {
    if (this.closing) return Promise.reject(new MedfaceError('ENGINE_CLOSED', 'The face engine is shut down.'));
    if (this.noWorkerLeft()) return Promise.reject(new MedfaceError('ENGINE_FAILED', 'No face engine worker is running.'));
    return new Promise((resolve, reject) => {
      const pending: Pending = { body, resolve, reject };
      const idle = this.slots.find((s) => !s.task);
      if (idle) {
        this.dispatch(idle, pending);
      } else if (this.queue.length < this.queueLimit) {
        this.queue.push(pending);
      } else {
        reject(new MedfaceError('ENGINE_BUSY', 'All face engines are busy; try again shortly.', { queued: this.queue.length }));
      }
    });
  }

  private dispatch(slot: Slot, pending: Pending): void {
    const id = this.nextId++;
    let finish = (): void => undefined;
    const finished = new Promise<void>((done) => (finish = done));
    const deadline = setTimeout(() => this.abandon(slot, id), this.taskTimeoutMs);
    slot.task = { id, resolve: pending.resolve, reject: pending.reject, finished, finish, deadline };
    // A private copy, transferred: the caller's buffer may be a view into a larger one, or be reused.
    const bytes = new Uint8Array(pending.body.bytes);
    slot.worker.postMessage({ ...pending.body, bytes, id } satisfies WorkerTask, [bytes.buffer]);
  }

  /**
   * A task past its deadline: the caller gets ENGINE_FAILED now, and the worker, which may be stuck in a
   * computation that never yields, is terminated; its exit starts a replacement.
   */
  private abandon(slot: Slot, id: number): void {
    const task = slot.task;
    if (!task || task.id !== id) return;
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
    slot.task = undefined;
    task.reject(new MedfaceError('ENGINE_FAILED', `The face engine did not answer within ${this.taskTimeoutMs / 1000} s; its worker is restarted.`));
    task.finish();
    void slot.worker.terminate();
  }

  private next(slot: Slot): void {
    const pending = this.queue.shift();
    if (pending) this.dispatch(slot, pending);
  }

  /** Starts one worker; resolves when it is warm and serving, rejects with ENGINE_FAILED if it cannot start. */
  private startWorker(): Promise<void> {
    const { entry, eval: isCode } = workerEntry(import.meta.url, 'worker');
    const worker = new Worker(entry, { eval: isCode, workerData: this.engineOptions });
    this.starting.add(worker);
    return new Promise((started, failedToStart) => {
      let slot: Slot | undefined;
      let startError: unknown;

      worker.on('message', (message: WorkerMessage) => {
        switch (message.type) {
          case 'ready':
            this.starting.delete(worker);
            if (this.closing) {
              void worker.terminate();
              return;
            }
            slot = { worker };
            this.slots.push(slot);
            started();
            this.next(slot);
            return;
          case 'startFailed':
            startError = toError(message.error);
            void worker.terminate();
            return;
          case 'done':
          case 'failed': {
            const task = slot?.task;
            if (!slot || !task || task.id !== message.id) return;
            slot.task = undefined;
            clearTimeout(task.deadline);
            if (message.type === 'done') task.resolve(message.result);
            else task.reject(toError(message.error));
            task.finish();
            if (!this.closing) this.next(slot);
            return;
          }
        }
      });
      worker.on('error', (e) => {
        startError ??= e;
      });
      worker.on('exit', () => {
        this.starting.delete(worker);
        if (!slot) {
          failedToStart(startError instanceof MedfaceError ? startError : new MedfaceError('ENGINE_FAILED', `A face engine worker failed to start: ${String(startError ?? 'it exited')}`));
          this.failQueueIfNoWorkers();
          return;
        }
        const index = this.slots.indexOf(slot);
        if (index >= 0) this.slots.splice(index, 1);
        if (slot.task) {
          clearTimeout(slot.task.deadline);
          slot.task.reject(new MedfaceError('ENGINE_FAILED', 'The face engine worker stopped during the analysis.'));
          slot.task.finish();
        }
        if (this.closing) return;
        // A replacement that cannot start leaves the pool one worker short rather than retrying in a loop.
        this.startWorker().catch(() => undefined);
      });
    });
  }

  private noWorkerLeft(): boolean {
    return this.slots.length === 0 && this.starting.size === 0;
  }

  /** Waiting tasks would wait forever once no worker is left. */
  private failQueueIfNoWorkers(): void {
    if (!this.noWorkerLeft()) return;
    for (const pending of this.queue.splice(0)) {
      pending.reject(new MedfaceError('ENGINE_FAILED', 'No face engine worker is running.'));
    }
  }
}
