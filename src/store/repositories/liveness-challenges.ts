import type { SqlExecutor } from '../sql.js';
import { isoTime, isoTimeOrNull, jsonColumn } from '../sql.js';

/**
 * Active liveness challenges, each used at most once.
 */

/** An active liveness challenge as issued (src/services/liveness.ts gives it meaning); used at most once. */
export interface LivenessChallengeRow {
  id: string;
  nonce: string;
  /** The actions asked for, in order. */
  actions: string[];
  /** The flow it was issued for (check-in, portal sign-in, verify, telemedicine). */
  purpose: string;
  /** What it was issued for within that flow (a patient to verify), when the flow names one. */
  subject: string | null;
  issuedAt: string;
  deadline: string;
  consumedAt: string | null;
}

export interface LivenessChallengeRepository {
  insertLivenessChallenge(row: LivenessChallengeRow): Promise<void>;
  getLivenessChallenge(id: string): Promise<LivenessChallengeRow | null>;
  /** Marks the challenge used at `at` in one statement; false when there is no such challenge or it was used already. */
  consumeLivenessChallenge(id: string, at: string): Promise<boolean>;
  /** Deletes challenges whose deadline is before `before`; returns how many. */
  deleteLivenessChallengesBefore(before: string): Promise<number>;
}

export function livenessChallengeRepository(sql: SqlExecutor): LivenessChallengeRepository {
  return {
    async insertLivenessChallenge(row: LivenessChallengeRow): Promise<void> {
      await sql.run(`INSERT INTO liveness_challenges (${CHALLENGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, [
        row.id,
        row.nonce,
        JSON.stringify(row.actions),
        row.purpose,
        row.subject,
        row.issuedAt,
        row.deadline,
        row.consumedAt,
      ]);
    },
    async getLivenessChallenge(id: string): Promise<LivenessChallengeRow | null> {
      const rows = await sql.all<ChallengeDbRow>(`SELECT ${CHALLENGE_COLUMNS} FROM liveness_challenges WHERE id = ?`, [id]);
      return rows[0] ? challengeRow(rows[0]) : null;
    },
    async consumeLivenessChallenge(id: string, at: string): Promise<boolean> {
      return (await sql.run('UPDATE liveness_challenges SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL', [at, id])) > 0;
    },
    async deleteLivenessChallengesBefore(before: string): Promise<number> {
      return sql.run('DELETE FROM liveness_challenges WHERE deadline < ?', [before]);
    },
  };
}

const CHALLENGE_COLUMNS = 'id, nonce, actions, purpose, subject, issued_at, deadline, consumed_at';

interface ChallengeDbRow {
  id: string;
  nonce: string;
  actions: unknown;
  purpose: string;
  subject: string | null;
  issued_at: unknown;
  deadline: unknown;
  consumed_at: unknown;
}

function challengeRow(r: ChallengeDbRow): LivenessChallengeRow {
  return {
    id: r.id,
    nonce: r.nonce,
    actions: jsonColumn<string[]>(r.actions),
    purpose: r.purpose,
    subject: r.subject,
    issuedAt: isoTime(r.issued_at),
    deadline: isoTime(r.deadline),
    consumedAt: isoTimeOrNull(r.consumed_at),
  };
}
