import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export type * from './types.js';

export interface StoreConfig {
  /** A PostgreSQL connection string; when absent the embedded SQLite database is used. */
  databaseUrl?: string | undefined;
  /** Where the SQLite file lives (`medface.db`); created with mode 0700. */
  dataDir: string;
}

/** The storage settings of the environment: `DATABASE_URL`, `MEDFACE_DATA_DIR` (default `./data`). */
export function storeConfigFromEnv(env: NodeJS.ProcessEnv = process.env): StoreConfig {
  return { databaseUrl: env.DATABASE_URL || undefined, dataDir: env.MEDFACE_DATA_DIR || './data' };
}

/** Opens the configured database and brings its schema up to date. */
export function openStore(config: StoreConfig): Promise<Store> {
  return config.databaseUrl ? PostgresStore.open(config.databaseUrl) : SqliteStore.open(config.dataDir);
}
