import { readFile } from 'node:fs/promises';
import { MedfaceError, isMedfaceError } from '../errors.js';
import type { FacePool } from '../face/index.js';
import { EmbeddingCache, type Acquired } from './cache.js';

/** Refusals that are the image's fault: the image is a failure to acquire, not a broken run. */
const IMAGE_FAILURES = new Set(['EMPTY_IMAGE', 'IMAGE_TOO_LARGE', 'IMAGE_DIMENSIONS_TOO_LARGE', 'UNSUPPORTED_FORMAT', 'CORRUPT_IMAGE', 'NO_FACE']);

/**
 * Embeds the subject of every image (the capture's main face, whatever its quality: evaluation measures
 * the recogniser, and only "no face found" or an unreadable image counts as a failure to acquire).
 * Cached images are answered first; the pool is only started when some image is not in the cache.
 */
export async function acquireImages(
  pool: () => Promise<FacePool>,
  files: readonly string[],
  cache: EmbeddingCache,
  onProgress?: (done: number, total: number) => void,
): Promise<Map<string, Acquired>> {
  const results = new Map<string, Acquired>();
  const misses: Array<{ file: string; key: string }> = [];
  for (const file of files) {
    const key = EmbeddingCache.key(await readFile(file));
    const cached = cache.get(key);
    if (cached) results.set(file, cached);
    else misses.push({ file, key });
  }
  let done = results.size;
  onProgress?.(done, files.length);
  if (misses.length === 0) return results;

  const engine = await pool();
  let next = 0;
  const worker = async () => {
    while (next < misses.length) {
      const { file, key } = misses[next++]!;
      results.set(file, await acquireOne(engine, await readFile(file), key, cache));
      onProgress?.(++done, files.length);
    }
  };
  // two tasks per worker: one running, the next ready the moment it finishes
  await Promise.all(Array.from({ length: Math.max(1, engine.stats().workers) * 2 }, worker));
  return results;
}

async function acquireOne(pool: FacePool, bytes: Uint8Array, key: string, cache: EmbeddingCache): Promise<Acquired> {
  let acquired: Acquired;
  try {
    const analysis = await pool.analyze(bytes, { purpose: 'verify', embed: true });
    const embedding = analysis.faces[analysis.subject]?.embedding;
    if (embedding && embedding.model !== cache.model) {
      throw new MedfaceError('MODEL_MISMATCH', `the pool embeds with ${embedding.model}, not ${cache.model}`);
    }
    acquired = embedding ? { embedding } : { failure: 'NO_FACE' };
  } catch (e) {
    if (!isMedfaceError(e) || !IMAGE_FAILURES.has(e.code)) throw e;
    acquired = { failure: e.code };
  }
  cache.put(key, acquired);
  return acquired;
}
