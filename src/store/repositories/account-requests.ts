import type { SqlExecutor } from '../sql.js';
import { isoTime, isoTimeOrNull, jsonColumn } from '../sql.js';

/**
 * Changes to accounts that wait for a second administrator (access/approvals.ts).
 */

export type AccountRequestAction = 'user.create' | 'user.password-reset' | 'user.totp-reset';

export type AccountRequestStatus = 'pending' | 'approved' | 'rejected';

/** A change to accounts that waits for a second administrator (access/approvals.ts). */
export interface AccountRequestRow {
  id: string;
  action: AccountRequestAction;
  /** The account it creates or changes. */
  username: string;
  /** What to do: for a creation, the roles and display name (never a secret). */
  details: Record<string, unknown>;
  requestedBy: string;
  requestedAt: string;
  status: AccountRequestStatus;
  decidedBy: string | null;
  decidedAt: string | null;
}

export interface AccountRequestRepository {
  insertAccountRequest(row: AccountRequestRow): Promise<void>;
  getAccountRequest(id: string): Promise<AccountRequestRow | null>;
  listAccountRequests(status: AccountRequestStatus): Promise<AccountRequestRow[]>;
  /** Records the decision on a pending request; false when it was decided already. */
  decideAccountRequest(id: string, status: Exclude<AccountRequestStatus, 'pending'>, decidedBy: string, decidedAt: string): Promise<boolean>;
}

export function accountRequestRepository(sql: SqlExecutor): AccountRequestRepository {
  return {
    async insertAccountRequest(row: AccountRequestRow): Promise<void> {
      await sql.run(
        `INSERT INTO account_requests (id, action, username, details, requested_by, requested_at, status, decided_by, decided_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [row.id, row.action, row.username, JSON.stringify(row.details), row.requestedBy, row.requestedAt, row.status, row.decidedBy, row.decidedAt],
      );
    },
    async getAccountRequest(id: string): Promise<AccountRequestRow | null> {
      const rows = await sql.all<AccountRequestDbRow>(`SELECT ${ACCOUNT_REQUEST_COLUMNS} FROM account_requests WHERE id = ?`, [id]);
      return rows[0] ? accountRequestRow(rows[0]) : null;
    },
    async listAccountRequests(status: AccountRequestStatus): Promise<AccountRequestRow[]> {
      const rows = await sql.all<AccountRequestDbRow>(`SELECT ${ACCOUNT_REQUEST_COLUMNS} FROM account_requests WHERE status = ? ORDER BY requested_at, id`, [status]);
      return rows.map(accountRequestRow);
    },
    async decideAccountRequest(id: string, status: Exclude<AccountRequestStatus, 'pending'>, decidedBy: string, decidedAt: string): Promise<boolean> {
      return (await sql.run("UPDATE account_requests SET status = ?, decided_by = ?, decided_at = ? WHERE id = ? AND status = 'pending'", [status, decidedBy, decidedAt, id])) > 0;
    },
  };
}

const ACCOUNT_REQUEST_COLUMNS = 'id, action, username, details, requested_by, requested_at, status, decided_by, decided_at';

interface AccountRequestDbRow {
  id: string;
  action: string;
  username: string;
  details: unknown;
  requested_by: string;
  requested_at: unknown;
  status: string;
  decided_by: string | null;
  decided_at: unknown;
}

function accountRequestRow(r: AccountRequestDbRow): AccountRequestRow {
  return {
    id: r.id,
    action: r.action as AccountRequestAction,
    username: r.username,
    details: jsonColumn<Record<string, unknown>>(r.details),
    requestedBy: r.requested_by,
    requestedAt: isoTime(r.requested_at),
    status: r.status as AccountRequestStatus,
    decidedBy: r.decided_by,
    decidedAt: isoTimeOrNull(r.decided_at),
  };
}
