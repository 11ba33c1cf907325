import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FacePool } from '../../src/face/pool.js';
import { FACE_API_DIR } from '../../src/face/runtime.js';

const photo = readFileSync(path.join(FACE_API_DIR, 'demo', 'sample1.jpg'));

async function until(condition: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('FacePool task deadline', () => {
  let pool: FacePool;
  // far below what analysing a group photo takes: every task overruns it, as a hung worker would
  const taskTimeoutMs = 5;

  beforeAll(async () => {
    pool = await FacePool.create({ size: 1, queueLimit: 1, taskTimeoutMs });
  }, 120_000);
  afterAll(() => pool.close());

  it('fails a task that overruns with ENGINE_FAILED, replaces its worker, and hands queued work to the replacement', async () => {
    const started = Date.now();
    const running = pool.analyze(photo, { embed: 'primary' }).catch((e: unknown) => e);
    const queued = pool.analyze(photo, { embed: 'primary' }).catch((e: unknown) => e);
    expect(pool.stats()).toEqual({ workers: 1, busy: 1, queued: 1 });
    await expect(running).resolves.toMatchObject({ code: 'ENGINE_FAILED', message: expect.stringMatching(/did not answer within/) });
    // answered at the deadline, not when the analysis would have finished
    expect(Date.now() - started).toBeLessThan(2_000);
    // the queued task waits for the replacement worker, which also overruns the deadline
    await expect(queued).resolves.toMatchObject({ code: 'ENGINE_FAILED' });
    await until(() => pool.stats().workers === 1 && pool.stats().busy === 0);
    expect(pool.stats()).toEqual({ workers: 1, busy: 0, queued: 0 });
  }, 180_000);

  it('refuses a deadline that is not a positive integer', async () => {
    await expect(FacePool.create({ size: 1, taskTimeoutMs: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
