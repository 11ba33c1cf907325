import pg from 'pg';
import { migrate } from './migrations.js';
import type { SqlExecutor, SqlValue } from './sql.js';
import { translateDriverError } from './sql.js';
import { TransactionalStore } from './store.js';

/** Any 64-bit constant works; it names the advisory lock that lets one process at a time migrate. */
const MIGRATION_LOCK_KEY = 4_823_117_560_230;

/**
 * The production engine: a pg connection pool; each transaction holds one pooled connection from BEGIN to
 * COMMIT, so concurrent transactions run in parallel and PostgreSQL's locks order what must be ordered
 * (Repository.lockPatient, lockAuditHead).
 */
export class PostgresStore extends TransactionalStore {
  readonly engine = 'postgres' as const;

  private constructor(private readonly pool: pg.Pool) {
    super();
  }

  /** `connectionString` may carry libpq parameters, e.g. `?options=-c%20search_path%3Dother` for a schema. */
  static async open(connectionString: string, poolSize = 10): Promise<PostgresStore> {
    const pool = new pg.Pool({ connectionString, max: poolSize });
    // An idle pooled connection that the server drops must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    const store = new PostgresStore(pool);
    try {
      const client = await store.connect();
      try {
        const sql = new PostgresExecutor(client);
        await migrate(sql, async () => {
          await sql.exec('BEGIN');
          await sql.all('SELECT pg_advisory_xact_lock(?)', [MIGRATION_LOCK_KEY]);
        });
      } finally {
        client.release();
      }
    } catch (e) {
      await pool.end();
      throw e;
    }
    return store;
  }

  protected async runInTransaction<T>(fn: (sql: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.connect();
    const sql = new PostgresExecutor(client);
    let reusable = true;
    try {
      await sql.exec('BEGIN');
      const result = await fn(sql);
      await sql.exec('COMMIT');
      return result;
    } catch (e) {
      // A connection whose ROLLBACK fails is in an unknown state and must not go back to the pool.
      await sql.exec('ROLLBACK').catch(() => {
        reusable = false;
      });
      throw e;
    } finally {
      client.release(!reusable);
    }
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (e) {
      throw translateDriverError(e);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

class PostgresExecutor implements SqlExecutor {
  readonly engine = 'postgres' as const;

  constructor(private readonly client: pg.PoolClient) {}

  async all<R>(sql: string, params: readonly SqlValue[] = []): Promise<R[]> {
    try {
      const result = await this.client.query(numberedPlaceholders(sql), params as unknown[]);
      return result.rows as R[];
    } catch (e) {
      throw translateDriverError(e);
    }
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    try {
      const result = await this.client.query(numberedPlaceholders(sql), params as unknown[]);
      return result.rowCount ?? 0;
    } catch (e) {
      throw translateDriverError(e);
    }
  }

  async exec(sql: string): Promise<void> {
    try {
      await this.client.query(sql);
    } catch (e) {
      throw translateDriverError(e);
    }
  }
}

const converted = new Map<string, string>();

/** The shared SQL uses `?`; PostgreSQL wants `$1, $2, …`. (The shared SQL has no `?` inside literals.) */
export function numberedPlaceholders(sql: string): string {
  let out = converted.get(sql);
  if (out === undefined) {
    let n = 0;
    out = sql.replace(/\?/g, () => `$${++n}`);
    converted.set(sql, out);
  }
  return out;
}
