import type { SqlExecutor } from '../sql.js';
import { table, text } from './columns.js';
import type { ResourceRow } from './rows.js';
import { RESOURCE_COLUMNS } from './rows.js';

/**
 * Consent resources, with the columns that find a patient's active consent of one category.
 */

export interface ConsentRow extends ResourceRow {
  patientId: string;
  status: string;
  scope: string;
  category: string;
}

export interface ConsentRepository {
  insertConsent(row: ConsentRow): Promise<void>;
  updateConsent(row: ConsentRow, expectedVersionId: number): Promise<boolean>;
  getConsent(id: string): Promise<ConsentRow | null>;
  getActiveConsent(patientId: string, category: string): Promise<ConsentRow | null>;
  listConsents(patientId: string): Promise<ConsentRow[]>;
}

export function consentRepository(sql: SqlExecutor): ConsentRepository {
  return {
    insertConsent: (row) => CONSENTS.insertRow(sql, row),
    async updateConsent(row: ConsentRow, expectedVersionId: number): Promise<boolean> {
      const changed = await sql.run('UPDATE consents SET status = ?, scope = ?, category = ?, version_id = ?, last_updated = ?, resource = ? WHERE id = ? AND patient_id = ? AND version_id = ?', [
        row.status,
        row.scope,
        row.category,
        row.versionId,
        row.lastUpdated,
        JSON.stringify(row.resource),
        row.id,
        row.patientId,
        expectedVersionId,
      ]);
      return changed > 0;
    },
    getConsent: (id) => CONSENTS.byId(sql, id),
    async getActiveConsent(patientId: string, category: string): Promise<ConsentRow | null> {
      return CONSENTS.one(sql, `WHERE patient_id = ? AND category = ? AND status = 'active'`, [patientId, category]);
    },
    async listConsents(patientId: string): Promise<ConsentRow[]> {
      return CONSENTS.all(sql, 'WHERE patient_id = ? ORDER BY last_updated, id', [patientId]);
    },
  };
}

const CONSENTS = table<ConsentRow>('consents', {
  ...RESOURCE_COLUMNS,
  patientId: text('patient_id'),
  status: text('status'),
  scope: text('scope'),
  category: text('category'),
});
