import type { SqlExecutor } from '../sql.js';
import { json, table, text, textOrNull, time, timeOrNull } from './columns.js';

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
    insertAccountRequest: (row) => ACCOUNT_REQUESTS.insertRow(sql, row),
    getAccountRequest: (id) => ACCOUNT_REQUESTS.byId(sql, id),
    async listAccountRequests(status: AccountRequestStatus): Promise<AccountRequestRow[]> {
      return ACCOUNT_REQUESTS.all(sql, 'WHERE status = ? ORDER BY requested_at, id', [status]);
    },
    async decideAccountRequest(id: string, status: Exclude<AccountRequestStatus, 'pending'>, decidedBy: string, decidedAt: string): Promise<boolean> {
      return (await sql.run("UPDATE account_requests SET status = ?, decided_by = ?, decided_at = ? WHERE id = ? AND status = 'pending'", [status, decidedBy, decidedAt, id])) > 0;
    },
  };
}

const ACCOUNT_REQUESTS = table<AccountRequestRow>('account_requests', {
  id: text('id'),
  action: text<AccountRequestAction>('action'),
  username: text('username'),
  details: json<Record<string, unknown>>('details'),
  requestedBy: text('requested_by'),
  requestedAt: time('requested_at'),
  status: text<AccountRequestStatus>('status'),
  decidedBy: textOrNull('decided_by'),
  decidedAt: timeOrNull('decided_at'),
});
