import type { SqlExecutor, SqlValue } from '../sql.js';
import { isoTime, isoTimeOrNull, jsonColumn } from '../sql.js';

/**
 * A table's columns declared once, beside its row type: the SELECT list, the INSERT and the mapping from
 * database rows (snake_case, engine-specific values) to the row type all come from one declaration, so a
 * new column is one line.
 */

/** One column: its name, how its stored value reads back, and how a row's value is bound for writing. */
export interface Column<V> {
  name: string;
  read(value: unknown): V;
  write(value: V): SqlValue;
}

export type Columns<T> = { [K in keyof T]-?: Column<T[K]> };

/** A row as the driver returns it. */
export type DbRow = Record<string, unknown>;

export interface Table<T> {
  /** `INSERT INTO <table> (<every column>) VALUES (?, …)`, bound by `values(row)`. */
  insert: string;
  values(row: T): SqlValue[];
  /** Runs `insert` with the row's values. */
  insertRow(sql: SqlExecutor, row: T): Promise<void>;
  row(r: DbRow): T;
  /** The first row of `SELECT <every column> FROM <table> <rest>`, or null. */
  one(sql: SqlExecutor, rest: string, params?: readonly SqlValue[]): Promise<T | null>;
  /** Every row of `SELECT <every column> FROM <table> <rest>`. */
  all(sql: SqlExecutor, rest: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** The row whose `id` column is `id`, or null (for the tables keyed by an `id` column). */
  byId(sql: SqlExecutor, id: string): Promise<T | null>;
  /**
   * Writes `set`'s columns of `row` to the stored row that matches `row` on `match`'s columns, if that row's
   * `version_id` is `expectedVersionId` (an optimistic update); whether it was.
   */
  updateVersion(sql: SqlExecutor, row: T, set: readonly (keyof T & string)[], match: readonly (keyof T & string)[], expectedVersionId: number): Promise<boolean>;
}

export function table<T>(name: string, columns: Columns<T>): Table<T> {
  const entries = Object.entries(columns) as [keyof T & string, Column<unknown>][];
  const names = entries.map(([, c]) => c.name).join(', ');
  const select = `SELECT ${names} FROM ${name}`;
  const row = (r: DbRow): T => Object.fromEntries(entries.map(([field, c]) => [field, c.read(r[c.name])])) as T;
  const insert = `INSERT INTO ${name} (${names}) VALUES (${entries.map(() => '?').join(', ')})`;
  const values = (value: T): SqlValue[] => entries.map(([field, c]) => c.write(value[field]));
  const one = async (sql: SqlExecutor, rest: string, params?: readonly SqlValue[]): Promise<T | null> => {
    const [first] = await sql.all<DbRow>(`${select} ${rest}`, params);
    return first ? row(first) : null;
  };
  return {
    insert,
    values,
    insertRow: async (sql, value) => {
      await sql.run(insert, values(value));
    },
    row,
    one,
    all: async (sql, rest, params) => (await sql.all<DbRow>(`${select} ${rest}`, params)).map(row),
    byId: (sql, id) => one(sql, 'WHERE id = ?', [id]),
    updateVersion: async (sql, value, set, match, expectedVersionId) => {
      const assign = (fields: readonly (keyof T & string)[], separator: string) => fields.map((f) => `${columns[f].name} = ?`).join(separator);
      const bind = (fields: readonly (keyof T & string)[]) => fields.map((f) => columns[f].write(value[f]));
      const changed = await sql.run(`UPDATE ${name} SET ${assign(set, ', ')} WHERE ${assign(match, ' AND ')} AND version_id = ?`, [...bind(set), ...bind(match), expectedVersionId]);
      return changed > 0;
    },
  };
}

const bound = <V extends SqlValue>(v: V): SqlValue => v;

export function text<V extends string = string>(name: string): Column<V> {
  return { name, read: (v) => String(v) as V, write: bound };
}

export function textOrNull(name: string): Column<string | null> {
  return { name, read: (v) => (v === null || v === undefined ? null : String(v)), write: bound };
}

/** Integers and reals: bigint columns come back as strings from PostgreSQL. */
export function num(name: string): Column<number> {
  return { name, read: (v) => Number(v), write: bound };
}

export function numOrNull(name: string): Column<number | null> {
  return { name, read: (v) => (v === null || v === undefined ? null : Number(v)), write: bound };
}

/** A yes/no stored as 0 or 1. */
export function flag(name: string): Column<boolean> {
  return { name, read: (v) => Number(v) === 1, write: (v) => (v ? 1 : 0) };
}

/** An ISO-8601 time: TEXT in SQLite, timestamptz (a Date from pg) in PostgreSQL. */
export function time(name: string): Column<string> {
  return { name, read: isoTime, write: bound };
}

export function timeOrNull(name: string): Column<string | null> {
  return { name, read: isoTimeOrNull, write: bound };
}

/** JSON: TEXT in SQLite, jsonb (parsed by pg) in PostgreSQL. */
export function json<V>(name: string): Column<V> {
  return { name, read: (v) => jsonColumn<V>(v), write: (v) => JSON.stringify(v) };
}

/** Bytes: what the drivers read back are Buffers (Uint8Arrays). */
export function bytes(name: string): Column<Uint8Array> {
  return { name, read: (v) => v as Buffer, write: bound };
}

/**
 * `WHERE a = ? AND b = ?` of the filters given a value, and `AND c IN (?, ?)` of each any-of list given (an
 * empty list matches nothing); no WHERE when nothing is given. The parameters follow in order.
 */
export function whereGiven(
  filters: readonly [clause: string, value: SqlValue | undefined][],
  anyOf: readonly [column: string, values: readonly SqlValue[] | undefined][] = [],
): { where: string; params: SqlValue[] } {
  const given = filters.filter((f): f is [string, SqlValue] => f[1] !== undefined);
  const clauses = given.map(([clause]) => clause);
  const params = given.map(([, value]) => value);
  for (const [column, values] of anyOf) {
    if (values === undefined) continue;
    clauses.push(values.length === 0 ? '1 = 0' : `${column} IN (${marks(values)})`);
    params.push(...values);
  }
  return { where: clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : '', params };
}

/** The placeholders of an IN list, one per value. */
export function marks(values: readonly unknown[]): string {
  return values.map(() => '?').join(', ');
}
