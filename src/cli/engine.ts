import { readFile } from 'node:fs/promises';
import { MedfaceError } from '../errors.js';
import type { FacePool } from '../face/index.js';

/**
 * Runs one command's work with a face pool that is started on first use (a rerun served from the
 * embedding cache never pays for loading the models) and closed afterwards whatever happens, so worker
 * threads never keep the process alive after an error. `model` is the id of the embedder it runs.
 */
export async function withPool<T>(options: { size?: number; embedderId?: string | undefined }, work: (pool: () => Promise<FacePool>, model: string) => Promise<T>): Promise<T> {
  // loaded here, not at start-up: `medface --help` should not wait for tfjs and sharp
  const { FacePool, DEFAULT_EMBEDDER_ID } = await import('../face/index.js');
  const model = options.embedderId ?? DEFAULT_EMBEDDER_ID;
  let started: Promise<FacePool> | undefined;
  const pool = () => (started ??= FacePool.create({ ...options, embedderId: model }));
  try {
    return await work(pool, model);
  } finally {
    if (started) await (await started.catch(() => undefined))?.close();
  }
}

/** An image argument's bytes; a path that cannot be read is the caller's mistake, not a crash. */
export async function readImageArgument(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    throw new MedfaceError('INVALID_ARGUMENT', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}
