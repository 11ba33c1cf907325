import type { SqlExecutor, SqlValue } from '../sql.js';
import { num, table, text, textOrNull, time, timeOrNull } from './columns.js';

/**
 * Suspected duplicates for human review (`Patient.link` seealso while a suspicion stands).
 */

export type PatientLinkStatus = 'pending' | 'confirmed' | 'rejected' | 'overridden';

export interface PatientLinkRow {
  id: string;
  patientId: string;
  otherPatientId: string;
  grade: string;
  score: number;
  status: PatientLinkStatus;
  reason: string | null;
  createdBy: string;
  createdAt: string;
  reviewedBy: string | null;
  reviewedAt: string | null;
}

export interface PatientLinkRepository {
  insertPatientLink(row: PatientLinkRow): Promise<void>;
  getPatientLink(id: string): Promise<PatientLinkRow | null>;
  /** Links where the patient is on either side, optionally of one status; oldest first. */
  listPatientLinks(filter: { patientId?: string; status?: PatientLinkStatus }): Promise<PatientLinkRow[]>;
  updatePatientLink(row: PatientLinkRow): Promise<void>;
}

export function patientLinkRepository(sql: SqlExecutor): PatientLinkRepository {
  return {
    insertPatientLink: (row) => LINKS.insertRow(sql, row),
    getPatientLink: (id) => LINKS.byId(sql, id),
    async listPatientLinks(filter: { patientId?: string; status?: PatientLinkStatus }): Promise<PatientLinkRow[]> {
      const where: string[] = [];
      const params: SqlValue[] = [];
      if (filter.patientId !== undefined) {
        where.push('(patient_id = ? OR other_patient_id = ?)');
        params.push(filter.patientId, filter.patientId);
      }
      if (filter.status !== undefined) {
        where.push('status = ?');
        params.push(filter.status);
      }
      return LINKS.all(sql, `${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY created_at, id`, params);
    },
    async updatePatientLink(row: PatientLinkRow): Promise<void> {
      await sql.run('UPDATE patient_links SET grade = ?, score = ?, status = ?, reason = ?, reviewed_by = ?, reviewed_at = ? WHERE id = ?', [
        row.grade,
        row.score,
        row.status,
        row.reason,
        row.reviewedBy,
        row.reviewedAt,
        row.id,
      ]);
    },
  };
}

const LINKS = table<PatientLinkRow>('patient_links', {
  id: text('id'),
  patientId: text('patient_id'),
  otherPatientId: text('other_patient_id'),
  grade: text('grade'),
  score: num('score'),
  status: text<PatientLinkStatus>('status'),
  reason: textOrNull('reason'),
  createdBy: text('created_by'),
  createdAt: time('created_at'),
  reviewedBy: textOrNull('reviewed_by'),
  reviewedAt: timeOrNull('reviewed_at'),
});
