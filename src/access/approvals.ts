import { randomUUID } from 'node:crypto';
import { MedfaceError } from '../errors.js';
import type { AccountRequestAction, AccountRequestRow, Repository, UserRow } from '../store/types.js';
import type { AccessContext } from './context.js';
import { guard, recordRead, type Caller } from './guard.js';
import { accountSubject, clearFailures } from './lockout.js';
import { generatePassword, hashSecret } from './passwords.js';
import {
  accountByName,
  audit,
  checkNewAccount,
  createUser,
  enrolTotp,
  insertNewUser,
  invalid,
  needsSecondAdministrator,
  resetPassword,
  ROLES_NEEDING_APPROVAL,
  toAccount,
  type CreatedUser,
  type NewUser,
  type UserAccount,
} from './users.js';

/**
 * The two-administrator rule (issue 15, finding 8): through the server, one administrator alone can neither
 * grant a role that opens clinical records (or the admin role, which could approve), nor take over another
 * account by resetting its password or TOTP. Such a change is an account request; a different administrator
 * approves it (or either rejects it), and the approval does it. No secret is kept in a request: the first
 * or temporary password is generated at approval and shown to the approver once, and the account has no
 * TOTP — the user enrols their own at the first sign-in (authenticate.ts), so neither administrator ever
 * holds the second factor. The console operator (`medface user …`), who holds the database and the key
 * files, is not asked for a second approval: a fresh install's first administrator creates the second
 * administrator there (docs/security.md).
 */

export type AccountRequest = AccountRequestRow;

/** A change done at once, or requested for a second administrator. */
export type AccountChange<T> = { done: T } | { request: AccountRequest };

/** Creates the account, or — for a role in ROLES_NEEDING_APPROVAL granted by a signed-in administrator — requests it. */
export async function createOrRequestUser(ctx: AccessContext, caller: Caller, input: NewUser): Promise<AccountChange<CreatedUser>> {
  await guard(ctx, caller, 'user.manage');
  const { username, roles } = checkNewAccount(input);
  if (!needsSecondAdministrator(caller) || !roles.some((r) => ROLES_NEEDING_APPROVAL.includes(r))) return { done: await createUser(ctx, caller, input) };
  if (input.password !== undefined) throw invalid('password', 'the first password is generated when another administrator approves, and shown to them');
  if (input.totp) throw invalid('totp', 'the user enrols their own TOTP at the first sign-in');
  const displayName = input.displayName?.trim() || null;
  return ctx.store.transaction(async (tx) => {
    if (await tx.getUserByUsername(username)) throw new MedfaceError('CONFLICT', 'that username is taken', { field: 'username' });
    return { request: await newRequest(ctx, tx, caller, 'user.create', username, { roles, displayName }) };
  });
}

/** Resets another account's password (and TOTP) through a request; one's own, or the console operator, at once. */
export async function resetOrRequestPassword(ctx: AccessContext, caller: Caller, username: string, password?: string): Promise<AccountChange<Awaited<ReturnType<typeof resetPassword>>>> {
  return takeover(ctx, caller, username, 'user.password-reset', password, () => resetPassword(ctx, caller, username, password));
}

/** Replaces another account's TOTP through a request; one's own, or the console operator, at once. */
export async function enrolOrRequestTotp(ctx: AccessContext, caller: Caller, username: string): Promise<AccountChange<Awaited<ReturnType<typeof enrolTotp>>>> {
  return takeover(ctx, caller, username, 'user.totp-reset', undefined, () => enrolTotp(ctx, caller, username));
}

async function takeover<T>(ctx: AccessContext, caller: Caller, username: string, action: AccountRequestAction, password: string | undefined, now: () => Promise<T>): Promise<AccountChange<T>> {
  await guard(ctx, caller, 'user.manage');
  const target = await accountByName(ctx.store, username);
  if (!needsSecondAdministrator(caller) || target.id === caller.principal.id) return { done: await now() };
  if (target.roles.includes('patient')) throw invalid(action === 'user.totp-reset' ? 'totp' : 'password', 'patient accounts have no password or TOTP');
  if (password !== undefined) throw invalid('password', 'the temporary password is generated when another administrator approves, and shown to them');
  return ctx.store.transaction(async (tx) => ({ request: await newRequest(ctx, tx, caller, action, target.username, {}) }));
}

