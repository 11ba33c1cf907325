import type { SqlExecutor } from '../sql.js';
import { isoTime } from '../sql.js';

/**
 * Rate-limit counters shared by every node (src/server/rate-limit-store.ts).
 */

export interface RateLimitRepository {
  /**
   * Counts one request against `key` in one statement (safe when nodes race): a window that ended by `now`
   * starts again at one, ending at `windowEndsAt`. Returns the count and when the current window ends.
   */
  countRateLimitHit(key: string, now: string, windowEndsAt: string): Promise<{ hits: number; windowEndsAt: string }>;
  /** Deletes counters whose window ended before `before`; returns how many. */
  deleteRateLimitCountersBefore(before: string): Promise<number>;
}

export function rateLimitRepository(sql: SqlExecutor): RateLimitRepository {
  return {
    async countRateLimitHit(key: string, now: string, windowEndsAt: string): Promise<{ hits: number; windowEndsAt: string }> {
      const rows = await sql.all<{ hits: number | string; window_ends_at: unknown }>(
        `INSERT INTO rate_limit_counters (key, hits, window_ends_at) VALUES (?, 1, ?)
         ON CONFLICT (key) DO UPDATE SET
           hits = CASE WHEN rate_limit_counters.window_ends_at <= ? THEN 1 ELSE rate_limit_counters.hits + 1 END,
           window_ends_at = CASE WHEN rate_limit_counters.window_ends_at <= ? THEN excluded.window_ends_at ELSE rate_limit_counters.window_ends_at END
         RETURNING hits, window_ends_at`,
        [key, windowEndsAt, now, now],
      );
      const row = rows[0]!;
      return { hits: Number(row.hits), windowEndsAt: isoTime(row.window_ends_at) };
    },
    async deleteRateLimitCountersBefore(before: string): Promise<number> {
      return sql.run('DELETE FROM rate_limit_counters WHERE window_ends_at < ?', [before]);
    },
  };
}
