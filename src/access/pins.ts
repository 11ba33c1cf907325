import { MedfaceError } from '../errors.js';
import type { UserRow } from '../store/types.js';
import type { AccessContext } from './context.js';
import { guard, type Caller } from './guard.js';
import { accountSubject, blockedNow, recordFailure, tooManyAttempts } from './lockout.js';
import { checkNewPin, hashSecret, verifySecret } from './passwords.js';

/**
 * A patient's own sign-in PIN. A patient without one signs in with their face and date of birth; once they
 * choose a PIN, the date of birth no longer lets them in (authenticate.ts), so a PIN protects a patient
 * whose birth date others know. Kept as an argon2id hash like a password.
 *
 * Changing a PIN needs the current one: a session left open on a shared computer must not be enough to
 * take over the account's second factor. A wrong current PIN counts against the account (delays, then a
 * lockout of PIN changes; the portal sign-in counts its own failures per account and address), and every
 * outcome is audited (`user.pin-set`, `user.pin-change`).
 */

export interface PinStatus {
  hasPin: boolean;
  /** When the PIN was last set, if there is one. */
  updatedAt: string | null;
}

export interface PinChange {
  /** Required when the account has a PIN already. */
  currentPin?: string;
  newPin: string;
}

export async function pinStatus(ctx: AccessContext, caller: Caller): Promise<PinStatus> {
  const user = await patientAccount(ctx, caller);
  const pin = await ctx.store.getCredential(user.id, 'pin');
  return { hasPin: pin !== null, updatedAt: pin?.updatedAt ?? null };
}

export async function setPin(ctx: AccessContext, caller: Caller, change: PinChange): Promise<PinStatus> {
  const user = await patientAccount(ctx, caller);
  checkNewPin(change.newPin);
  const now = ctx.now();
  const base = { actor: user.id, client: caller.client ?? null, patientId: user.patientId };
  const existing = await ctx.store.getCredential(user.id, 'pin');
  const action = existing ? 'user.pin-change' : 'user.pin-set';

  if (existing) {
    const subject = accountSubject(user.username);
    const blocked = await blockedNow(ctx.store, [subject], ctx.settings.throttle, now);
    if (blocked) {
      await ctx.audit.record(ctx.store, { ...base, action, outcome: 'denied', details: { userId: user.id, reason: 'locked-out' } });
      throw tooManyAttempts(blocked.until, now);
    }
    if (change.currentPin === undefined || !(await verifySecret(existing.hash, change.currentPin))) {
      const count = await ctx.store.transaction(async (tx) => {
        const c = await recordFailure(tx, subject, ctx.settings.throttle, now);
        await ctx.audit.append(tx, { ...base, action, outcome: 'failure', details: { userId: user.id, reason: 'current-pin', failures: c.failures } });
        if (c.lockedOut) {
          await ctx.audit.append(tx, {
            ...base,
            action: 'auth.lockout',
            outcome: 'success',
            details: { subject: c.subject.kind, failures: c.failures, until: (c.blockedUntil as Date).toISOString() },
          });
        }
        return c;
      });
      if (count.blockedUntil) throw tooManyAttempts(count.blockedUntil, now);
      throw invalid('currentPin', change.currentPin === undefined ? 'give the current PIN to change it' : 'that is not the current PIN');
    }
    if (change.newPin === change.currentPin) throw invalid('newPin', 'the new PIN must differ from the current one');
  }

  // Hashing is deliberately slow: done before the transaction, which holds the write lock.
  const hash = await hashSecret(change.newPin);
  const updatedAt = now.toISOString();
  await ctx.store.transaction(async (tx) => {
    await tx.setCredential({ userId: user.id, kind: 'pin', hash, mustChange: false, updatedAt });
    await ctx.audit.append(tx, { ...base, action, outcome: 'success', details: { userId: user.id } });
  });
  return { hasPin: true, updatedAt };
}

/** The caller's own patient account, once the policy allows it to manage its PIN. */
async function patientAccount(ctx: AccessContext, caller: Caller): Promise<UserRow & { patientId: string }> {
  const patientId = caller.principal.kind === 'user' ? caller.principal.patientId : null;
  await guard(ctx, caller, 'patient.manage-pin', { patientId });
  const user = await ctx.store.getUser(caller.principal.id);
  // the policy allowed a patient principal on its own patient: the account exists unless deleted meanwhile
  if (!user || user.patientId === null) throw new MedfaceError('UNAUTHENTICATED', 'sign in first');
  return user as UserRow & { patientId: string };
}

function invalid(path: string, message: string): MedfaceError {
  return new MedfaceError('VALIDATION_FAILED', message, { issues: [{ path, message }] });
}
