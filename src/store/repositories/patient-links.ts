import type { SqlExecutor, SqlValue } from '../sql.js';
import { isoTime, isoTimeOrNull } from '../sql.js';

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
    async insertPatientLink(row: PatientLinkRow): Promise<void> {
      await sql.run(
        `INSERT INTO patient_links (id, patient_id, other_patient_id, grade, score, status, reason, created_by, created_at, reviewed_by, reviewed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          row.id,
          row.patientId,
          row.otherPatientId,
          row.grade,
          row.score,
          row.status,
          row.reason,
          row.createdBy,
          row.createdAt,
          row.reviewedBy,
          row.reviewedAt,
        ],
      );
    },
    async getPatientLink(id: string): Promise<PatientLinkRow | null> {
      const rows = await sql.all<LinkDbRow>(`SELECT ${LINK_COLUMNS} FROM patient_links WHERE id = ?`, [id]);
      return rows[0] ? linkRow(rows[0]) : null;
    },
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
      const rows = await sql.all<LinkDbRow>(
        `SELECT ${LINK_COLUMNS} FROM patient_links ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY created_at, id`,
        params,
      );
      return rows.map(linkRow);
    },
    async updatePatientLink(row: PatientLinkRow): Promise<void> {
      await sql.run(
        'UPDATE patient_links SET grade = ?, score = ?, status = ?, reason = ?, reviewed_by = ?, reviewed_at = ? WHERE id = ?',
        [row.grade, row.score, row.status, row.reason, row.reviewedBy, row.reviewedAt, row.id],
      );
    },
  };
}

const LINK_COLUMNS =
  'id, patient_id, other_patient_id, grade, score, status, reason, created_by, created_at, reviewed_by, reviewed_at';

interface LinkDbRow {
  id: string;
  patient_id: string;
  other_patient_id: string;
  grade: string;
  score: number;
  status: string;
  reason: string | null;
  created_by: string;
  created_at: unknown;
  reviewed_by: string | null;
  reviewed_at: unknown;
}

function linkRow(r: LinkDbRow): PatientLinkRow {
  return {
    id: r.id,
    patientId: r.patient_id,
    otherPatientId: r.other_patient_id,
    grade: r.grade,
    score: Number(r.score),
    status: r.status as PatientLinkStatus,
    reason: r.reason,
    createdBy: r.created_by,
    createdAt: isoTime(r.created_at),
    reviewedBy: r.reviewed_by,
    reviewedAt: isoTimeOrNull(r.reviewed_at),
  };
}
