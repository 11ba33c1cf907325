import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { migrate } from './migrations.js';
import type { SqlExecutor, SqlValue } from './sql.js';
import { translateDriverError } from './sql.js';
import { TransactionalStore } from './store.js';
import type { StoreChange, StoreWatch } from './types.js';

export const SQLITE_FILE_NAME = 'medface.db';

/** How often a watching process asks whether another process (a CLI command) wrote to the file. */
const DATA_VERSION_POLL_MS = 1000;

/**
 * The embedded engine: one better-sqlite3 connection to `<dataDir>/medface.db` in WAL mode.
 *
 * better-sqlite3 is synchronous, but a medface transaction is an async function: while it awaits, other
 * callers must not run statements on the same connection (they would land inside its transaction). So every
 * transaction — and every plain call, which is a transaction of its own — waits its turn in one queue.
 * Other processes (CLI next to the server) are kept out by SQLite's own write lock (BEGIN IMMEDIATE).
 */
export class SqliteStore extends TransactionalStore {
  readonly engine = 'sqlite' as const;
  readonly file: string;
  private readonly db: Database.Database;
  private readonly executor: SqliteExecutor;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(file: string, db: Database.Database) {
    super();
    this.file = file;
    this.db = db;
    this.executor = new SqliteExecutor(db);
  }

  static async open(dataDir: string): Promise<SqliteStore> {
    const file = path.resolve(dataDir, SQLITE_FILE_NAME);
    prepareFile(path.dirname(file), file);
    let db: Database.Database | undefined;
    try {
      db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      // FULL: a committed audit entry or consent withdrawal survives power loss, not only a process crash.
      db.pragma('synchronous = FULL');
      // Deleted rows (an erasure's templates and photos) are overwritten with zeros, not left in free pages
      // where a carving tool would find them.
      db.pragma('secure_delete = ON');
    } catch (e) {
      db?.close();
      throw translateDriverError(e);
    }
    const store = new SqliteStore(file, db);
    try {
      await store.serialised(() => migrate(store.executor, () => store.executor.exec('BEGIN IMMEDIATE')));
    } catch (e) {
      db.close();
      throw e;
    }
    return store;
  }

  protected runInTransaction<T>(fn: (sql: SqlExecutor) => Promise<T>): Promise<T> {
    return this.serialised(async () => {
      await this.executor.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.executor);
        await this.executor.exec('COMMIT');
        return result;
      } catch (e) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw e;
      }
    });
  }

  /**
   * `PRAGMA data_version` changes when another connection commits (never for this one's own commits): a poll
   * costs no I/O beyond a shared-memory read, and a change is reported as `resync` since SQLite cannot say what.
   */
  watch(listener: (change: StoreChange) => void): StoreWatch {
    const version = () => this.serialised(async () => (this.db.open ? Number(this.db.pragma('data_version', { simple: true })) : null));
    let seen: number | null = null;
    let polling = false;
    const poll = async () => {
      if (polling) return;
      polling = true;
      try {
        const now = await version();
        if (now !== null && seen !== null && now !== seen) listener({ kind: 'resync' });
        seen = now ?? seen;
      } finally {
        polling = false;
      }
    };
    const timer = setInterval(() => void poll().catch(() => undefined), DATA_VERSION_POLL_MS);
    timer.unref();
    void poll().then(
      () => listener({ kind: 'resync' }),
      () => undefined,
    );
    return {
      live: true,
      close: async () => clearInterval(timer),
    };
  }

  /**
   * A TRUNCATE checkpoint: every page of the log goes into the file (where deleted content is zeroed) and the
   * log is cut to nothing, so frames written before a deletion are gone too. It waits (busy_timeout) for
   * readers in other processes; one still reading an older snapshot makes it report false.
   */
  scrubDeleted(): Promise<boolean> {
    return this.serialised(async () => {
      try {
        const [result] = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
        return result?.busy === 0;
      } catch (e) {
        throw translateDriverError(e);
      }
    });
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn);
    this.queue = result.catch(() => undefined);
    return result;
  }

  async close(): Promise<void> {
    await this.serialised(async () => {
      if (this.db.open) this.db.close();
    });
  }
}

/** Creates the data directory (0700) and the database file (0600) before SQLite does, with tight modes. */
function prepareFile(dir: string, file: string): void {
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700); // mkdir's mode is filtered by the umask
  }
  if (!existsSync(file)) {
    closeSync(openSync(file, 'a', 0o600));
    chmodSync(file, 0o600);
  }
}

/** One connection as the shared repository, migrations and backup (src/store/backup.ts) run statements on it. */
export class SqliteExecutor implements SqlExecutor {
  readonly engine = 'sqlite' as const;
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  private prepare(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  async all<R>(sql: string, params: readonly SqlValue[] = []): Promise<R[]> {
    try {
      return this.prepare(sql).all(...params) as R[];
    } catch (e) {
      throw translateDriverError(e);
    }
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    try {
      return this.prepare(sql).run(...params).changes;
    } catch (e) {
      throw translateDriverError(e);
    }
  }

  async exec(sql: string): Promise<void> {
    try {
      this.db.exec(sql);
    } catch (e) {
      throw translateDriverError(e);
    }
  }
}
