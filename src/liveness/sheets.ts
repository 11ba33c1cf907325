/**
 * The pixel flatness test off the main thread. One sheet fit takes 12–800 ms of pure computation (110 ms median,
 * docs/liveness.md); on the server's main thread it would hold up every other request for that long. One worker,
 * started on first use, fits the pairs one after another; it holds the process open only while it has work, and
 * a worker that dies fails its pending fits and is started afresh on the next.
 */
import { Worker } from 'node:worker_threads';
import { MedfaceError } from '../errors.js';
import { workerEntry } from '../worker-entry.js';
import type { FaceCrop, SheetResiduals } from './planarity.js';
import type { SheetAnswer, SheetTask } from './sheet-worker.js';

interface Waiting {
  resolve: (residuals: SheetResiduals) => void;
  reject: (error: MedfaceError) => void;
}

let worker: Worker | undefined;
const waiting = new Map<number, Waiting>();
let nextId = 1;

function failed(message: string): MedfaceError {
  return new MedfaceError('ENGINE_FAILED', `The flatness test failed: ${message}`);
}

function started(): Worker {
  if (worker) return worker;
  const { entry, eval: isCode } = workerEntry(import.meta.url, 'sheet-worker');
  const thread = new Worker(entry, { eval: isCode });
  thread.on('message', (answer: SheetAnswer) => {
    const task = waiting.get(answer.id);
    if (!task) return;
    waiting.delete(answer.id);
    if ('residuals' in answer) task.resolve(answer.residuals);
    else task.reject(failed(answer.error));
    if (waiting.size === 0) thread.unref();
  });
  const stopped = (why: string): void => {
    if (worker === thread) worker = undefined;
    for (const task of waiting.values()) task.reject(failed(why));
    waiting.clear();
  };
  thread.on('error', (e) => stopped(e.message));
  thread.on('exit', () => stopped('its worker stopped'));
  worker = thread;
  return thread;
}

/** sheetResiduals(a, b) (planarity.ts), computed on the sheet-fit worker thread. */
export function fitSheets(a: FaceCrop, b: FaceCrop): Promise<SheetResiduals> {
  const thread = started();
  const id = nextId++;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    thread.ref();
    thread.postMessage({ id, a, b } satisfies SheetTask);
  });
}
