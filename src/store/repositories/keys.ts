import type { SqlExecutor } from '../sql.js';
import { table, text, time, timeOrNull } from './columns.js';

/**
 * Key metadata (never key material) and how many protected records each key protects.
 */

export interface KeyMetadata {
  id: string;
  /** What the key protects, e.g. 'kek' or 'transform'. */
  purpose: string;
  algorithm: string;
  /** A value derived from the key that proves a loaded key is the right one (never the key itself). */
  checkValue: string;
  createdAt: string;
  retiredAt: string | null;
}

/** How many protected records one key (and transform) protects, per kind of record. */
export interface ProtectedRecordCount {
  kind: 'template' | 'staff-template' | 'photo';
  keyId: string;
  /** Null for photos (bytes are not transformed). */
  transformId: string | null;
  count: number;
}

export interface KeyRepository {
  insertKey(k: KeyMetadata): Promise<void>;
  getKey(id: string): Promise<KeyMetadata | null>;
  listKeys(purpose?: string): Promise<KeyMetadata[]>;
  retireKey(id: string, at: string): Promise<void>;
  /** Templates, staff templates and photos counted per key (key status; no key material). */
  countProtectedRecordsByKey(): Promise<ProtectedRecordCount[]>;
}

export function keyRepository(sql: SqlExecutor): KeyRepository {
  return {
    insertKey: (k) => KEYS.insertRow(sql, k),
    getKey: (id) => KEYS.byId(sql, id),
    async listKeys(purpose?: string): Promise<KeyMetadata[]> {
      return purpose === undefined ? KEYS.all(sql, 'ORDER BY created_at, id') : KEYS.all(sql, 'WHERE purpose = ? ORDER BY created_at, id', [purpose]);
    },
    async retireKey(id: string, at: string): Promise<void> {
      await sql.run('UPDATE key_metadata SET retired_at = ? WHERE id = ? AND retired_at IS NULL', [at, id]);
    },
    async countProtectedRecordsByKey(): Promise<ProtectedRecordCount[]> {
      const rows = await sql.all<{ kind: string; key_id: string; transform_id: string | null; n: number | string }>(
        `SELECT 'template' AS kind, key_id, transform_id, COUNT(*) AS n FROM templates GROUP BY key_id, transform_id
         UNION ALL SELECT 'staff-template' AS kind, key_id, transform_id, COUNT(*) AS n FROM staff_templates GROUP BY key_id, transform_id
         UNION ALL SELECT 'photo' AS kind, key_id, NULL AS transform_id, COUNT(*) AS n FROM photos GROUP BY key_id
         ORDER BY kind, key_id`,
      );
      return rows.map((r) => ({ kind: r.kind as ProtectedRecordCount['kind'], keyId: r.key_id, transformId: r.transform_id, count: Number(r.n) }));
    },
  };
}

const KEYS = table<KeyMetadata>('key_metadata', {
  id: text('id'),
  purpose: text('purpose'),
  algorithm: text('algorithm'),
  checkValue: text('check_value'),
  createdAt: time('created_at'),
  retiredAt: timeOrNull('retired_at'),
});
