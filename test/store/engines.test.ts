import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { openStore, storeConfigFromEnv } from '../../src/store/index.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
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
});
