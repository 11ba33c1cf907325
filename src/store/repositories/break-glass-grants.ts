import type { SqlExecutor, SqlValue } from '../sql.js';
import { isoTime, isoTimeOrNull } from '../sql.js';

/**
 * Emergency (break-glass) access grants and their review.
 */

export type BreakGlassReviewStatus = 'pending' | 'reviewed';

/** Emergency access by one user to one patient's record until `expiresAt`, queued for privacy-officer review. */
export interface BreakGlassGrantRow {
  id: string;
  userId: string;
  patientId: string;
  /** Free text the user gave: may be PHI, so it is kept here and never copied into the audit trail. */
  reason: string;
  client: string | null;
  grantedAt: string;
  expiresAt: string;
  reviewStatus: BreakGlassReviewStatus;
  reviewedBy: string | null;
  reviewedAt: string | null;
  reviewNote: string | null;
}

export interface BreakGlassGrantRepository {
  insertBreakGlassGrant(row: BreakGlassGrantRow): Promise<void>;
  getBreakGlassGrant(id: string): Promise<BreakGlassGrantRow | null>;
  /** The grant of that user to that patient in force at `at` (granted at or before, expiring after) that ends last. */
  findActiveBreakGlassGrant(userId: string, patientId: string, at: string): Promise<BreakGlassGrantRow | null>;
  /** Grants oldest first, optionally only those of one review status, user or patient. */
  listBreakGlassGrants(filter: { reviewStatus?: BreakGlassReviewStatus; userId?: string; patientId?: string }): Promise<BreakGlassGrantRow[]>;
  /** Marks a pending grant reviewed; false when there is no such grant or it was reviewed already. */
  reviewBreakGlassGrant(id: string, review: { reviewedBy: string; reviewedAt: string; note: string }): Promise<boolean>;
}

export function breakGlassGrantRepository(sql: SqlExecutor): BreakGlassGrantRepository {
  return {
    async insertBreakGlassGrant(row: BreakGlassGrantRow): Promise<void> {
      await sql.run(
        `INSERT INTO break_glass_grants (${GRANT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          row.id,
          row.userId,
          row.patientId,
          row.reason,
          row.client,
          row.grantedAt,
          row.expiresAt,
          row.reviewStatus,
          row.reviewedBy,
          row.reviewedAt,
          row.reviewNote,
        ],
      );
    },
    async getBreakGlassGrant(id: string): Promise<BreakGlassGrantRow | null> {
      const rows = await sql.all<GrantDbRow>(`SELECT ${GRANT_COLUMNS} FROM break_glass_grants WHERE id = ?`, [id]);
      return rows[0] ? grantRow(rows[0]) : null;
    },
    async findActiveBreakGlassGrant(userId: string, patientId: string, at: string): Promise<BreakGlassGrantRow | null> {
      const rows = await sql.all<GrantDbRow>(
        `SELECT ${GRANT_COLUMNS} FROM break_glass_grants
         WHERE user_id = ? AND patient_id = ? AND granted_at <= ? AND expires_at > ? ORDER BY expires_at DESC, id LIMIT 1`,
        [userId, patientId, at, at],
      );
      return rows[0] ? grantRow(rows[0]) : null;
    },
    async listBreakGlassGrants(filter: { reviewStatus?: BreakGlassReviewStatus; userId?: string; patientId?: string }): Promise<BreakGlassGrantRow[]> {
      const where: string[] = [];
      const params: SqlValue[] = [];
      const filters: [string, SqlValue | undefined][] = [
        ['review_status = ?', filter.reviewStatus],
        ['user_id = ?', filter.userId],
        ['patient_id = ?', filter.patientId],
      ];
      for (const [clause, value] of filters) {
        if (value === undefined) continue;
        where.push(clause);
        params.push(value);
      }
      const rows = await sql.all<GrantDbRow>(
        `SELECT ${GRANT_COLUMNS} FROM break_glass_grants ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY granted_at, id`,
        params,
      );
      return rows.map(grantRow);
    },
    async reviewBreakGlassGrant(id: string, review: { reviewedBy: string; reviewedAt: string; note: string }): Promise<boolean> {
      const changed = await sql.run(
        "UPDATE break_glass_grants SET review_status = 'reviewed', reviewed_by = ?, reviewed_at = ?, review_note = ? WHERE id = ? AND review_status = 'pending'",
        [review.reviewedBy, review.reviewedAt, review.note, id],
      );
      return changed > 0;
    },
  };
}

const GRANT_COLUMNS =
  'id, user_id, patient_id, reason, client, granted_at, expires_at, review_status, reviewed_by, reviewed_at, review_note';

interface GrantDbRow {
  id: string;
  user_id: string;
  patient_id: string;
  reason: string;
  client: string | null;
  granted_at: unknown;
  expires_at: unknown;
  review_status: string;
  reviewed_by: string | null;
  reviewed_at: unknown;
  review_note: string | null;
}

function grantRow(r: GrantDbRow): BreakGlassGrantRow {
  return {
    id: r.id,
    userId: r.user_id,
    patientId: r.patient_id,
    reason: r.reason,
    client: r.client,
    grantedAt: isoTime(r.granted_at),
    expiresAt: isoTime(r.expires_at),
    reviewStatus: r.review_status as BreakGlassReviewStatus,
    reviewedBy: r.reviewed_by,
    reviewedAt: isoTimeOrNull(r.reviewed_at),
    reviewNote: r.review_note,
  };
}
