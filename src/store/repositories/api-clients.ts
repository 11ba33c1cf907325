import type { SqlExecutor } from '../sql.js';
import { json, table, text, time, timeOrNull } from './columns.js';

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
    insertApiClient: (row) => API_CLIENTS.insertRow(sql, row),
    getApiClient: (id) => API_CLIENTS.byId(sql, id),
    async getApiClientByKeyHash(keyHash: string): Promise<ApiClientRow | null> {
      return API_CLIENTS.one(sql, 'WHERE key_hash = ?', [keyHash]);
    },
    async listApiClients(): Promise<ApiClientRow[]> {
      return API_CLIENTS.all(sql, 'ORDER BY name');
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

const API_CLIENTS = table<ApiClientRow>('api_clients', {
  id: text('id'),
  name: text('name'),
  kind: { name: 'kind', read: (v) => (v === 'kiosk' ? 'kiosk' : 'integration'), write: (v) => v },
  keyHash: text('key_hash'),
  scopes: json<string[]>('scopes'),
  createdAt: time('created_at'),
  createdBy: text('created_by'),
  revokedAt: timeOrNull('revoked_at'),
  pairedAt: timeOrNull('paired_at'),
});
