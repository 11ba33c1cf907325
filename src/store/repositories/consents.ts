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
    updateConsent: (row, expectedVersionId) => CONSENTS.updateVersion(sql, row, ['status', 'scope', 'category', 'versionId', 'lastUpdated', 'resource'], ['id', 'patientId'], expectedVersionId),
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