async function newRequest(ctx: AccessContext, tx: Repository, caller: Caller, action: AccountRequestAction, username: string, details: Record<string, unknown>): Promise<AccountRequest> {
  const row: AccountRequestRow = {
    id: randomUUID(),
    action,
    username,
    details,
    requestedBy: caller.principal.id,
    requestedAt: ctx.now().toISOString(),
    status: 'pending',
    decidedBy: null,
    decidedAt: null,
  };
  await tx.insertAccountRequest(row);
  await ctx.audit.append(tx, {
    actor: caller.principal.id,
    client: caller.client ?? null,
    action: 'user.request',
    outcome: 'success',
    details: { requestId: row.id, request: action, ...details },
  });
  return row;
}

export async function listAccountRequests(ctx: AccessContext, caller: Caller): Promise<AccountRequest[]> {
  await guard(ctx, caller, 'user.read');
  const requests = await ctx.store.listAccountRequests('pending');
  await recordRead(ctx, caller, 'user.request-list', { requests: requests.length });
  return requests;
}

/** What an approval did: the account, and the one-time password for the approver to hand over. */
export interface ApprovedRequest {
  request: AccountRequest;
  user: UserAccount;
  password: string;
  sessionsEnded: number;
}

/**
 * Approves a pending request and carries it out, in one transaction: a new account (generated first
 * password, no TOTP), or another account's reset (generated temporary password, TOTP removed, sessions
 * ended, lockout lifted). Its requester cannot approve it (FORBIDDEN).
 */
export async function approveAccountRequest(ctx: AccessContext, caller: Caller, id: string): Promise<ApprovedRequest> {
  await guard(ctx, caller, 'user.manage');
  const pending = await pendingRequest(ctx.store, id);
  if (pending.requestedBy === caller.principal.id) {
    throw new MedfaceError('FORBIDDEN', 'a request is approved by another administrator than the one who made it', { operation: 'user.approve' });
  }
  const password = generatePassword();
  if (pending.action === 'user.create') {
    const details = pending.details as { roles: string[]; displayName: string | null };
    // decided in the account's own transaction: carried out once, or not at all
    const created = await insertNewUser(ctx, caller, { username: pending.username, roles: details.roles, displayName: details.displayName, password }, (tx) =>
      decide(ctx, tx, caller, pending, 'approved'),
    );
    return { request: { ...pending, status: 'approved' }, user: created.user, password, sessionsEnded: 0 };
  }
  const hash = await hashSecret(password);
  return ctx.store.transaction(async (tx) => {
    await decide(ctx, tx, caller, pending, 'approved');
    const row: UserRow = await accountByName(tx, pending.username);
    await tx.setCredential({ userId: row.id, kind: 'password', hash, mustChange: true, updatedAt: ctx.now().toISOString() });
    await tx.deleteTotp(row.id);
    const sessionsEnded = await tx.deleteSessionsOfUser(row.id);
    await clearFailures(tx, accountSubject(row.username));
    await audit(ctx, tx, caller, pending.action, row, { requestId: pending.id, requestedBy: pending.requestedBy, sessionsEnded, totpRemoved: true });
    return { request: { ...pending, status: 'approved' as const }, user: toAccount(row), password, sessionsEnded };
  });
}

/** Rejects a pending request (its requester may withdraw it). */
export async function rejectAccountRequest(ctx: AccessContext, caller: Caller, id: string): Promise<AccountRequest> {
  await guard(ctx, caller, 'user.manage');
  const pending = await pendingRequest(ctx.store, id);
  await ctx.store.transaction((tx) => decide(ctx, tx, caller, pending, 'rejected'));
  return { ...pending, status: 'rejected', decidedBy: caller.principal.id };
}

async function pendingRequest(repo: Repository, id: string): Promise<AccountRequest> {
  const request = await repo.getAccountRequest(id);
  if (!request) throw new MedfaceError('NOT_FOUND', 'no such account request');
  if (request.status !== 'pending') throw decidedAlready();
  return request;
}

async function decide(ctx: AccessContext, tx: Repository, caller: Caller, request: AccountRequest, status: 'approved' | 'rejected'): Promise<void> {
  if (!(await tx.decideAccountRequest(request.id, status, caller.principal.id, ctx.now().toISOString()))) throw decidedAlready();
  await ctx.audit.append(tx, {
    actor: caller.principal.id,
    client: caller.client ?? null,
    action: status === 'approved' ? 'user.request-approve' : 'user.request-reject',
    outcome: 'success',
    details: { requestId: request.id, request: request.action, requestedBy: request.requestedBy },
  });
}

function decidedAlready(): MedfaceError {
  return new MedfaceError('CONFLICT', 'the request has been decided already');
}
