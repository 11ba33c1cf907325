import { randomUUID } from 'node:crypto';
import { MedfaceError } from '../errors.js';
import type { Repository, UserRow } from '../store/types.js';
import type { AccessContext } from './context.js';
import { guard, recordRead, type Caller } from './guard.js';
import { accountSubject, clearFailures } from './lockout.js';
import { checkNewPassword, checkNewPin, generatePassword, hashSecret } from './passwords.js';
import { ROLES, type AuthMethod, type Principal, type Role } from './policy.js';
import { checkTotpParameters, DEFAULT_TOTP, generateTotpSecret, otpauthUri, type TotpParameters } from './totp.js';

/**
 * Accounts: staff with one or more roles, and patient accounts that are exactly one Patient. Every account
 * has a unique, never reused id (what the audit trail names) and a unique sign-in name. Every change is
 * authorised by the policy (`user.manage`) and written to the audit trail in the same transaction.
 */

export interface UserAccount {
  id: string;
  username: string;
  displayName: string | null;
  roles: Role[];
  patientId: string | null;
  createdAt: string;
  updatedAt: string;
  disabledAt: string | null;
}

const USERNAME = /^[a-z0-9][a-z0-9._@-]{1,63}$/;

/** Sign-in names compare case-insensitively (NFC, lower case, no surrounding blanks). */
export function normaliseUsername(name: string): string {
  return name.normalize('NFC').trim().toLowerCase();
}

function checkUsername(name: string): string {
  const username = normaliseUsername(name);
  if (!USERNAME.test(username)) {
    throw new MedfaceError('VALIDATION_FAILED', 'a username has 2-64 characters: letters, digits and . _ @ -, starting with a letter or digit', {
      issues: [{ path: 'username', message: 'must be 2-64 of a-z 0-9 . _ @ -' }],
    });
  }
  return username;
}

function checkRoles(roles: readonly string[], patientId: string | null): Role[] {
  const unknown = roles.filter((r) => !(ROLES as readonly string[]).includes(r));
  const fail = (message: string): never => {
    throw new MedfaceError('VALIDATION_FAILED', message, { issues: [{ path: 'roles', message }] });
  };
  if (unknown.length > 0) fail(`unknown role ${unknown.join(', ')} (roles: ${ROLES.join(', ')})`);
  const unique = ROLES.filter((r) => roles.includes(r));
  if (unique.length === 0) fail('an account needs a role');
  if (unique.includes('patient') && unique.length > 1) fail('a patient account has no staff roles');
  if (unique.includes('patient') !== (patientId !== null)) fail('a patient account, and only a patient account, names its patient');
  return unique;
}

export function toAccount(row: UserRow): UserAccount {
  return { ...row, roles: ROLES.filter((r) => row.roles.includes(r)) };
}

/**
 * The policy's view of a signed-in account; `method` is how its session was established: face and date of
 * birth make a `limited` principal (no factor a photo and public facts cannot supply).
 */
export function principalOf(account: UserAccount, method?: AuthMethod): Principal {
  return { kind: 'user', id: account.id, roles: account.roles, patientId: account.patientId, ...(method === 'face+birth-date' && { limited: true }) };
}

export interface NewUser {
  username: string;
  displayName?: string | null;
  roles: readonly string[];
  /** A patient account's Patient. */
  patientId?: string | null;
  /** Staff: the first password (the user replaces it at first sign-in); generated when absent. */
  password?: string;
  /** Patients: a PIN as second factor instead of the date of birth. */
  pin?: string;
  /** Enrol TOTP now and return its otpauth:// URI. */
  totp?: boolean;
}

export interface CreatedUser {
  user: UserAccount;
  /** The generated first password: shown once, never stored in clear. */
  password?: string;
  /** The TOTP enrolment to scan: shown once. */
  totpUri?: string;
}

/**
 * Roles a signed-in administrator cannot grant alone (issue 15, finding 8): clinician and emergency open
 * clinical records; admin could approve the administrator's own requests. Through the server they are an
 * account request another administrator approves (approvals.ts); the console operator, who holds the
 * database and the key files anyway, grants them directly.
 */
export const ROLES_NEEDING_APPROVAL: readonly Role[] = ['clinician', 'emergency', 'admin'];

/** A signed-in administrator (not the console operator) changing what only two administrators may. */
export function needsSecondAdministrator(caller: Caller): boolean {
  return caller.principal.kind === 'user';
}

/** The checked sign-in name and roles of a new account, for a request or a creation. */
export function checkNewAccount(input: Pick<NewUser, 'username' | 'roles' | 'patientId'>): { username: string; roles: Role[] } {
  return { username: checkUsername(input.username), roles: checkRoles(input.roles, input.patientId ?? null) };
}

export async function createUser(ctx: AccessContext, caller: Caller, input: NewUser): Promise<CreatedUser> {
  await guard(ctx, caller, 'user.manage');
  const { roles } = checkNewAccount(input);
  if (needsSecondAdministrator(caller) && roles.some((r) => ROLES_NEEDING_APPROVAL.includes(r))) {
    throw new MedfaceError('FORBIDDEN', `granting ${ROLES_NEEDING_APPROVAL.join(', ')} needs a second administrator: request it, another administrator approves`);
  }
  return insertNewUser(ctx, caller, input);
}

