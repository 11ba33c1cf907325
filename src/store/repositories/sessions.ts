import type { SqlExecutor } from '../sql.js';
import { num, numOrNull, table, text, textOrNull, time, timeOrNull } from './columns.js';

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
    insertSession: (row) => SESSIONS.insertRow(sql, row),
    async getSessionByTokenHash(tokenHash: string): Promise<SessionRow | null> {
      return SESSIONS.one(sql, 'WHERE token_hash = ?', [tokenHash]);
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
      await sql.run('UPDATE sign_in_throttle SET blocked_until = ? WHERE subject = ? AND (blocked_until IS NULL OR blocked_until < ?)', [until, subject, until]);
    },
    async getSignInThrottle(subjects: readonly string[]): Promise<SignInThrottleRow[]> {
      if (subjects.length === 0) return [];
      return SIGN_IN_THROTTLE.all(sql, `WHERE subject IN (${subjects.map(() => '?').join(', ')}) ORDER BY subject`, subjects);
    },
    async clearSignInFailures(subject: string): Promise<void> {
      await sql.run('DELETE FROM sign_in_throttle WHERE subject = ?', [subject]);
    },
  };
}

const SESSIONS = table<SessionRow>('sessions', {
  id: text('id'),
  tokenHash: text('token_hash'),
  userId: text('user_id'),
  createdAt: time('created_at'),
  lastSeenAt: time('last_seen_at'),
  idleTimeoutSeconds: num('idle_timeout_seconds'),
  idleExpiresAt: time('idle_expires_at'),
  expiresAt: time('expires_at'),
  client: textOrNull('client'),
  authMethod: text('auth_method'),
  matchGrade: textOrNull('match_grade'),
  matchScore: numOrNull('match_score'),
});

const SIGN_IN_THROTTLE = table<SignInThrottleRow>('sign_in_throttle', {
  subject: text('subject'),
  failures: num('failures'),
  lastFailureAt: time('last_failure_at'),
  blockedUntil: timeOrNull('blocked_until'),
});
