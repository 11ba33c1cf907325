import { MedfaceError } from '../errors.js';
import type { Repository } from '../store/types.js';

/**
 * Growing delays and lockout after failed sign-ins, counted separately per account and per client address
 * (one guesses many passwords for one account, the other tries a few on many accounts). The counts live in
 * the store, so every node of a deployment sees the same ones, and are updated in single statements that
 * stay correct when nodes race.
 */

export interface ThrottlePolicy {
  /** Failures allowed before the first delay. */
  freeFailures: number;
  /** The delay after the first failure beyond the free ones; each further failure doubles it. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** At this many failures the subject is locked out for `lockoutMs`. */
  lockAfter: number;
  lockoutMs: number;
  /** A failure this long after the previous one counts from one again. */
  forgetAfterMs: number;
}

export interface ThrottleSettings {
  account: ThrottlePolicy;
  address: ThrottlePolicy;
  /** Unknown or revoked API keys from one address: they throttle further bogus keys, never a valid key or a sign-in. */
  apiKey: ThrottlePolicy;
  /**
   * A patient's portal sign-ins from one address, counted when the face found the patient's account. Silent:
   * while it blocks, an attempt fails like a wrong second factor (no delay, no lockout shows), so the answer
   * never tells an enrolled face from a stranger's; and it blocks that address only, so one address's failures
   * cannot lock the patient out everywhere.
   */
  patient: ThrottlePolicy;
}

const MINUTE = 60_000;

/**
 * An account is locked for half an hour at its 10th failure in a row (a person mistypes a few times; a
 * guesser needs thousands). An address is shared by a whole clinic behind one router, so it gets ten times
 * the room before delays and lockout.
 */
export const DEFAULT_THROTTLE: ThrottleSettings = {
  account: { freeFailures: 3, baseDelayMs: 1_000, maxDelayMs: MINUTE, lockAfter: 10, lockoutMs: 30 * MINUTE, forgetAfterMs: 30 * MINUTE },
  address: { freeFailures: 30, baseDelayMs: 1_000, maxDelayMs: MINUTE, lockAfter: 100, lockoutMs: 30 * MINUTE, forgetAfterMs: 30 * MINUTE },
  apiKey: { freeFailures: 30, baseDelayMs: 1_000, maxDelayMs: MINUTE, lockAfter: 100, lockoutMs: 30 * MINUTE, forgetAfterMs: 30 * MINUTE },
  patient: { freeFailures: 3, baseDelayMs: 1_000, maxDelayMs: MINUTE, lockAfter: 10, lockoutMs: 30 * MINUTE, forgetAfterMs: 30 * MINUTE },
};

/** The kinds whose blocks the client never sees (see ThrottleSettings.patient). */
export const SILENT_KINDS: ReadonlySet<ThrottleKind> = new Set(['patient']);

export type ThrottleKind = keyof ThrottleSettings;

export interface ThrottleSubject {
  kind: ThrottleKind;
  /** The stored key: `account:<username>`, `address:<client>`, `api-key:<client>` or `patient:<username>@<client>`. */
  key: string;
}

/**
 * Accounts are counted by the name typed, existing or not, so lockout behaves the same for every name and
 * does not reveal which accounts exist.
 */
export function accountSubject(username: string): ThrottleSubject {
  return { kind: 'account', key: `account:${wellFormed(username)}` };
}

export function addressSubject(client: string): ThrottleSubject {
  return { kind: 'address', key: `address:${wellFormed(client)}` };
}

/** A patient account's portal sign-ins from one client address (the address alone when it is unknown: `@`). */
export function patientSubject(username: string, client: string | null): ThrottleSubject {
  return { kind: 'patient', key: `patient:${wellFormed(username)}@${wellFormed(client ?? '')}` };
}

/**
 * Bogus API keys are counted apart from sign-in failures: a key is 256 random bits, which nobody guesses, so
 * a flood of bogus keys is noise to slow down, and must not lock its address (behind a proxy: every client)
 * out of sign-in.
 */
