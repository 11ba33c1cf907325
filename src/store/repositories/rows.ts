import { isoTime, jsonColumn } from '../sql.js';

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

export interface ResourceDbRow {
  id: string;
  version_id: number;
  last_updated: unknown;
  resource: unknown;
}

export function resourceRow(r: ResourceDbRow): ResourceRow {
  return {
    id: r.id,
    versionId: Number(r.version_id),
    lastUpdated: isoTime(r.last_updated),
    resource: jsonColumn<object>(r.resource),
  };
}

export interface BlobDbRow {
  key_id: string;
  wrapped_key: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

export function blob(r: BlobDbRow): ProtectedBlob {
  return { keyId: r.key_id, wrappedKey: r.wrapped_key, iv: r.iv, ciphertext: r.ciphertext, tag: r.tag };
}
