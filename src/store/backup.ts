import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { MedfaceError } from '../errors.js';
import type { StoreConfig } from './index.js';
import { MIGRATIONS } from './migrations.js';
import { PostgresExecutor } from './postgres.js';
import { sqlRepository } from './repository.js';
import type { SqlExecutor, SqlValue } from './sql.js';
import { translateDriverError } from './sql.js';
import { SQLITE_FILE_NAME, SqliteExecutor } from './sqlite.js';
import type { Repository } from './types.js';

/**
 * A logical copy of every medface table, engine-neutral: taken from SQLite or PostgreSQL, restorable into
 * either. The copy is one consistent snapshot (a read transaction on SQLite's WAL; REPEATABLE READ on
 * PostgreSQL), read while the server keeps writing. It is a sequence of lines: the header, then per table
 * its columns and its rows (parents before the tables that reference them), then the row counts. Values
 * are JSON: bytes as `{ "b64": … }`, times as ISO-8601 text, JSON columns as their JSON text. Templates and
 * photos stay the encrypted blobs they are in the store: the key files are not part of it.
 */

export const BACKUP_FORMAT = 'medface-backup';
export const BACKUP_FORMAT_VERSION = 1;

export interface BackupHeader {
  format: typeof BACKUP_FORMAT;
  version: number;
  /** The engine it was taken from. */
  engine: 'sqlite' | 'postgres';
  /** The schema migrations applied to the database it was taken from. */
  schema: number[];
  createdAt: string;
}

export type PortableValue = string | number | boolean | null | { b64: string };

export type BackupLine = BackupHeader | { table: string; columns: string[] } | PortableValue[] | { end: true; rows: Record<string, number> };

/** Not table data: the schema version travels in the header and the target has its own. */
const SCHEMA_TABLE = 'schema_migrations';
const FETCH_ROWS = 500;

/** The schema this version of medface writes and reads. */
export function currentSchema(): number[] {
  return MIGRATIONS.map((m) => m.version).sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------- export

/**
 * Every table's rows in one snapshot, as backup lines. The snapshot lasts until the iteration ends (or is
 * abandoned): consume it promptly. Writers are never blocked by it.
 */
export async function* snapshotLines(config: StoreConfig): AsyncGenerator<BackupLine> {
  const source = config.databaseUrl ? await PostgresSource.open(config.databaseUrl) : SqliteSource.open(config.dataDir);
  try {
    const schema = (
      await source.sql.all<{ version: number }>(`SELECT version FROM ${SCHEMA_TABLE} ORDER BY version`).catch(() => {
        throw new MedfaceError('NOT_FOUND', 'there is no medface database here to back up');
      })
    ).map((r) => Number(r.version));
    yield { format: BACKUP_FORMAT, version: BACKUP_FORMAT_VERSION, engine: source.sql.engine, schema, createdAt: new Date().toISOString() };
    const rows: Record<string, number> = {};
    for (const table of await tablesParentsFirst(source.sql)) {
      const columns = (await columnTypes(source.sql, table)).map((c) => c.name);
      yield { table, columns };
      rows[table] = 0;
      for await (const row of source.rows(table, columns)) {
        rows[table]++;
        yield row;
      }
    }
    yield { end: true, rows };
  } finally {
    await source.close();
  }
}

interface Source {
  sql: SqlExecutor;
  rows(table: string, columns: string[]): AsyncIterable<PortableValue[]>;
  close(): Promise<void>;
}

class SqliteSource implements Source {
  readonly sql: SqlExecutor;

  private constructor(private readonly db: Database.Database) {
    this.sql = new SqliteExecutor(db);
  }

  static open(dataDir: string): SqliteSource {
    const file = path.resolve(dataDir, SQLITE_FILE_NAME);
    if (!existsSync(file)) throw new MedfaceError('NOT_FOUND', `there is no medface database at ${file}`);
    let db: Database.Database;
    try {
      db = new Database(file, { fileMustExist: true });
      db.pragma('busy_timeout = 5000');
      // a deferred read transaction: its first read fixes the snapshot every later read in it sees (WAL)
      db.exec('BEGIN');
    } catch (e) {
      throw translateDriverError(e);
    }
    return new SqliteSource(db);
  }

  async *rows(table: string, columns: string[]): AsyncIterable<PortableValue[]> {
    const statement = this.db.prepare(`SELECT ${columns.map(quoted).join(', ')} FROM ${quoted(table)}`).raw(true);
    for (const row of statement.iterate() as IterableIterator<unknown[]>) yield row.map((v) => portable(v, 'sqlite', table));
  }

  async close(): Promise<void> {
    if (this.db.inTransaction) this.db.exec('COMMIT');
    this.db.close();
  }
}

class PostgresSource implements Source {
  readonly sql: SqlExecutor;

  private constructor(private readonly client: pg.Client) {
    this.sql = new PostgresExecutor(client);
  }

  static async open(url: string): Promise<PostgresSource> {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    } catch (e) {
      await client.end().catch(() => undefined);
      throw translateDriverError(e);
    }
    return new PostgresSource(client);
  }

  async *rows(table: string, columns: string[]): AsyncIterable<PortableValue[]> {
    await this.sql.exec(`DECLARE backup_rows NO SCROLL CURSOR FOR SELECT ${columns.map(quoted).join(', ')} FROM ${quoted(table)}`);
    try {
      for (;;) {
        const result = await this.client.query({ text: `FETCH ${FETCH_ROWS} FROM backup_rows`, rowMode: 'array' });
        for (const row of result.rows as unknown[][]) yield row.map((v, i) => portable(v, result.fields[i]!.dataTypeID, table));
        if (result.rows.length < FETCH_ROWS) break;
      }
    } finally {
      await this.sql.exec('CLOSE backup_rows');
    }
  }

  async close(): Promise<void> {
    await this.client.query('COMMIT').catch(() => undefined);
    await this.client.end();
  }
}

