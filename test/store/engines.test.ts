import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { openStore, storeConfigFromEnv } from '../../src/store/index.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { PG_TIMEOUTS } from '../../src/store/postgres.js';
import { harnesses } from './harness.js';

describe('openStore', () => {
  it('creates a private data directory and database file in WAL mode with foreign keys', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'medface-sqlite-'));
    const dataDir = path.join(root, 'nested', 'data');
    try {
      const store = await openStore({ dataDir });
      await store.close();
      expect(statSync(dataDir).mode & 0o777).toBe(0o700);
      const file = path.join(dataDir, 'medface.db');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const db = new Database(file);
      try {
        expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
        expect(db.pragma('foreign_key_list(templates)')).not.toEqual([]);
      } finally {
        db.close();
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reports an unreachable PostgreSQL server as STORE_UNAVAILABLE', async () => {
    await expect(openStore({ databaseUrl: 'postgres://nobody:x@127.0.0.1:1/none', dataDir: '.' })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
  });

  it('reports a file that is not a database as STORE_UNAVAILABLE', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'medface-notadb-'));
    try {
      writeFileSync(path.join(dataDir, 'medface.db'), 'this is not an SQLite database, just text long enough to have a header');
      await expect(openStore({ dataDir })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('reads its settings from the environment', () => {
    expect(storeConfigFromEnv({})).toEqual({ databaseUrl: undefined, dataDir: './data' });
    expect(storeConfigFromEnv({ DATABASE_URL: 'postgres://x/y', MEDFACE_DATA_DIR: '/srv/medface' })).toEqual({
      databaseUrl: 'postgres://x/y',
      dataDir: '/srv/medface',
    });
  });
});

/**
 * The SQL of each released migration, as databases in service applied it (SHA-256 of the SQLite and the
 * PostgreSQL text). Migrations share their column types: a change there must not rewrite an applied one.
 */
const APPLIED_MIGRATIONS: Record<number, [string, string]> = {
  1: ['96b64313116f8eab45015c32dddf5de5956d51f65f4c3ce5f3e7c76b9d6a18e6', '80989201296710d06767481da6f54a59b44aa950dbd4d7e47f998713d58baebd'],
  2: ['660057c717d88354bdcfcc98d964e918fa52c59d658fac39cb89b92cfc5abe77', '88fd6658eb5e101aa7222295d810a921e7d63401cc6f97b886d06b18c805a7b3'],
  3: ['594c2727e67b6c338d342ff2a0a2588d250a85f622360c5a2ed65f6411acfd53', '180c6f01c132b1f60cdbf5da43b17293e48ad97302c9c3bad66ee8a792025951'],
  4: ['9afecd6be902dfc59510c33ba54b5919ca1df69d3c71e2255f81bf85d3c8988e', 'c06726435f259a2703865f633fa4e4c6b488135f3f87b0e160a2e0192581519b'],
  5: ['c9a5adf09d53a24e7b63023ce23f5f1cacb99847db18d29f55817d86407d7b53', '0527ae85e54797e1aa3a4d3af54d62b3b1dfda5e970f9e7278e315590ae27cde'],
  6: ['ac794f74a90ebfda34b963a0999029e64eee5327cca8038520edc0f06a667725', '0fb300971fa5db6d94ffee6426151f0955a2da433cfe9ce6d303c665249b6b01'],
  7: ['d9c755c6abd9aea5d82d20836370211312c987e830845fd3e3abed6756ae5698', '2992ad3083b80297a85b6f93d4cf815ab3fc0b434878fc42d00a2c1ffa655f17'],
  8: ['dd0f104a22b1ef47f67a5fafc1fa153e3d290a2fc0a6bd2148db974aabfe6e4b', '7a8e0cbc0600e661f4d08f7fafd157d057d3d461f4be4460cadf9c045fe3142c'],
  9: ['172fbfcf9de620bf6be85b23d6446815c52754dbe3c8dfecb20c8604426ee454', '7e35607f4d60796fdae40c3b3b9251d1a2c4940d9c3812ef73a1b6dbbe2f68d1'],
};

describe('migrations', () => {
  it('never change once released, on either engine', () => {
    const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
    for (const [version, [sqlite, postgres]] of Object.entries(APPLIED_MIGRATIONS)) {
      const m = MIGRATIONS.find((x) => x.version === Number(version));
      expect({ version, sqlite: m && sha256(m.sqlite), postgres: m && sha256(m.postgres) }).toEqual({ version, sqlite, postgres });
    }
  });
});

const postgres = harnesses.find((h) => h.name === 'postgres');

describe.runIf(postgres)('PostgreSQL engine', () => {
  it('lets processes that start together apply each migration exactly once', async () => {
    const db = await (postgres as NonNullable<typeof postgres>).create();
    try {
      const stores = await Promise.all([db.open(), db.open(), db.open()]);
      await Promise.all(stores.map((s) => s.close()));
      const rows = await db.raw<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version));
    } finally {
      await db.drop();
    }
  });

  it('rides out a stall of its own event loop past the connect bound while a connection opens', async () => {
    const db = await (postgres as NonNullable<typeof postgres>).create();
    const store = await db.open();
    try {
      // Nothing is pooled yet: this opens a connection under the connect timer, which the stall then expires.
      const answer = store.countTemplates();
      const until = performance.now() + PG_TIMEOUTS.connectMs + 500;
      while (performance.now() < until); // seconds of synchronous work on this thread
      await expect(answer).resolves.toBe(0);
    } finally {
      await store.close();
      await db.drop();
    }
  });
});
