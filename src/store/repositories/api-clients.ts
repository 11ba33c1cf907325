import type { SqlExecutor } from '../sql.js';
import { isoTime, isoTimeOrNull, jsonColumn } from '../sql.js';

/**
 * API clients: integrations with a scoped key, and kiosks paired by a one-time code.
 */

/**
 * An integration (e.g. a telemedicine platform) calling with an API key limited to scopes, or a kiosk
 * device, whose credential is a cookie set when it is paired.
 */
export interface ApiClientRow {
  id: string;
  name: string;
  kind: 'integration' | 'kiosk';
  /** SHA-256 of the key (a kiosk's: of its pairing code until paired, then of its device token); neither is stored. */
  keyHash: string;
  scopes: string[];
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
  /** When a kiosk's pairing code was exchanged for its device token; null for an integration. */
  pairedAt: string | null;
}

export interface ApiClientRepository {
  insertApiClient(row: ApiClientRow): Promise<void>;
  getApiClient(id: string): Promise<ApiClientRow | null>;
  getApiClientByKeyHash(keyHash: string): Promise<ApiClientRow | null>;
  listApiClients(): Promise<ApiClientRow[]>;
  /** False when there is no such client or it was already revoked. */
  revokeApiClient(id: string, at: string): Promise<boolean>;
  /**
   * A kiosk's pairing: replaces the pairing code's hash by the device token's, once (false when the code was
   * already used, replaced, or the kiosk revoked).
   */
  pairApiClient(id: string, pairingHash: string, deviceHash: string, at: string): Promise<boolean>;
}

export function apiClientRepository(sql: SqlExecutor): ApiClientRepository {
  return {
    async insertApiClient(row: ApiClientRow): Promise<void> {
      await sql.run(
        'INSERT INTO api_clients (id, name, kind, key_hash, scopes, created_at, created_by, revoked_at, paired_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [row.id, row.name, row.kind, row.keyHash, JSON.stringify(row.scopes), row.createdAt, row.createdBy, row.revokedAt, row.pairedAt],
      );
    },
    async getApiClient(id: string): Promise<ApiClientRow | null> {
      const rows = await sql.all<ApiClientDbRow>(`SELECT ${API_CLIENT_COLUMNS} FROM api_clients WHERE id = ?`, [id]);
      return rows[0] ? apiClientRow(rows[0]) : null;
    },
    async getApiClientByKeyHash(keyHash: string): Promise<ApiClientRow | null> {
      const rows = await sql.all<ApiClientDbRow>(`SELECT ${API_CLIENT_COLUMNS} FROM api_clients WHERE key_hash = ?`, [keyHash]);
      return rows[0] ? apiClientRow(rows[0]) : null;
    },
    async listApiClients(): Promise<ApiClientRow[]> {
      const rows = await sql.all<ApiClientDbRow>(`SELECT ${API_CLIENT_COLUMNS} FROM api_clients ORDER BY name`);
      return rows.map(apiClientRow);
    },
    async revokeApiClient(id: string, at: string): Promise<boolean> {
      return (await sql.run('UPDATE api_clients SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [at, id])) > 0;
    },
    async pairApiClient(id: string, pairingHash: string, deviceHash: string, at: string): Promise<boolean> {
      const statement = 'UPDATE api_clients SET key_hash = ?, paired_at = ? WHERE id = ? AND key_hash = ? AND paired_at IS NULL AND revoked_at IS NULL';
      return (await sql.run(statement, [deviceHash, at, id, pairingHash])) > 0;
    },
  };
}

const API_CLIENT_COLUMNS = 'id, name, kind, key_hash, scopes, created_at, created_by, revoked_at, paired_at';

interface ApiClientDbRow {
  id: string;
  name: string;
  kind: string;
  key_hash: string;
  scopes: unknown;
  created_at: unknown;
  created_by: string;
  revoked_at: unknown;
  paired_at: unknown;
}

function apiClientRow(r: ApiClientDbRow): ApiClientRow {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind === 'kiosk' ? 'kiosk' : 'integration',
    keyHash: r.key_hash,
    scopes: jsonColumn<string[]>(r.scopes),
    createdAt: isoTime(r.created_at),
    createdBy: r.created_by,
    revokedAt: isoTimeOrNull(r.revoked_at),
    pairedAt: isoTimeOrNull(r.paired_at),
  };
}
