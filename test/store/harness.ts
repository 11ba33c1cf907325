import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { openStore, type StoreConfig } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';

/**
 * One fresh, empty database per `create()`: a temp directory for SQLite, a new schema for PostgreSQL.
 * `raw` runs SQL beside the store, as someone with direct database access would (used to tamper in tests).
 */
export interface StoreHarness {
  name: 'sqlite' | 'postgres';
  create(): Promise<TestDatabase>;
}

export interface TestDatabase {
  /** Where the database is, as medface's configuration names it (to start a server or a command on it). */
  config: StoreConfig;
  open(): Promise<Store>;
  raw<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  drop(): Promise<void>;
}

const sqliteHarness: StoreHarness = {
  name: 'sqlite',
  async create() {
    const dataDir = path.join(mkdtempSync(path.join(os.tmpdir(), 'medface-test-')), 'data');
    return {
      config: { dataDir, databaseUrl: undefined },
      open: () => openStore({ dataDir }),
      async raw<R>(sql: string, params: unknown[] = []) {
        const db = new Database(path.join(dataDir, 'medface.db'));
        try {
          const statement = db.prepare(sql);
          return (statement.reader ? statement.all(...params) : (statement.run(...params), [])) as R[];
        } finally {
          db.close();
        }
      },
      async drop() {
        rmSync(path.dirname(dataDir), { recursive: true, force: true });
      },
    };
  },
};

function postgresHarness(baseUrl: string): StoreHarness {
  return {
    name: 'postgres',
    async create() {
      const schema = `medface_test_${process.pid}_${randomBytes(4).toString('hex')}`;
      const admin = new pg.Client({ connectionString: baseUrl });
      await admin.connect();
      try {
        await admin.query(`CREATE SCHEMA ${schema}`);
      } finally {
        await admin.end();
      }
      const url = new URL(baseUrl);
      url.searchParams.set('options', `-c search_path=${schema} -c synchronous_commit=off`);
      const withClient = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
        const c = new pg.Client({ connectionString: url.toString() });
        await c.connect();
        try {
          return await fn(c);
        } finally {
          await c.end();
        }
      };
      return {
        config: { databaseUrl: url.toString(), dataDir: '/nonexistent' },
        open: () => openStore({ databaseUrl: url.toString(), dataDir: '/nonexistent' }),
        raw: <R>(sql: string, params: unknown[] = []) =>
          withClient(async (c) => {
            let n = 0;
            return (
              await c.query(
                sql.replace(/\?/g, () => `$${++n}`),
                params,
              )
            ).rows as R[];
          }),
        drop: () =>
          withClient(async (c) => {
            await c.query(`DROP SCHEMA ${schema} CASCADE`);
          }),
      };
    },
  };
}

/** A fresh, empty database and a store open on it: what most storage tests start each test with. */
export interface OpenDatabase {
  db: TestDatabase;
  store: Store;
}

export async function openFresh(h: StoreHarness): Promise<OpenDatabase> {
  const db = await h.create();
  return { db, store: await db.open() };
}

/** Closes the store a test ended with (it may have reopened it) and drops the database. */
export async function closeAndDrop({ db, store }: OpenDatabase): Promise<void> {
  await store.close();
  await db.drop();
}

const postgresUrl = process.env.MEDFACE_TEST_DATABASE_URL;

/**
 * The engines every storage test runs against. Without MEDFACE_TEST_DATABASE_URL the PostgreSQL half fails
 * in CI (CI is set) and is skipped, loudly, on a developer machine.
 */
export const harnesses: StoreHarness[] = postgresUrl ? [sqliteHarness, postgresHarness(postgresUrl)] : [sqliteHarness];

export function describeEachStore(title: string, body: (h: StoreHarness) => void): void {
  for (const h of harnesses) describe(`${title} [${h.name}]`, () => body(h));
  if (!postgresUrl) withoutPostgres(`${title} [postgres]`, 'the storage tests');
}

/** A test of PostgreSQL alone (two nodes on one database, a lost connection); without MEDFACE_TEST_DATABASE_URL as the PostgreSQL half above. */
export function describeOnPostgres(title: string, body: (postgres: StoreHarness) => void): void {
  if (postgresUrl) describe(title, () => body(postgresHarness(postgresUrl)));
  else withoutPostgres(title, `the ${title} test`);
}

/** Without MEDFACE_TEST_DATABASE_URL: a failure in CI (CI is set), else skipped, loudly. */
function withoutPostgres(title: string, what: string): void {
  if (process.env.CI) {
    describe(title, () => {
      it('needs MEDFACE_TEST_DATABASE_URL in CI', () => {
        throw new Error(`MEDFACE_TEST_DATABASE_URL is not set: CI must run ${what} on PostgreSQL too`);
      });
    });
  } else {
    console.warn(`[${title}] SKIPPED: set MEDFACE_TEST_DATABASE_URL to run it`);
    describe.skip(`${title} (set MEDFACE_TEST_DATABASE_URL)`, () => undefined);
  }
}

/**
 * `describeEachStore` with a fresh database per test: `fresh.db` and `fresh.store` are the running test's. A
 * test may replace `fresh.store` (reopening the database); the one it ends with is closed, and the database dropped.
 */
export function describeEachFreshStore(title: string, body: (fresh: OpenDatabase, h: StoreHarness) => void): void {
  describeEachStore(title, (h) => {
    const fresh = {} as OpenDatabase;
    beforeEach(async () => {
      Object.assign(fresh, await openFresh(h));
    });
    afterEach(() => closeAndDrop(fresh));
    body(fresh, h);
  });
}
