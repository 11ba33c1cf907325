import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FacePool } from '../../src/face/index.js';
import { demoFaces, rememberingPool, writeTestThresholds, type Faces } from '../services/fixtures.js';
import { startTestServer, type TestServer, type TestServerOptions } from './harness.js';
import { FIXED_RANDOM } from './liveness-frames.js';

/**
 * A test server whose deployment uses one real face pool for the whole test file (its embeddings remembered, see
 * rememberingPool), the demo faces cut by that pool, and the file's copy of the thresholds. Closing the server
 * also closes the pool and removes the thresholds' scratch directory.
 */
/**
 * The options of a face server that faces sign in to with the liveness check: challenges whose actions a sequence
 * rendered in advance performs (FIXED_RANDOM), and room for a test file's many sign-ins.
 */
export const FILMED_SIGN_INS: TestServerOptions = { deployment: { liveness: { random: FIXED_RANDOM } }, rateLimits: { signIn: { max: 1000, windowMs: 60_000 } } };

export interface FaceServer {
  pool: FacePool;
  images: Faces;
  server: TestServer;
}

export async function startFaceServer(name: string, options: TestServerOptions = {}): Promise<FaceServer> {
  const { deployment, ...serverOptions } = options;
  const pool = await FacePool.create({ size: 1 });
  const images = await demoFaces(pool);
  const remembering = rememberingPool(pool);
  const scratch = mkdtempSync(path.join(os.tmpdir(), `medface-${name}-`));
  const thresholdsFile = path.join(scratch, 'thresholds.json');
  writeTestThresholds(thresholdsFile);
  const closePool = async () => {
    await pool.close();
    rmSync(scratch, { recursive: true, force: true });
  };
  try {
    const server = await startTestServer({
      ...serverOptions,
      deployment: {
        ...deployment,
        pool: {
          embedSingle: remembering.embedSingle,
          observe: (bytes, embed) => pool.observe(bytes, embed),
          embedObserved: (bytes, face) => pool.embedObserved(bytes, face),
          stats: () => pool.stats(),
          close: () => pool.close(),
        },
        thresholdsFile,
      },
    });
    const close = async () => {
      await server.close();
      await closePool();
    };
    return { pool, images, server: { ...server, close } };
  } catch (e) {
    await closePool();
    throw e;
  }
}