/**
 * Creates the account (the caller is authorised and, where needed, the request approved); `alsoInTransaction`
 * runs in the same transaction first (an approval records its decision there).
 */
export async function insertNewUser(ctx: AccessContext, caller: Caller, input: NewUser, alsoInTransaction: (tx: Repository) => Promise<void> = async () => undefined): Promise<CreatedUser> {
  const username = checkUsername(input.username);
  const patientId = input.patientId ?? null;
  const roles = checkRoles(input.roles, patientId);
  const displayName = input.displayName?.trim() || null;
  const isPatient = roles.includes('patient');
  if (isPatient && input.password !== undefined) throw invalid('password', 'patients sign in with their face and a date of birth or PIN, not a password');
  if (!isPatient && input.pin !== undefined) throw invalid('pin', 'a PIN is a patient second factor');
  if (isPatient && input.totp) throw invalid('totp', 'TOTP is a staff second factor');

  const generated = !isPatient && input.password === undefined ? generatePassword() : undefined;
  const password = input.password ?? generated;
  if (input.password !== undefined) checkNewPassword(input.password);
  if (input.pin !== undefined) checkNewPin(input.pin);
  // Hashing is deliberately slow: done before the transaction, which holds the write lock.
  const passwordHash = password === undefined ? undefined : await hashSecret(password);
  const pinHash = input.pin === undefined ? undefined : await hashSecret(input.pin);

  const now = ctx.now().toISOString();
  const row: UserRow = { id: randomUUID(), username, displayName, roles, patientId, createdAt: now, updatedAt: now, disabledAt: null };
  const totp = input.totp ? newTotp(ctx, row) : undefined;
  await ctx.store.transaction(async (tx) => {
    await alsoInTransaction(tx);
    if (await tx.getUserByUsername(username)) throw new MedfaceError('CONFLICT', 'that username is taken', { field: 'username' });
    if (patientId !== null) {
      if (!(await tx.getPatient(patientId))) throw new MedfaceError('NOT_FOUND', 'no such patient', { patientId });
      if (await tx.getUserByPatientId(patientId)) throw new MedfaceError('CONFLICT', 'the patient already has an account', { field: 'patientId' });
    }
    await tx.insertUser(row);
    if (passwordHash !== undefined) await tx.setCredential({ userId: row.id, kind: 'password', hash: passwordHash, mustChange: true, updatedAt: now });
    if (pinHash !== undefined) await tx.setCredential({ userId: row.id, kind: 'pin', hash: pinHash, mustChange: false, updatedAt: now });
    if (totp) await tx.setTotp(totp.row);
    await ctx.audit.append(tx, {
      actor: caller.principal.id,
      client: caller.client ?? null,
      action: 'user.create',
      outcome: 'success',
      patientId,
      details: { userId: row.id, roles, secondFactor: isPatient ? (pinHash ? 'pin' : 'birth-date') : totp ? 'totp' : 'none' },
    });
  });
  return { user: toAccount(row), ...(generated !== undefined && { password: generated }), ...(totp && { totpUri: totp.uri }) };
}

export function invalid(path: string, message: string): MedfaceError {
  return new MedfaceError('VALIDATION_FAILED', message, { issues: [{ path, message }] });
}

export function newTotp(ctx: AccessContext, user: UserRow, p: TotpParameters = DEFAULT_TOTP) {
  checkTotpParameters(p);
  const secret = generateTotpSecret(p.algorithm);
  return {
    row: {
      userId: user.id,
      sealedSecret: ctx.secrets.seal(secret, user.id),
      algorithm: p.algorithm,
      digits: p.digits,
      period: p.period,
      lastStep: null,
      createdAt: ctx.now().toISOString(),
    },
    uri: otpauthUri(ctx.settings.totpIssuer, user.username, secret, p),
  };
}

/** The account with that sign-in name; NOT_FOUND otherwise. */
export async function accountByName(repo: Repository, username: string): Promise<UserRow> {
  const row = await repo.getUserByUsername(normaliseUsername(username));
  if (!row) throw new MedfaceError('NOT_FOUND', 'no such user');
  return row;
}

/** Enrols (or replaces) the account's TOTP; returns the otpauth:// URI, to be shown once to its owner. */
export async function enrolTotp(ctx: AccessContext, caller: Caller, username: string): Promise<{ user: UserAccount; totpUri: string }> {
  await guard(ctx, caller, 'user.manage');
  return ctx.store.transaction(async (tx) => {
    const row = await accountByName(tx, username);
    refuseTakeover(caller, row);
    if (row.roles.includes('patient')) throw invalid('totp', 'TOTP is a staff second factor');
    const totp = newTotp(ctx, row);
    await tx.setTotp(totp.row);
    await audit(ctx, tx, caller, 'user.totp-enrol', row);
    return { user: toAccount(row), totpUri: totp.uri };
  });
}

