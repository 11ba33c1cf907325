import pg from 'pg';
import { isMedfaceError } from '../errors.js';
import { migrate } from './migrations.js';
import { PostgresChangeFeed } from './postgres-watch.js';
import type { SqlExecutor, SqlValue } from './sql.js';
import { translateDriverError } from './sql.js';
import { TransactionalStore } from './store.js';
import type { StoreChange, StoreWatch } from './types.js';

/** Any 64-bit constant works; it names the advisory lock that lets one process at a time migrate. */
const MIGRATION_LOCK_KEY = 4_823_117_560_230;

/**
 * Bounds on waiting for PostgreSQL, so an unreachable or stalled server turns requests into STORE_UNAVAILABLE
 * (503 with Retry-After) instead of hanging them: connecting, a statement (cancelled by the server), a reply
 * (the client gives up on a silent network), and a transaction left open by a node that died mid-way.
 */
export const PG_TIMEOUTS = {
  connectMs: 5_000,
  statementMs: 10_000,
  replyMs: 15_000,
  idleInTransactionMs: 60_000,
} as const;

const CONNECT_ATTEMPTS = 2;
/** node-postgres's messages for a connect, and a checkout from a full pool, that outlived connectionTimeoutMillis. */
const CONNECT_TIMED_OUT = /^(timeout exceeded when trying to connect|Connection terminated due to connection timeout)/;

/**
 * The production engine: a pg connection pool; each transaction holds one pooled connection from BEGIN to
 * COMMIT, so concurrent transactions run in parallel and PostgreSQL's locks order what must be ordered
 * (Repository.lockPatient, lockAuditHead).
 */
export class PostgresStore extends TransactionalStore {
  readonly engine = 'postgres' as const;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly connectionString: string,
  ) {
    super();
  }

  /** `connectionString` may carry libpq parameters, e.g. `?options=-c%20search_path%3Dother` for a schema. */
  static async open(connectionString: string, poolSize = 10): Promise<PostgresStore> {
    await migrateOn(connectionString);
    const pool = new pg.Pool({
      connectionString,
      max: poolSize,
      connectionTimeoutMillis: PG_TIMEOUTS.connectMs,
      statement_timeout: PG_TIMEOUTS.statementMs,
      query_timeout: PG_TIMEOUTS.replyMs,
      idle_in_transaction_session_timeout: PG_TIMEOUTS.idleInTransactionMs,
      keepAlive: true,
    });
    // An idle pooled connection that the server drops must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    return new PostgresStore(pool, connectionString);
  }

  watch(listener: (change: StoreChange) => void): StoreWatch {
    return PostgresChangeFeed.start({ connectionString: this.connectionString, connectionTimeoutMillis: PG_TIMEOUTS.connectMs, query_timeout: PG_TIMEOUTS.replyMs, keepAlive: true }, listener);
  }

  protected async runInTransaction<T>(fn: (sql: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.connect();
    const sql = new PostgresExecutor(client);
    let reusable = true;
    // The pool listens for errors only on idle connections: a connection lost while checked out would
    // otherwise emit an unhandled 'error' and end the process. The query under way fails on its own.
    const lost = () => {
      reusable = false;
    };
    client.on('error', lost);
    try {
      await sql.exec('BEGIN');
      const result = await fn(sql);
      await sql.exec('COMMIT');
      return result;
    } catch (e) {
      // A lost or silent connection is dropped, not rolled back (the server rolls back when it goes): a
      // ROLLBACK would wait for the reply timeout a second time. One whose ROLLBACK fails is in an unknown
      // state and must not go back to the pool either.
      if (!reusable || connectionLost(e)) reusable = false;
      else
        await sql.exec('ROLLBACK').catch(() => {
          reusable = false;
        });
      throw e;
    } finally {
      client.off('error', lost);
      client.release(!reusable);
    }
  }

  /**
   * VACUUM cannot run inside a transaction, and on a large table it may outlast the statement timeout: it
   * runs on a connection of its own without one.
   */
  async scrubDeleted(): Promise<boolean> {
    const client = new pg.Client({ connectionString: this.connectionString, connectionTimeoutMillis: PG_TIMEOUTS.connectMs });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('VACUUM templates, photos, staff_templates');
      return true;
    } catch (e) {
      throw translateDriverError(e);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /**
   * A connection or pooled client that does not come within the connect bound is asked for once more: the
   * bound is a timer of this process, and a stall of its event loop (seconds of synchronous work, such as an
   * in-process face engine on a loaded machine) expires it even when the server has answered. A server that is
   * really unreachable still fails, after twice the bound; a refusal fails at once.
   */
  private async connect(): Promise<pg.PoolClient> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.pool.connect();
      } catch (e) {
        if (attempt === CONNECT_ATTEMPTS || !(e instanceof Error) || !CONNECT_TIMED_OUT.test(e.message)) throw translateDriverError(e);
      }
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/**
 * Migrations run on a connection of their own without the statement timeouts: building an index on a large
 * table may take longer than any request should.
 */
async function migrateOn(connectionString: string): Promise<void> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: PG_TIMEOUTS.connectMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (e) {
    throw translateDriverError(e);
  }
  try {
    const sql = new PostgresExecutor(client);
    await migrate(sql, async () => {
      await sql.exec('BEGIN');
      await sql.all('SELECT pg_advisory_xact_lock(?)', [MIGRATION_LOCK_KEY]);
    });
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** One client as the shared repository, migrations and backup (src/store/backup.ts) run statements on it. */
export class PostgresExecutor implements SqlExecutor {
  readonly engine = 'postgres' as const;

  constructor(private readonly client: pg.ClientBase) {}

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

/** The error says the connection is gone or unanswered (translateDriverError names the driver's reason). */
function connectionLost(e: unknown): boolean {
  if (!isMedfaceError(e) || e.code !== 'STORE_UNAVAILABLE') return false;
  const reason = e.details?.reason;
  return typeof reason === 'string' && reason !== '57014' && reason !== '53300' && reason !== '3D000';
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