/** PostgreSQL type oids whose values pg hands over in a form that needs converting. */
const PG = { bool: 16, bytea: 17, int8: 20, int2: 21, int4: 23, text: 25, json: 114, float4: 700, float8: 701, varchar: 1043, timestamptz: 1184, numeric: 1700, jsonb: 3802 };
const PG_PLAIN = new Set<number>([PG.bool, PG.int2, PG.int4, PG.text, PG.float4, PG.float8, PG.varchar]);

function portable(v: unknown, type: number | 'sqlite', table: string): PortableValue {
  if (v === null || v === undefined) return null;
  if (Buffer.isBuffer(v)) return { b64: v.toString('base64') };
  if (type === 'sqlite') {
    if (typeof v === 'bigint') return safeNumber(v, table);
    return v as string | number;
  }
  if (type === PG.timestamptz) return (v as Date).toISOString();
  if (type === PG.jsonb || type === PG.json) return JSON.stringify(v);
  if (type === PG.int8 || type === PG.numeric) return safeNumber(v as string, table);
  if (PG_PLAIN.has(type)) return v as string | number | boolean;
  throw new MedfaceError('INTERNAL', `table ${table} has a column of a PostgreSQL type (oid ${type}) the backup does not carry`);
}

function safeNumber(v: string | bigint, table: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) && !(Number.isFinite(n) && String(n) === String(v))) {
    throw new MedfaceError('INTERNAL', `table ${table} holds a number the backup cannot carry exactly`);
  }
  return n;
}

// --------------------------------------------------------------------------------------------- restore

export interface RestoreOptions {
  /** Replace whatever the target holds (without it a target with any row is refused). */
  force?: boolean;
  /** Runs inside the restore's transaction once every row is in; throwing rolls the whole restore back. */
  beforeCommit?: (repo: Repository) => Promise<void>;
}

export interface RestoreCounts {
  header: BackupHeader;
  rows: Record<string, number>;
}

/**
 * Writes a backup into the configured database, which must be at the backup's schema, in one transaction:
 * all of it or nothing. A target holding any row is refused (CONFLICT) unless `force`, which empties it
 * first — the append-only audit log included — inside the same transaction.
 */
export async function restoreLines(config: StoreConfig, lines: AsyncIterable<BackupLine>, options: RestoreOptions = {}): Promise<RestoreCounts> {
  const target = config.databaseUrl ? await PostgresTarget.open(config.databaseUrl) : SqliteTarget.open(config.dataDir);
  const { sql } = target;
  try {
    await target.begin();
    try {
      const counts = await restoreInto(sql, target, lines, options);
      await options.beforeCommit?.(sqlRepository(sql));
      await sql.exec('COMMIT');
      return counts;
    } catch (e) {
      await sql.exec('ROLLBACK').catch(() => undefined);
      throw e;
    }
  } finally {
    await target.close();
  }
}

