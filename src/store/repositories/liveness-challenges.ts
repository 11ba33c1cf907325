import type { SqlExecutor } from '../sql.js';
import { json, table, text, textOrNull, time, timeOrNull } from './columns.js';

/**
 * Active liveness challenges, each used at most once.
 */

/** An active liveness challenge as issued (src/services/biometrics/liveness.ts gives it meaning); used at most once. */
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
    insertLivenessChallenge: (row) => CHALLENGES.insertRow(sql, row),
    getLivenessChallenge: (id) => CHALLENGES.byId(sql, id),
    async consumeLivenessChallenge(id: string, at: string): Promise<boolean> {
      return (await sql.run('UPDATE liveness_challenges SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL', [at, id])) > 0;
    },
    async deleteLivenessChallengesBefore(before: string): Promise<number> {
      return sql.run('DELETE FROM liveness_challenges WHERE deadline < ?', [before]);
    },
  };
}

const CHALLENGES = table<LivenessChallengeRow>('liveness_challenges', {
  id: text('id'),
  nonce: text('nonce'),
  actions: json<string[]>('actions'),
  purpose: text('purpose'),
  subject: textOrNull('subject'),
  issuedAt: time('issued_at'),
  deadline: time('deadline'),
  consumedAt: timeOrNull('consumed_at'),
});
