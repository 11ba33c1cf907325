import { MedfaceError } from '../errors.js';

export type SqlValue = string | number | bigint | Uint8Array | null;

/**
 * The little an engine must provide for the shared repository: statements written once with `?` placeholders
 * in the SQL both engines understand, run on one connection (inside one transaction).
 */
export interface SqlExecutor {
  readonly engine: 'sqlite' | 'postgres';
  all<R>(sql: string, params?: readonly SqlValue[]): Promise<R[]>;
  /** Returns the number of rows changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /** Runs a multi-statement script without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

const PG_CONNECTION_LOST = /^(Connection terminated|timeout exceeded when trying to connect|timeout expired|Query read timeout|Client has encountered a connection error|Client was closed)/;

interface DriverError {
  code?: unknown;
  constraint?: unknown;
}

/**
 * Turns driver errors that callers can act on into MedfaceErrors. Driver messages are not copied:
 * PostgreSQL's detail text quotes the offending values, which may be PHI.
 */
export function translateDriverError(e: unknown): unknown {
  if (e instanceof MedfaceError || typeof e !== 'object' || e === null) return e;
  const code = String((e as DriverError).code ?? '');
  if (code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    return new MedfaceError('CONFLICT', 'a record with the same unique key already exists', constraintDetails(e));
  }
  if (code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
    return new MedfaceError('NOT_FOUND', 'a referenced record does not exist', constraintDetails(e));
  }
  if (code === '23514' || code === 'SQLITE_CONSTRAINT_CHECK') {
    return new MedfaceError('VALIDATION_FAILED', 'a value is outside what the database accepts', constraintDetails(e));
  }
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code === '40P01' || code === '40001' || code === '55P03') {
    return new MedfaceError('STORE_UNAVAILABLE', 'the database is busy; try again');
  }
  if (['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EAI_AGAIN', '57P01', '57P03', '53300', '3D000'].includes(code) || code.startsWith('08') || code.startsWith('28')) {
    return new MedfaceError('STORE_UNAVAILABLE', 'the database cannot be reached', { reason: code });
  }
  if (code === '57014') {
    return new MedfaceError('STORE_UNAVAILABLE', 'the database did not answer in time; try again', { reason: code });
  }
  // node-postgres reports a lost or unreachable server by message only
  if (code === '' && e instanceof Error && PG_CONNECTION_LOST.test(e.message)) {
    return new MedfaceError('STORE_UNAVAILABLE', 'the database cannot be reached', { reason: 'connection' });
  }
  if (/^SQLITE_(CANTOPEN|NOTADB|CORRUPT|READONLY|FULL|IOERR|PERM)/.test(code)) {
    return new MedfaceError('STORE_UNAVAILABLE', 'the database file cannot be used', { reason: code });
  }
  return e;
}

function constraintDetails(e: object): Record<string, unknown> | undefined {
  const constraint = (e as DriverError).constraint;
  return typeof constraint === 'string' ? { constraint } : undefined;
}

/** Rows come back as ISO strings from SQLite and as Date objects from PostgreSQL's timestamptz. */
export function isoTime(v: unknown): string {
  return v instanceof Date ? v.toISOString() : String(v);
}

export function isoTimeOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : isoTime(v);
}

/** JSON columns are TEXT in SQLite and jsonb in PostgreSQL (which pg parses already). */
export function jsonColumn<T>(v: unknown): T {
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}
