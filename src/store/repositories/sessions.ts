import type { SqlExecutor } from '../sql.js';
import { isoTime, isoTimeOrNull } from '../sql.js';

/**
 * Signed-in sessions and the sign-in throttle, shared by every node.
 */

export interface SessionRow {
  id: string;
  /** SHA-256 of the session token; the token itself is never stored. */
  tokenHash: string;
  userId: string;
  /** Also the time identity was established. */
  createdAt: string;
  lastSeenAt: string;
  idleTimeoutSeconds: number;
  /** lastSeenAt + idle timeout, capped at expiresAt. */
  idleExpiresAt: string;
  /** The absolute end of the session, however active. */
  expiresAt: string;
  client: string | null;
  /** How identity was established, e.g. 'password+totp', 'face+pin'. */
  authMethod: string;
  /** The face match grade and score when a face was one of the factors. */
  matchGrade: string | null;
  matchScore: number | null;
}

/** Failed sign-ins counted against one subject (an account or a client address), shared by every node. */
export interface SignInThrottleRow {
  subject: string;
  failures: number;
  lastFailureAt: string;
  blockedUntil: string | null;
}

export interface SessionRepository {
  insertSession(row: SessionRow): Promise<void>;
  getSessionByTokenHash(tokenHash: string): Promise<SessionRow | null>;
  /** Moves lastSeenAt and idleExpiresAt forward; false when the session is gone. */
  touchSession(id: string, lastSeenAt: string, idleExpiresAt: string): Promise<boolean>;
  deleteSession(id: string): Promise<boolean>;
  /** Returns how many sessions ended. */
  deleteSessionsOfUser(userId: string): Promise<number>;
  /** Removes sessions past their idle or absolute expiry; returns how many. */
  deleteExpiredSessions(now: string): Promise<number>;
  /**
   * Counts one more failure against `subject` in one statement (safe when nodes race), starting again from
   * one when the previous failure was before `forgetBefore`; returns the count.
   */
  recordSignInFailure(subject: string, at: string, forgetBefore: string): Promise<number>;
  /** Blocks the subject until `until` unless it is already blocked longer. */
  blockSignIn(subject: string, until: string): Promise<void>;
  getSignInThrottle(subjects: readonly string[]): Promise<SignInThrottleRow[]>;
  clearSignInFailures(subject: string): Promise<void>;
}

export function sessionRepository(sql: SqlExecutor): SessionRepository {
  return {
    async insertSession(row: SessionRow): Promise<void> {
      await sql.run(
        `INSERT INTO sessions (id, token_hash, user_id, created_at, last_seen_at, idle_timeout_seconds, idle_expires_at, expires_at,
           client, auth_method, match_grade, match_score)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          row.id,
          row.tokenHash,
          row.userId,
          row.createdAt,
          row.lastSeenAt,
          row.idleTimeoutSeconds,
          row.idleExpiresAt,
          row.expiresAt,
          row.client,
          row.authMethod,
          row.matchGrade,
          row.matchScore,
        ],
      );
    },
    async getSessionByTokenHash(tokenHash: string): Promise<SessionRow | null> {
      const rows = await sql.all<SessionDbRow>(`SELECT ${SESSION_COLUMNS} FROM sessions WHERE token_hash = ?`, [tokenHash]);
      return rows[0] ? sessionRow(rows[0]) : null;
    },
    async touchSession(id: string, lastSeenAt: string, idleExpiresAt: string): Promise<boolean> {
      const changed = await sql.run('UPDATE sessions SET last_seen_at = ?, idle_expires_at = ? WHERE id = ?', [lastSeenAt, idleExpiresAt, id]);
      return changed > 0;
    },
    async deleteSession(id: string): Promise<boolean> {
      return (await sql.run('DELETE FROM sessions WHERE id = ?', [id])) > 0;
    },
    async deleteSessionsOfUser(userId: string): Promise<number> {
      return sql.run('DELETE FROM sessions WHERE user_id = ?', [userId]);
    },
    async deleteExpiredSessions(now: string): Promise<number> {
      return sql.run('DELETE FROM sessions WHERE idle_expires_at <= ? OR expires_at <= ?', [now, now]);
    },
    async recordSignInFailure(subject: string, at: string, forgetBefore: string): Promise<number> {
      const rows = await sql.all<{ failures: number | string }>(
        `INSERT INTO sign_in_throttle (subject, failures, last_failure_at, blocked_until) VALUES (?, 1, ?, NULL)
         ON CONFLICT (subject) DO UPDATE SET
           failures = CASE WHEN sign_in_throttle.last_failure_at < ? THEN 1 ELSE sign_in_throttle.failures + 1 END,
           last_failure_at = excluded.last_failure_at
         RETURNING failures`,
        [subject, at, forgetBefore],
      );
      return Number(rows[0]?.failures ?? 0);
    },
    async blockSignIn(subject: string, until: string): Promise<void> {
      await sql.run('UPDATE sign_in_throttle SET blocked_until = ? WHERE subject = ? AND (blocked_until IS NULL OR blocked_until < ?)', [
        until,
        subject,
        until,
      ]);
    },
    async getSignInThrottle(subjects: readonly string[]): Promise<SignInThrottleRow[]> {
      if (subjects.length === 0) return [];
      const rows = await sql.all<{ subject: string; failures: number | string; last_failure_at: unknown; blocked_until: unknown }>(
        `SELECT subject, failures, last_failure_at, blocked_until FROM sign_in_throttle WHERE subject IN (${subjects.map(() => '?').join(', ')})
         ORDER BY subject`,
        subjects,
      );
      return rows.map((r) => ({
        subject: r.subject,
        failures: Number(r.failures),
        lastFailureAt: isoTime(r.last_failure_at),
        blockedUntil: isoTimeOrNull(r.blocked_until),
      }));
    },
    async clearSignInFailures(subject: string): Promise<void> {
      await sql.run('DELETE FROM sign_in_throttle WHERE subject = ?', [subject]);
    },
  };
}

const SESSION_COLUMNS =
  'id, token_hash, user_id, created_at, last_seen_at, idle_timeout_seconds, idle_expires_at, expires_at, client, auth_method, match_grade, match_score';

interface SessionDbRow {
  id: string;
  token_hash: string;
  user_id: string;
  created_at: unknown;
  last_seen_at: unknown;
  idle_timeout_seconds: number;
  idle_expires_at: unknown;
  expires_at: unknown;
  client: string | null;
  auth_method: string;
  match_grade: string | null;
  match_score: number | null;
}

function sessionRow(r: SessionDbRow): SessionRow {
  return {
    id: r.id,
    tokenHash: r.token_hash,
    userId: r.user_id,
    createdAt: isoTime(r.created_at),
    lastSeenAt: isoTime(r.last_seen_at),
    idleTimeoutSeconds: Number(r.idle_timeout_seconds),
    idleExpiresAt: isoTime(r.idle_expires_at),
    expiresAt: isoTime(r.expires_at),
    client: r.client,
    authMethod: r.auth_method,
    matchGrade: r.match_grade,
    matchScore: r.match_score === null ? null : Number(r.match_score),
  };
}
