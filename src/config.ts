import path from 'node:path';
import { MedfaceError } from './errors.js';

/** Deployment settings, all from the environment (documented in README.md). */
export interface Config {
  /** Where the embedded database, the generated key file and other state live. */
  dataDir: string;
  /** PostgreSQL connection string; when absent the embedded SQLite store is used. */
  databaseUrl: string | undefined;
  /** Key-encryption key file; defaults to `<dataDir>/medface.key`, generated on first run. */
  keyFile: string | undefined;
  port: number;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const port = Number(env.PORT ?? 8080);
  if (!Number.isInteger(port) || port <= 0 || port >= 65536) {
    throw new MedfaceError('INVALID_ARGUMENT', `PORT must be an integer between 1 and 65535, got "${env.PORT}"`);
  }
  return {
    dataDir: path.resolve(env.MEDFACE_DATA_DIR ?? './data'),
    databaseUrl: env.DATABASE_URL || undefined,
    keyFile: env.MEDFACE_KEY_FILE ? path.resolve(env.MEDFACE_KEY_FILE) : undefined,
    port,
  };
}
