/**
 * A FacePool worker thread: one FaceEngine, warmed up, answering one task at a time. The message shapes are
 * defined here and used by pool.ts; nothing else talks to a worker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isMedfaceError, type ErrorCode } from '../errors.js';
import { FaceEngine, type AnalyzeOptions, type EngineOptions } from './engine.js';
import type { ImageLimits } from './image.js';
import type { DetectedFace, Purpose } from './types.js';

export type WorkerTask =
  | { id: number; kind: 'analyze'; bytes: Uint8Array; options: AnalyzeOptions }
  | { id: number; kind: 'embedSingle'; bytes: Uint8Array; purpose: Purpose; imageLimits?: Partial<ImageLimits> }
  | { id: number; kind: 'observe'; bytes: Uint8Array; embed: boolean; imageLimits?: Partial<ImageLimits> }
  | { id: number; kind: 'embedObserved'; bytes: Uint8Array; face: DetectedFace; imageLimits?: Partial<ImageLimits> };

/** A MedfaceError as plain data: class instances do not survive postMessage. */
export interface ErrorData {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export type WorkerMessage = { type: 'ready' } | { type: 'startFailed'; error: ErrorData } | { type: 'done'; id: number; result: unknown } | { type: 'failed'; id: number; error: ErrorData };

function toErrorData(e: unknown): ErrorData {
  if (isMedfaceError(e)) return e.details ? { code: e.code, message: e.message, details: e.details } : { code: e.code, message: e.message };
  return { code: 'ENGINE_FAILED', message: `Face engine error: ${e instanceof Error ? e.message : String(e)}` };
}

/** The buffers of every Float32Array in a result (the embeddings), to transfer rather than copy them. */
function float32Buffers(value: unknown, into: Set<ArrayBuffer>): Set<ArrayBuffer> {
  if (value instanceof Float32Array) {
    if (value.buffer instanceof ArrayBuffer && value.byteLength === value.buffer.byteLength) into.add(value.buffer);
  } else if (Array.isArray(value)) {
    for (const v of value) float32Buffers(v, into);
  } else if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) float32Buffers(v, into);
  }
  return into;
}

function run(engine: FaceEngine, task: WorkerTask): Promise<unknown> {
  switch (task.kind) {
    case 'analyze':
      return engine.analyze(task.bytes, task.options);
    case 'observe':
      return engine.observe(task.bytes, task.embed, task.imageLimits);
    case 'embedObserved':
      return engine.embedObserved(task.bytes, task.face, task.imageLimits);
    case 'embedSingle':
      return engine.embedSingle(task.bytes, task.purpose, task.imageLimits);
  }
}

async function serve(port: NonNullable<typeof parentPort>): Promise<void> {
  let engine: FaceEngine;
  try {
    engine = await FaceEngine.create(workerData as EngineOptions);
    await engine.warmup();
  } catch (e) {
    port.postMessage({ type: 'startFailed', error: toErrorData(e) } satisfies WorkerMessage);
    return;
  }
  port.on('message', (task: WorkerTask) => {
    const work = run(engine, task);
    work.then(
      (result) => port.postMessage({ type: 'done', id: task.id, result } satisfies WorkerMessage, [...float32Buffers(result, new Set())]),
      (e: unknown) => port.postMessage({ type: 'failed', id: task.id, error: toErrorData(e) } satisfies WorkerMessage),
    );
  });
  port.postMessage({ type: 'ready' } satisfies WorkerMessage);
}

if (parentPort) await serve(parentPort);