/**
 * Disables an account: it can no longer sign in, every session it has ends now and its sign-in face is
 * deleted. The id stays taken (the audit trail names it) and the account can be enabled again.
 */
export async function disableUser(ctx: AccessContext, caller: Caller, username: string): Promise<{ user: UserAccount; sessionsEnded: number }> {
  await guard(ctx, caller, 'user.manage');
  return ctx.store.transaction(async (tx) => {
    const row = await accountByName(tx, username);
    if (row.disabledAt === null && row.roles.includes('admin')) await refuseLastAdministrator(tx, row);
    const now = ctx.now().toISOString();
    const updated: UserRow = row.disabledAt === null ? { ...row, disabledAt: now, updatedAt: now } : row;
    if (updated !== row) await tx.updateUser(updated);
    const sessionsEnded = await tx.deleteSessionsOfUser(row.id);
    // a sign-in face is biometric data kept only for signing in: it goes with the account's use
    const facesRemoved = await tx.deleteStaffTemplatesOfUser(row.id);
    await audit(ctx, tx, caller, 'user.disable', row, { sessionsEnded, facesRemoved });
    return { user: toAccount(updated), sessionsEnded };
  });
}

/** Nobody could manage accounts, keys or API clients any more, short of the command line on the server. */
async function refuseLastAdministrator(tx: Repository, row: UserRow): Promise<void> {
  const otherAdmins = (await tx.listUsers()).filter((u) => u.id !== row.id && u.disabledAt === null && u.roles.includes('admin'));
  if (otherAdmins.length === 0) {
    throw new MedfaceError('CONFLICT', `${row.username} is the last active administrator: enable or create another administrator first`);
  }
}

export async function enableUser(ctx: AccessContext, caller: Caller, username: string): Promise<UserAccount> {
  await guard(ctx, caller, 'user.manage');
  return ctx.store.transaction(async (tx) => {
    const row = await accountByName(tx, username);
    const updated: UserRow = { ...row, disabledAt: null, updatedAt: ctx.now().toISOString() };
    await tx.updateUser(updated);
    await audit(ctx, tx, caller, 'user.enable', row);
    return toAccount(updated);
  });
}

/**
 * Setting another account's password or TOTP through the server is taking it over: it needs a second
 * administrator (approvals.ts). The console operator, and an administrator on their own account, go ahead.
 */
export function refuseTakeover(caller: Caller, row: UserRow): void {
  if (needsSecondAdministrator(caller) && caller.principal.id !== row.id) {
    throw new MedfaceError('FORBIDDEN', "resetting another account's password or TOTP needs a second administrator: request it, another administrator approves");
  }
}

/**
 * Sets a new first password chosen by an administrator (generated when absent, and then returned once);
 * the user must replace it at the next sign-in. Ends the account's sessions and lifts its lockout.
 */
export async function resetPassword(ctx: AccessContext, caller: Caller, username: string, password?: string): Promise<{ user: UserAccount; password?: string; sessionsEnded: number }> {
  await guard(ctx, caller, 'user.manage');
  if (password !== undefined) checkNewPassword(password);
  const generated = password === undefined ? generatePassword() : undefined;
  const hash = await hashSecret(password ?? (generated as string));
  return ctx.store.transaction(async (tx) => {
    const row = await accountByName(tx, username);
    refuseTakeover(caller, row);
    if (row.roles.includes('patient')) throw invalid('password', 'patients have no password');
    await tx.setCredential({ userId: row.id, kind: 'password', hash, mustChange: true, updatedAt: ctx.now().toISOString() });
    const sessionsEnded = await tx.deleteSessionsOfUser(row.id);
    await clearFailures(tx, accountSubject(row.username));
    await audit(ctx, tx, caller, 'user.password-reset', row, { sessionsEnded });
    return { user: toAccount(row), ...(generated !== undefined && { password: generated }), sessionsEnded };
  });
}

/** Lifts an account's sign-in delay or lockout before it runs out. */
export async function unlockUser(ctx: AccessContext, caller: Caller, username: string): Promise<UserAccount> {
  await guard(ctx, caller, 'user.manage');
  return ctx.store.transaction(async (tx) => {
    const row = await accountByName(tx, username);
    await clearFailures(tx, accountSubject(row.username));
    await audit(ctx, tx, caller, 'user.unlock', row);
    return toAccount(row);
  });
}

export async function listUsers(ctx: AccessContext, caller: Caller): Promise<UserAccount[]> {
  await guard(ctx, caller, 'user.read');
  const accounts = (await ctx.store.listUsers()).map(toAccount);
  await recordRead(ctx, caller, 'user.list', { accounts: accounts.length, patientAccounts: accounts.filter((a) => a.patientId !== null).length });
  return accounts;
}

export function audit(ctx: AccessContext, tx: Repository, caller: Caller, action: string, row: UserRow, details: Record<string, unknown> = {}) {
  return ctx.audit.append(tx, {
    actor: caller.principal.id,
    client: caller.client ?? null,
    action,
    outcome: 'success',
    patientId: row.patientId,
    details: { userId: row.id, ...details },
  });
}
