import { MedfaceError } from '../errors.js';
import type { UserRow } from '../store/types.js';
import type { AccessContext } from './context.js';
import { guard, type Caller } from './guard.js';
import { accountSubject, blockedNow, clearFailures, recordFailure, tooManyAttempts } from './lockout.js';
import { checkNewPassword, hashSecret, verifySecret } from './passwords.js';
import { startSession, type Session } from './sessions.js';

/**
 * Self-service for a signed-in staff member (`account.manage-own`): changing their own password. Patients
 * have no password. An administrator's reset is `resetPassword` in users.ts.
 */

export interface PasswordChange {
  currentPassword: string;
  newPassword: string;
}

/** The signed-in staff account behind a caller, after the policy allowed `account.manage-own`. */
export async function ownAccount(ctx: AccessContext, caller: Caller): Promise<UserRow> {
  await guard(ctx, caller, 'account.manage-own');
  const user = await ctx.store.getUser(caller.principal.id);
  if (!user || user.disabledAt !== null) throw new MedfaceError('UNAUTHENTICATED', 'no such account');
  return user;
}

/**
 * Changes the caller's own password: the current one is required (a wrong one counts as a sign-in failure
 * against the account, so an unattended session cannot be used to guess it), the new one follows the
 * password policy and differs from the current one. Every session of the account ends, on every device;
 * the caller gets a fresh session with the same established identity (a new token: the old one is dead).
 */
export async function changeOwnPassword(ctx: AccessContext, caller: Caller, current: Session, change: PasswordChange): Promise<{ token: string; session: Session; sessionsEnded: number }> {
  const user = await ownAccount(ctx, caller);
  const now = ctx.now();
  const subject = accountSubject(user.username);
  const base = { actor: user.id, client: caller.client ?? null, action: 'user.password-change' };
  const blocked = await blockedNow(ctx.store, [subject], ctx.settings.throttle, now);
  if (blocked) {
    await ctx.audit.record(ctx.store, { ...base, outcome: 'denied', details: { userId: user.id, reason: 'locked-out' } });
    throw tooManyAttempts(blocked.until, now);
  }
  const credential = await ctx.store.getCredential(user.id, 'password');
  if (!credential || !(await verifySecret(credential.hash, change.currentPassword))) {
    const count = await ctx.store.transaction(async (tx) => {
      const failure = await recordFailure(tx, subject, ctx.settings.throttle, now);
      await ctx.audit.append(tx, { ...base, outcome: 'failure', details: { userId: user.id, reason: 'password', failures: failure.failures } });
      if (failure.lockedOut) {
        const until = (failure.blockedUntil as Date).toISOString();
        await ctx.audit.append(tx, { ...base, action: 'auth.lockout', outcome: 'success', details: { subject: 'account', failures: failure.failures, until } });
      }
      return failure;
    });
    if (count.blockedUntil) throw tooManyAttempts(count.blockedUntil, now);
    throw invalid('currentPassword', 'the current password is not right');
  }
  try {
    checkNewPassword(change.newPassword);
  } catch (e) {
    throw e instanceof MedfaceError ? invalid('newPassword', e.message) : e;
  }
  if (change.newPassword.normalize('NFC') === change.currentPassword.normalize('NFC')) throw invalid('newPassword', 'the new password must differ from the current one');
  const hash = await hashSecret(change.newPassword);

  return ctx.store.transaction(async (tx) => {
    await tx.setCredential({ ...credential, hash, mustChange: false, updatedAt: now.toISOString() });
    const ended = await tx.deleteSessionsOfUser(user.id);
    await clearFailures(tx, subject);
    const { method, matchGrade, matchScore } = current.established;
    const fresh = await startSession(ctx, tx, user, { method, matchGrade, matchScore }, caller.client ?? null);
    // the caller's own session was among those ended; it lives on only as the fresh one
    const sessionsEnded = Math.max(0, ended - 1);
    await ctx.audit.append(tx, { ...base, outcome: 'success', details: { userId: user.id, sessionsEnded, sessionId: fresh.session.id } });
    return { ...fresh, sessionsEnded };
  });
}

function invalid(path: string, message: string): MedfaceError {
  return new MedfaceError('VALIDATION_FAILED', message, { issues: [{ path, message }] });
}