async function restoreInto(sql: SqlExecutor, target: Target, lines: AsyncIterable<BackupLine>, options: RestoreOptions): Promise<RestoreCounts> {
  const iterator = lines[Symbol.asyncIterator]();
  const first = await iterator.next();
  const header = first.done ? undefined : first.value;
  if (!isHeader(header)) throw invalidBackup('it does not start with a medface backup header');
  if (header.version !== BACKUP_FORMAT_VERSION) throw invalidBackup(`its format version ${header.version} is not ${BACKUP_FORMAT_VERSION}`);
  const schema = (await sql.all<{ version: number }>(`SELECT version FROM ${SCHEMA_TABLE} ORDER BY version`)).map((r) => Number(r.version));
  if (schema.join(',') !== header.schema.join(',')) {
    throw new MedfaceError(
      'CONFLICT',
      `the backup has schema migrations ${header.schema.join(',')} and this database ${schema.join(',')}: restore with the medface version that took the backup, then upgrade`,
      { backupSchema: header.schema, targetSchema: schema },
    );
  }

  const tables = await tablesParentsFirst(sql);
  const held = [];
  for (const table of tables) if ((await sql.all(`SELECT 1 AS one FROM ${quoted(table)} LIMIT 1`)).length > 0) held.push(table);
  if (held.length > 0) {
    if (!options.force) throw new MedfaceError('CONFLICT', 'the target database is not empty; restore into an empty one, or pass --force to replace what it holds', { tables: held });
    await target.empty([...tables].reverse());
  }

  const rows: Record<string, number> = {};
  let current: { table: string; columns: string[]; types: string[] } | undefined;
  let batch: PortableValue[][] = [];
  const flush = async () => {
    if (current && batch.length > 0) await insertRows(sql, current, batch);
    batch = [];
  };
  for (;;) {
    const next = await iterator.next();
    if (next.done) throw invalidBackup('it ends before its closing line (truncated?)');
    const line = next.value;
    if (Array.isArray(line)) {
      if (!current) throw invalidBackup('a row comes before its table');
      if (line.length !== current.columns.length) throw invalidBackup(`a row of ${current.table} has ${line.length} values for ${current.columns.length} columns`);
      batch.push(line);
      rows[current.table]!++;
      if (batch.length >= batchSize(current.columns.length)) await flush();
    } else if ('table' in line) {
      await flush();
      if (!tables.includes(line.table) || rows[line.table] !== undefined) throw invalidBackup(`it holds table ${String(line.table)} unknown to this schema, or twice`);
      const types = new Map((await columnTypes(sql, line.table)).map((c) => [c.name, c.type]));
      if (line.columns.length !== types.size || !line.columns.every((c) => types.has(c))) {
        throw invalidBackup(`its columns of ${line.table} are not this schema's`);
      }
      current = { table: line.table, columns: line.columns, types: line.columns.map((c) => types.get(c)!) };
      rows[line.table] = 0;
    } else if ('end' in line) {
      await flush();
      for (const [table, count] of Object.entries(line.rows)) {
        if (rows[table] !== count) throw invalidBackup(`it announces ${count} rows of ${table} and holds ${rows[table] ?? 0}`);
      }
      if (Object.keys(line.rows).length !== Object.keys(rows).length) throw invalidBackup('its closing line does not count every table');
      break;
    } else {
      throw invalidBackup('it holds a line that is neither a table, a row nor its end');
    }
  }
  await target.afterInsert();
  return { header, rows };
}

function isHeader(line: BackupLine | undefined): line is BackupHeader {
  return typeof line === 'object' && line !== null && !Array.isArray(line) && 'format' in line && line.format === BACKUP_FORMAT && Array.isArray(line.schema);
}

function invalidBackup(why: string): MedfaceError {
  return new MedfaceError('INVALID_ARGUMENT', `not a usable medface backup: ${why}`);
}

/** Rows per INSERT: many at once, within both engines' limit on bound parameters. */
function batchSize(columns: number): number {
  return Math.max(1, Math.min(200, Math.floor(30_000 / columns)));
}

async function insertRows(sql: SqlExecutor, into: { table: string; columns: string[]; types: string[] }, rows: PortableValue[][]): Promise<void> {
  const placeholders = `(${into.columns.map(() => '?').join(', ')})`;
  const params: SqlValue[] = [];
  for (const row of rows) row.forEach((v, i) => params.push(sqlValue(v, into.types[i]!, sql.engine)));
  await sql.run(`INSERT INTO ${quoted(into.table)} (${into.columns.map(quoted).join(', ')}) VALUES ${rows.map(() => placeholders).join(', ')}`, params);
}

/** A portable value bound for a column of the target's type (lower-case: `blob`, `bytea`, `boolean`, …). */
function sqlValue(v: PortableValue, type: string, engine: 'sqlite' | 'postgres'): SqlValue {
  if (v === null) return null;
  if (typeof v === 'object') return Buffer.from(v.b64, 'base64');
  if (typeof v === 'boolean') return engine === 'sqlite' ? Number(v) : (String(v) as SqlValue);
  if (type === 'boolean' && typeof v === 'number') return String(v !== 0);
  return v;
}

interface Target {
  sql: SqlExecutor;
  begin(): Promise<void>;
  /** Deletes every row of these tables (children first), the append-only ones' guards lifted meanwhile. */
  empty(tablesChildrenFirst: string[]): Promise<void>;
  afterInsert(): Promise<void>;
  close(): Promise<void>;
}

class SqliteTarget implements Target {
  readonly sql: SqliteExecutor;

  private constructor(private readonly db: Database.Database) {
    this.sql = new SqliteExecutor(db);
  }

