import type { FastifyInstance } from 'fastify';
import { mkdir, readFile } from 'node:fs/promises';
import type { Config } from '../config.js';
import { MedfaceError } from '../errors.js';
import { startCheckpoints } from '../services/operations/audit.js';
import { Deployment, type DeploymentOptions } from '../services/operations/deployment.js';
import { ensureFirstAdministrator, type FirstAdministrator } from '../services/operations/first-run.js';
import { buildServer, type ServerOptions } from './app.js';

/** How long requests in flight get to finish at shutdown before their connections are cut. */
export const SHUTDOWN_GRACE_MS = 30_000;

export interface RunningServer {
  app: FastifyInstance;
  deployment: Deployment;
  /** Where it listens, e.g. http://0.0.0.0:8080. */
  url: string;
  /** Set on the first start only: the administrator's one-time credentials, to show the operator once. */
  firstAdministrator: FirstAdministrator | null;
  /** Stops accepting, lets requests in flight finish, then closes the face pool and the store. */
  close(): Promise<void>;
}

export interface StartOptions extends Pick<ServerOptions, 'log' | 'rateLimits' | 'webRoot'> {
  deployment?: DeploymentOptions;
  /** Interface to listen on (default all: kiosks and clinicians' machines reach it over the network). */
  host?: string;
}

/**
 * Brings up the whole product on the configured store: creates the data directory, opens the database and
 * the keys, warms the face pool, creates the first administrator on a first run, and listens.
 */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const tls = config.tls && { cert: await readPem(config.tls.certFile, 'MEDFACE_TLS_CERT'), key: await readPem(config.tls.keyFile, 'MEDFACE_TLS_KEY') };
  const faceLimits = {
    ...(config.faceQueueLimit !== undefined && { queueLimit: config.faceQueueLimit }),
    ...(config.faceTaskTimeoutMs !== undefined && { taskTimeoutMs: config.faceTaskTimeoutMs }),
    ...(config.embedderId !== undefined && { embedderId: config.embedderId }),
  };
  const deployment = await Deployment.start(config, { ...faceLimits, ...options.deployment });
  let app: FastifyInstance | undefined;
  try {
    const firstAdministrator = await ensureFirstAdministrator(deployment.access);
    app = await buildServer({ ...options, deployment, trustProxy: config.trustProxy, ...(tls && { tls }), ...(config.publicUrl && { publicUrl: config.publicUrl }) });
    const url = await app.listen({ port: config.port, host: options.host ?? '0.0.0.0' });
    const running = app;
    // keyed checkpoints of the audit head outside the database: at start, hourly, and at shutdown
    const checkpoints = startCheckpoints(deployment.medface, (e) => running.log.error({ code: (e as { code?: unknown }).code }, 'audit checkpoint failed'));
    return { app, deployment, url, firstAdministrator, close: () => shutdown(running, deployment, SHUTDOWN_GRACE_MS, () => checkpoints.stop()) };
  } catch (e) {
    await app?.close();
    await deployment.close();
    throw e;
  }
}

/**
 * Graceful shutdown: the server stops accepting connections and answers new requests on open ones with
 * 503, requests in flight finish (cut after `graceMs`), `beforeStoreCloses` runs (the last audit checkpoint),
 * then the face pool finishes its running work and closes, and the store closes last.
 */
export async function shutdown(app: FastifyInstance, deployment: Deployment, graceMs = SHUTDOWN_GRACE_MS, beforeStoreCloses?: () => Promise<void>): Promise<void> {
  // a kept-alive connection whose request has just been answered is closed at once, not at its idle timeout
  const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
  const cut = setTimeout(() => app.server.closeAllConnections(), graceMs);
  try {
    await app.close();
  } finally {
    clearInterval(sweep);
    clearTimeout(cut);
    await beforeStoreCloses?.().catch(() => undefined);
    await deployment.close();
  }
}

async function readPem(file: string, variable: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    throw new MedfaceError('INVALID_ARGUMENT', `${variable}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}
