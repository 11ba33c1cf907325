import { randomUUID } from 'node:crypto';
import { MedfaceError } from '../errors.js';
import type { MatchGrade } from '../identity/match.js';
import type { Repository, SessionRow, UserRow } from '../store/types.js';
import type { AccessContext } from './context.js';
import type { AuthMethod, Principal } from './policy.js';
import { hashToken, looksLikeToken, newToken } from './tokens.js';
import { principalOf, toAccount, type UserAccount } from './users.js';

/**
 * Sessions: an opaque random token for the client (an http-only, SameSite cookie on the web), only its
 * hash in the store so every node can resume it. A session ends when unused for the idle timeout
 * (automatic logoff), at its absolute lifetime, at sign-out, or when its account is disabled.
 */

/** How identity was established for the session: shown with every record view. */
export interface IdentityEstablished {
  method: AuthMethod;
  at: string;
  /** The face match grade and score when a face was one of the factors. */
  matchGrade: MatchGrade | null;
  matchScore: number | null;
}

export interface Session {
  id: string;
  userId: string;
  client: string | null;
  lastSeenAt: string;
  idleExpiresAt: string;
  expiresAt: string;
  established: IdentityEstablished;
}

function toSession(row: SessionRow): Session {
  return {
    id: row.id,
    userId: row.userId,
    client: row.client,
    lastSeenAt: row.lastSeenAt,
    idleExpiresAt: row.idleExpiresAt,
    expiresAt: row.expiresAt,
    established: {
      method: row.authMethod as AuthMethod,
      at: row.createdAt,
      matchGrade: row.matchGrade as MatchGrade | null,
      matchScore: row.matchScore,
    },
  };
}

function idleExpiry(now: Date, idleSeconds: number, expiresAt: string): string {
  const idle = new Date(now.getTime() + idleSeconds * 1000).toISOString();
  return idle < expiresAt ? idle : expiresAt;
}

/** Starts a session inside the sign-in's transaction; the token is returned once and never stored. */
export async function startSession(ctx: AccessContext, tx: Repository, user: UserRow, how: Omit<IdentityEstablished, 'at'>, client: string | null): Promise<{ token: string; session: Session }> {
  const now = ctx.now();
  const { idleTimeoutMs, absoluteLifetimeMs } = ctx.settings.sessions;
  const idleTimeoutSeconds = Math.max(1, Math.round(idleTimeoutMs / 1000));
  const expiresAt = new Date(now.getTime() + absoluteLifetimeMs).toISOString();
  const { token, hash } = newToken('session');
  const row: SessionRow = {
    id: randomUUID(),
    tokenHash: hash,
    userId: user.id,
    createdAt: now.toISOString(),
    lastSeenAt: now.toISOString(),
    idleTimeoutSeconds,
    idleExpiresAt: idleExpiry(now, idleTimeoutSeconds, expiresAt),
    expiresAt,
    client,
    authMethod: how.method,
    matchGrade: how.matchGrade,
    matchScore: how.matchScore,
  };
  await tx.insertSession(row);
  return { token, session: toSession(row) };
}

export interface ResumedSession {
  session: Session;
  user: UserAccount;
  principal: Principal;
}

const unauthenticated = (message: string) => new MedfaceError('UNAUTHENTICATED', message);

/**
 * The session a token belongs to, its idle expiry moved forward; UNAUTHENTICATED when there is none or it
 * has expired (an expired one is removed and its automatic logoff audited).
 */
export async function resumeSession(ctx: AccessContext, token: string): Promise<ResumedSession> {
  if (!looksLikeToken(token, 'session')) throw unauthenticated('no session');
  const now = ctx.now();
  const resumed = await ctx.store.transaction(async (tx) => {
    const row = await tx.getSessionByTokenHash(hashToken(token));
    if (!row) throw unauthenticated('no session');
    const user = await tx.getUser(row.userId);
    const ended = endReason(row, user, now.toISOString());
    if (ended !== null || !user) {
      await tx.deleteSession(row.id);
      await ctx.audit.append(tx, {
        actor: row.userId,
        client: row.client,
        action: 'session.expire',
        outcome: 'success',
        details: { sessionId: row.id, reason: ended ?? 'disabled' },
      });
      // Returned rather than thrown: the removal and its audit entry must commit.
      return null;
    }
    const idleExpiresAt = idleExpiry(now, row.idleTimeoutSeconds, row.expiresAt);
    await tx.touchSession(row.id, now.toISOString(), idleExpiresAt);
    const account = toAccount(user);
    return { session: toSession({ ...row, lastSeenAt: now.toISOString(), idleExpiresAt }), user: account, principal: principalOf(account, row.authMethod as AuthMethod) };
  });
  if (!resumed) throw unauthenticated('the session has expired');
  return resumed;
}

function endReason(row: SessionRow, user: UserRow | null, now: string): 'absolute' | 'idle' | 'disabled' | null {
  if (row.expiresAt <= now) return 'absolute';
  if (row.idleExpiresAt <= now) return 'idle';
  if (!user || user.disabledAt !== null) return 'disabled';
  return null;
}

/** Ends the token's session (nothing happens for an unknown or already ended one). */
export async function signOut(ctx: AccessContext, token: string): Promise<void> {
  if (!looksLikeToken(token, 'session')) return;
  await ctx.store.transaction(async (tx) => {
    const row = await tx.getSessionByTokenHash(hashToken(token));
    if (!row || !(await tx.deleteSession(row.id))) return;
    await ctx.audit.append(tx, { actor: row.userId, client: row.client, action: 'session.sign-out', outcome: 'success', details: { sessionId: row.id } });
  });
}

/** Ends every session of the token's account, on every device; returns how many ended. */
export async function signOutEverywhere(ctx: AccessContext, token: string): Promise<number> {
  const { user, session } = await resumeSession(ctx, token);
  return ctx.store.transaction(async (tx) => {
    const ended = await tx.deleteSessionsOfUser(user.id);
    await ctx.audit.append(tx, {
      actor: user.id,
      client: session.client,
      action: 'session.sign-out-everywhere',
      outcome: 'success',
      details: { sessionId: session.id, sessionsEnded: ended },
    });
    return ended;
  });
}

/** Removes sessions that expired without being resumed (housekeeping; a resume refuses them anyway). */
export async function purgeExpiredSessions(ctx: AccessContext): Promise<number> {
  return ctx.store.deleteExpiredSessions(ctx.now().toISOString());
}
