import type { SqlExecutor } from '../sql.js';
import type { Columns } from './columns.js';
import { bytes, json, num, text, time } from './columns.js';

/**
 * What several aggregates share: a versioned FHIR resource and an envelope-encrypted blob, as rows and as columns.
 */

/** A FHIR resource as stored: validated and shaped by src/records/, opaque here. */
export type ResourceJson = object;

export interface ResourceRow {
  id: string;
  /** Incremented on every update; the optimistic-concurrency token. */
  versionId: number;
  lastUpdated: string;
  resource: ResourceJson;
}

/**
 * The output of template protection (src/identity/protection.ts): an envelope-encrypted blob. Any
 * Uint8Array is accepted; what the store reads back are Buffers (which are Uint8Arrays).
 */
export interface ProtectedBlob {
  /** The key-encryption key that wrapped `wrappedKey`. */
  keyId: string;
  wrappedKey: Uint8Array;
  iv: Uint8Array;
  ciphertext: Uint8Array;
  tag: Uint8Array;
}

/** The columns of a versioned FHIR resource's row. */
export const RESOURCE_COLUMNS: Columns<ResourceRow> = {
  id: text('id'),
  versionId: num('version_id'),
  lastUpdated: time('last_updated'),
  resource: json<ResourceJson>('resource'),
};

/** The columns of an envelope-encrypted blob. */
export const BLOB_COLUMNS: Columns<ProtectedBlob> = {
  keyId: text('key_id'),
  wrappedKey: bytes('wrapped_key'),
  iv: bytes('iv'),
  ciphertext: bytes('ciphertext'),
  tag: bytes('tag'),
};

/**
 * Re-seals one row's blob in place (key rotation, transform renewal): its key, wrapped key, IV, ciphertext and tag,
 * and the template transform where the table keeps one. False when the row is gone.
 */
export async function updateProtection(sql: SqlExecutor, table: 'templates' | 'staff_templates' | 'photos', id: string, blob: ProtectedBlob, transformId?: string): Promise<boolean> {
  const transform = transformId === undefined ? [] : [transformId];
  const changed = await sql.run(`UPDATE ${table} SET ${transformId === undefined ? '' : 'transform_id = ?, '}key_id = ?, wrapped_key = ?, iv = ?, ciphertext = ?, tag = ? WHERE id = ?`, [
    ...transform,
    blob.keyId,
    blob.wrappedKey,
    blob.iv,
    blob.ciphertext,
    blob.tag,
    id,
  ]);
  return changed > 0;
}
