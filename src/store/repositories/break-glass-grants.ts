import type { SqlExecutor } from '../sql.js';
import { table, text, textOrNull, time, timeOrNull, whereGiven } from './columns.js';

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
    insertBreakGlassGrant: (row) => GRANTS.insertRow(sql, row),
    getBreakGlassGrant: (id) => GRANTS.byId(sql, id),
    async findActiveBreakGlassGrant(userId: string, patientId: string, at: string): Promise<BreakGlassGrantRow | null> {
      return GRANTS.one(sql, 'WHERE user_id = ? AND patient_id = ? AND granted_at <= ? AND expires_at > ? ORDER BY expires_at DESC, id LIMIT 1', [userId, patientId, at, at]);
    },
    async listBreakGlassGrants(filter: { reviewStatus?: BreakGlassReviewStatus; userId?: string; patientId?: string }): Promise<BreakGlassGrantRow[]> {
      const { where, params } = whereGiven([
        ['review_status = ?', filter.reviewStatus],
        ['user_id = ?', filter.userId],
        ['patient_id = ?', filter.patientId],
      ]);
      return GRANTS.all(sql, `${where} ORDER BY granted_at, id`, params);
    },
    async reviewBreakGlassGrant(id: string, review: { reviewedBy: string; reviewedAt: string; note: string }): Promise<boolean> {
      const changed = await sql.run("UPDATE break_glass_grants SET review_status = 'reviewed', reviewed_by = ?, reviewed_at = ?, review_note = ? WHERE id = ? AND review_status = 'pending'", [
        review.reviewedBy,
        review.reviewedAt,
        review.note,
        id,
      ]);
      return changed > 0;
    },
  };
}

const GRANTS = table<BreakGlassGrantRow>('break_glass_grants', {
  id: text('id'),
  userId: text('user_id'),
  patientId: text('patient_id'),
  reason: text('reason'),
  client: textOrNull('client'),
  grantedAt: time('granted_at'),
  expiresAt: time('expires_at'),
  reviewStatus: text<BreakGlassReviewStatus>('review_status'),
  reviewedBy: textOrNull('reviewed_by'),
  reviewedAt: timeOrNull('reviewed_at'),
  reviewNote: textOrNull('review_note'),
});
