import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MedfaceError } from '../../src/errors.js';
import { FacePool } from '../../src/face/pool.js';
import { FACE_API_DIR } from '../../src/face/runtime.js';
import { createEmbedder } from '../../src/face/embedders/index.js';

/** Length of the default recogniser's embeddings. */
const DIMENSIONS = createEmbedder().dimensions;

const sample = (n: number): Buffer => readFileSync(path.join(FACE_API_DIR, 'demo', `sample${n}.jpg`));

/** The pool's warm workers, reached through its private field: tests kill them the way a crash would. */
const workersOf = (pool: FacePool): Array<{ worker: Worker; task?: unknown }> => (pool as unknown as { slots: Array<{ worker: Worker; task?: unknown }> }).slots;

async function until(condition: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const cosine = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => s + v * b[i]!, 0);

describe('FacePool', () => {
  let pool: FacePool;

  beforeAll(async () => {
    pool = await FacePool.create({ size: 2 });
  });
  afterAll(() => pool.close());

  it('starts warm workers and serves parallel requests', async () => {
    expect(pool.stats()).toEqual({ workers: 2, busy: 0, queued: 0 });
    const photos = [1, 2, 3, 1];
    const runs = photos.map((n) => pool.analyze(sample(n), { embed: 'primary' }));
    expect(pool.stats()).toEqual({ workers: 2, busy: 2, queued: 2 });
    const results = await Promise.all(runs);
    expect(results.map((r) => r.faces.length)).toEqual([3, 3, 3, 3]);
    for (const r of results) {
      const vector = r.faces[r.subject]!.embedding!.vector;
      expect(vector).toBeInstanceOf(Float32Array);
      expect(vector).toHaveLength(DIMENSIONS);
    }
    // The same photo on (possibly) different workers gives the same embedding.
    const [first, again] = [results[0]!, results[3]!];
    expect(again.subject).toBe(first.subject);
    expect(cosine(first.faces[first.subject]!.embedding!.vector, again.faces[again.subject]!.embedding!.vector)).toBeCloseTo(1, 5);
    expect(pool.stats()).toEqual({ workers: 2, busy: 0, queued: 0 });
  });

  it("hands a worker's MedfaceErrors to the caller with their code, message and details", async () => {
    const photo = sample(1);
    const truncated = pool.analyze(photo.subarray(0, photo.length >> 1));
    await expect(truncated).rejects.toBeInstanceOf(MedfaceError);
    await expect(truncated).rejects.toMatchObject({ code: 'CORRUPT_IMAGE', status: 400, details: { format: 'jpeg' } });
    await expect(pool.analyze(new TextEncoder().encode('not an image'))).rejects.toMatchObject({
      code: 'UNSUPPORTED_FORMAT',
    });
    const refusal = await pool.embedSingle(photo, 'enrol').catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(MedfaceError);
    expect(refusal).toMatchObject({ code: 'MULTIPLE_FACES', details: { reasons: ['MULTIPLE_FACES'], faces: 3 } });
    expect((refusal as MedfaceError).message).toMatch(/3 faces/);
  });

  it('replaces a worker that dies and fails only the task it was running', async () => {
    const doomed = pool.analyze(sample(4));
    const survivor = pool.analyze(sample(5));
    const busy = workersOf(pool).find((s) => s.task)!;
    await busy.worker.terminate();
    await expect(doomed).rejects.toMatchObject({ code: 'ENGINE_FAILED' });
    expect((await survivor).faces.length).toBeGreaterThan(0);
    await until(() => pool.stats().workers === 2);
    const after = await Promise.all([pool.analyze(sample(3)), pool.analyze(sample(3))]);
    expect(after.map((r) => r.faces.length)).toEqual([3, 3]);
  });

  it("refuses to start with an unknown embedder, with the worker's error", async () => {
    await expect(FacePool.create({ size: 1, embedderId: 'no-such-model@0' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});

describe('FacePool with one worker and a queue of one', () => {
  let pool: FacePool;

  beforeAll(async () => {
    pool = await FacePool.create({ size: 1, queueLimit: 1 });
  });
  afterAll(() => pool.close());

  it('refuses work beyond the queue at once with ENGINE_BUSY', async () => {
    const settled: string[] = [];
    const track = (name: string, p: Promise<unknown>): Promise<unknown> =>
      p.then(
        () => settled.push(`${name} ok`),
        (e: MedfaceError) => settled.push(`${name} ${e.code}`),
      );
    const all = ['a', 'b', 'c', 'd'].map((name) => track(name, pool.analyze(sample(3))));
    expect(pool.stats()).toEqual({ workers: 1, busy: 1, queued: 1 });
    await Promise.all(all);
    // The refusals came before the first analysis finished, and those let in all succeeded.
    expect(settled).toEqual(['c ENGINE_BUSY', 'd ENGINE_BUSY', 'a ok', 'b ok']);
  });

  it('closes: running work finishes, queued work fails ENGINE_CLOSED, no worker is left', async () => {
    const workers = workersOf(pool).map((s) => s.worker);
    const running = pool.analyze(sample(3));
    const queued = pool.analyze(sample(3));
    const closed = pool.close();
    await expect(queued).rejects.toMatchObject({ code: 'ENGINE_CLOSED' });
    expect((await running).faces).toHaveLength(3);
    await closed;
    await expect(pool.analyze(sample(3))).rejects.toMatchObject({ code: 'ENGINE_CLOSED' });
    expect(pool.stats()).toEqual({ workers: 0, busy: 0, queued: 0 });
    // A worker's threadId becomes -1 once its thread has stopped.
    expect(workers.map((w) => w.threadId)).toEqual([-1]);
  });
});