  static open(dataDir: string): SqliteTarget {
    const file = path.resolve(dataDir, SQLITE_FILE_NAME);
    try {
      const db = new Database(file, { fileMustExist: true });
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      db.pragma('synchronous = FULL');
      return new SqliteTarget(db);
    } catch (e) {
      throw translateDriverError(e);
    }
  }

  begin(): Promise<void> {
    return this.sql.exec('BEGIN IMMEDIATE');
  }

  async empty(tables: string[]): Promise<void> {
    // SQLite cannot switch a trigger off: the guards are dropped and re-created, inside this transaction
    const triggers = await this.sql.all<{ name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'");
    for (const t of triggers) await this.sql.exec(`DROP TRIGGER ${quoted(t.name)}`);
    for (const table of tables) await this.sql.run(`DELETE FROM ${quoted(table)}`);
    for (const t of triggers) await this.sql.exec(t.sql);
  }

  async afterInsert(): Promise<void> {
    const broken = await this.sql.all('PRAGMA foreign_key_check');
    if (broken.length > 0) throw invalidBackup('rows refer to rows it does not hold');
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

class PostgresTarget implements Target {
  readonly sql: PostgresExecutor;

  private constructor(private readonly client: pg.Client) {
    this.sql = new PostgresExecutor(client);
  }

  static async open(url: string): Promise<PostgresTarget> {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
    } catch (e) {
      await client.end().catch(() => undefined);
      throw translateDriverError(e);
    }
    return new PostgresTarget(client);
  }

  begin(): Promise<void> {
    return this.sql.exec('BEGIN');
  }

  async empty(tables: string[]): Promise<void> {
    for (const table of tables) await this.sql.exec(`ALTER TABLE ${quoted(table)} DISABLE TRIGGER USER`);
    for (const table of tables) await this.sql.run(`DELETE FROM ${quoted(table)}`);
    for (const table of tables) await this.sql.exec(`ALTER TABLE ${quoted(table)} ENABLE TRIGGER USER`);
  }

  /** Sequences behind serial or identity columns continue after the restored rows. */
  async afterInsert(): Promise<void> {
    const columns = await this.sql.all<{ table_name: string; column_name: string; sequence: string | null }>(
      `WITH columns AS MATERIALIZED (
         SELECT table_schema, table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()
       )
       SELECT table_name, column_name, pg_get_serial_sequence(format('%I.%I', table_schema, table_name), column_name) AS sequence FROM columns`,
    );
    const sequences = columns.filter((c) => c.sequence !== null);
    for (const s of sequences) {
      await this.sql.all(`SELECT setval(?, COALESCE((SELECT MAX(${quoted(s.column_name)}) FROM ${quoted(s.table_name)}), 0) + 1, false)`, [s.sequence]);
    }
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}

// ------------------------------------------------------------------------------------- catalog queries

/** medface's tables (not the schema's bookkeeping), every table after the tables it references. */
async function tablesParentsFirst(sql: SqlExecutor): Promise<string[]> {
  const tables =
    sql.engine === 'sqlite'
      ? await sql.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      : await sql.all<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name");
  const references =
    sql.engine === 'sqlite'
      ? await sql.all<{ child: string; parent: string }>('SELECT m.name AS child, f."table" AS parent FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f WHERE m.type = \'table\'')
      : await sql.all<{ child: string; parent: string }>(
          `SELECT child.relname AS child, parent.relname AS parent
             FROM pg_constraint c
             JOIN pg_class child ON child.oid = c.conrelid
             JOIN pg_class parent ON parent.oid = c.confrelid
             JOIN pg_namespace n ON n.oid = child.relnamespace
            WHERE c.contype = 'f' AND n.nspname = current_schema()`,
        );
  const names = tables.map((t) => t.name).filter((n) => n !== SCHEMA_TABLE);
  const ordered: string[] = [];
  const visiting = new Set<string>();
  const visit = (table: string) => {
    if (ordered.includes(table) || visiting.has(table)) return;
    visiting.add(table);
    for (const r of references) if (r.child === table && r.parent !== table) visit(r.parent);
    visiting.delete(table);
    ordered.push(table);
  };
  names.forEach(visit);
  return ordered;
}

async function columnTypes(sql: SqlExecutor, table: string): Promise<{ name: string; type: string }[]> {
  const columns =
    sql.engine === 'sqlite'
      ? await sql.all<{ name: string; type: string }>('SELECT name, type FROM pragma_table_info(?) ORDER BY cid', [table])
      : await sql.all<{ name: string; type: string }>(
          'SELECT column_name AS name, data_type AS type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position',
          [table],
        );
  return columns.map((c) => ({ name: c.name, type: c.type.toLowerCase() }));
}

/** Table and column names come from the database's own catalog (a backup's are checked against it first). */
function quoted(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}