export function apiKeySubject(client: string): ThrottleSubject {
  return { kind: 'apiKey', key: `api-key:${wellFormed(client)}` };
}

/**
 * The key as the store will give it back: a lone surrogate cannot be stored as UTF-8 and comes back as U+FFFD,
 * and a key that reads back different from the one counted would match no subject.
 */
function wellFormed(text: string): string {
  return text.replace(/\p{Cs}/gu, '\uFFFD');
}

/** How long the subject is blocked after its `failures`-th failure; `locked` at the lockout threshold. */
export function blockAfter(failures: number, policy: ThrottlePolicy): { ms: number; locked: boolean } {
  if (failures >= policy.lockAfter) return { ms: policy.lockoutMs, locked: true };
  if (failures <= policy.freeFailures) return { ms: 0, locked: false };
  const doublings = failures - policy.freeFailures - 1;
  return { ms: Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** doublings), locked: false };
}

export interface Blocked {
  subject: ThrottleSubject;
  until: Date;
  /** Locked out (as opposed to a short delay). */
  locked: boolean;
}

/** The subject that blocks a sign-in attempt now (the one blocked longest), or null. */
export async function blockedNow(repo: Repository, subjects: readonly ThrottleSubject[], settings: ThrottleSettings, now: Date): Promise<Blocked | null> {
  const rows = await repo.getSignInThrottle(subjects.map((s) => s.key));
  let worst: Blocked | null = null;
  for (const row of rows) {
    if (row.blockedUntil === null) continue;
    const until = new Date(row.blockedUntil);
    if (until <= now || (worst && worst.until >= until)) continue;
    const subject = subjects.find((s) => s.key === row.subject) as ThrottleSubject;
    worst = { subject, until, locked: row.failures >= settings[subject.kind].lockAfter };
  }
  return worst;
}

export interface FailureCount {
  subject: ThrottleSubject;
  failures: number;
  /** Set when this failure blocks further attempts. */
  blockedUntil: Date | null;
  /** This failure locked the subject out (rather than delaying it). */
  lockedOut: boolean;
}

/** Counts a failed attempt against the subject and blocks it for the delay its count calls for. */
export async function recordFailure(repo: Repository, subject: ThrottleSubject, settings: ThrottleSettings, now: Date): Promise<FailureCount> {
  const policy = settings[subject.kind];
  const failures = await repo.recordSignInFailure(subject.key, now.toISOString(), new Date(now.getTime() - policy.forgetAfterMs).toISOString());
  const { ms, locked } = blockAfter(failures, policy);
  if (ms === 0) return { subject, failures, blockedUntil: null, lockedOut: false };
  const until = new Date(now.getTime() + ms);
  await repo.blockSignIn(subject.key, until.toISOString());
  return { subject, failures, blockedUntil: until, lockedOut: locked };
}

/** After a successful sign-in or an administrator's unlock: the account starts from zero again. */
export async function clearFailures(repo: Repository, subject: ThrottleSubject): Promise<void> {
  await repo.clearSignInFailures(subject.key);
}

/** The refusal while blocked: how long to wait (in the message too: "later" left people guessing), not why (which subject, delay or lockout). */
export function tooManyAttempts(until: Date, now: Date): MedfaceError {
  const retryAfterSeconds = Math.max(1, Math.ceil((until.getTime() - now.getTime()) / 1000));
  return new MedfaceError('TOO_MANY_ATTEMPTS', `too many failed attempts; try again in ${waitInWords(retryAfterSeconds)}`, { retryAfterSeconds });
}

/** A wait as people say it, rounded up: "40 seconds", "1 minute", "15 minutes", "2 hours". */
function waitInWords(seconds: number): string {
  const [amount, unit] = seconds < 60 ? [seconds, 'second'] : seconds < 3600 ? [Math.ceil(seconds / 60), 'minute'] : [Math.ceil(seconds / 3600), 'hour'];
  return `${amount} ${unit}${amount === 1 ? '' : 's'}`;
}
