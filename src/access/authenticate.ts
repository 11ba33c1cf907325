import { isMedfaceError, MedfaceError } from '../errors.js';
import type { MatchGrade } from '../identity/match.js';
import type { CredentialRow, Repository, UserRow } from '../store/types.js';
import type { AccessContext } from './context.js';
import { accountSubject, addressSubject, blockedNow, clearFailures, patientSubject, recordFailure, SILENT_KINDS, tooManyAttempts, type FailureCount, type ThrottleSubject } from './lockout.js';
import { checkNewPassword, hashIsOutdated, hashSecret, verifyNothing, verifySecret } from './passwords.js';
import type { AuthMethod } from './policy.js';
import { startSession, type Session } from './sessions.js';
import { matchTotp, type TotpAlgorithm } from './totp.js';
import { newTotp, normaliseUsername, toAccount, type UserAccount } from './users.js';

/**
 * Multi-factor sign-in. Staff: password and TOTP, or password and face verification. Patients: face
 * identification and a second factor (their PIN when they have one, otherwise their date of birth).
 *
 * Every attempt is audited (`auth.sign-in`: success, failure with the reason, or denied while throttled),
 * every failure is counted against the account (for patients: the account from that address) and the client
 * address (lockout.ts), and a lockout is
 * audited as `auth.lockout`. A caller learns only "sign-in failed": not whether the account exists, is
 * disabled, or which factor was wrong; an unknown name costs the same password-hashing time as a known
 * one. Face work is done by functions the caller passes in: this module never sees an image.
 */

export interface SignInResult {
  /** The session token: hand it to the client once (an http-only cookie), never log it. */
  token: string;
  session: Session;
  user: UserAccount;
}

export interface PasswordSignIn {
  username: string;
  password: string;
  /**
   * A new password replacing this one as part of the sign-in. Required (PASSWORD_CHANGE_REQUIRED, after
   * every factor has been checked) when the current password was set by an administrator.
   */
  newPassword?: string;
  /** The client address or kiosk id, counted and audited. */
  client: string | null;
}

export interface FaceMatch {
  /** The score reaches the calibrated operating threshold. */
  match: boolean;
  grade: MatchGrade;
  score: number;
}

/** Verifies the face captured at sign-in against the account's enrolled face (1:1). */
export type FaceVerifier = (user: UserAccount) => Promise<FaceMatch>;

/** A patient the capture identified (1:N): at or above the identification threshold. */
export interface FaceCandidate {
  patientId: string;
  grade: MatchGrade;
  score: number;
}

/** Identifies the patient in the capture (1:N): every candidate at or above the threshold, best first (at most PATIENT_CANDIDATES are checked). */
export type FaceIdentifier = () => Promise<FaceCandidate[]>;

/**
 * Candidates whose second factor a patient sign-in checks. The face narrows the gallery to these; the
 * second factor picks the patient among them, so a wrong patient ranked first does not hide the right one.
 */
export const PATIENT_CANDIDATES = 3;

/** The patient's date of birth as recorded (YYYY-MM-DD, or a partial date), or null. */
export type BirthDateLookup = (patientId: string) => Promise<string | null>;

export type PatientSecondFactor = { kind: 'birth-date'; value: string } | { kind: 'pin'; value: string };

/** Longest sign-in name kept as a throttle key; longer typed names are cut (they can match no account anyway). */
const MAX_SUBJECT_NAME = 128;

/**
 * Password and TOTP. The first sign-in after an administrator set the password (a new account, or an
 * approved reset, both of which leave no TOTP) is where the user enrols their own: sent with an empty code,
 * it answers TOTP_ENROLMENT_REQUIRED with a new otpauth URI (again on a repeat, until the first sign-in
 * succeeds), and the sign-in with a code from it and the new password completes the enrolment.
 */
export async function signInWithTotp(ctx: AccessContext, request: PasswordSignIn & { code: string }): Promise<SignInResult> {
  return staffSignIn(ctx, request, 'password+totp', async (user, credential) => {
    const enrolment = await ctx.store.getTotp(user.id);
    if (request.code.trim() === '' && credential.mustChange && (enrolment === null || enrolment.lastStep === null)) {
      const totp = newTotp(ctx, user);
      await ctx.store.setTotp(totp.row);
      return {
        ok: false,
        reason: 'totp-enrolment-required',
        error: new MedfaceError('TOTP_ENROLMENT_REQUIRED', 'enrol your own TOTP: scan totpUri into an authenticator app, then sign in with its code and a new password', {
          totpUri: totp.uri,
        }),
      };
    }
    if (!enrolment) return { ok: false, reason: 'no-totp' };
    const secret = ctx.secrets.open(enrolment.sealedSecret, user.id);
    const params = { algorithm: enrolment.algorithm as TotpAlgorithm, digits: enrolment.digits, period: enrolment.period };
    const step = matchTotp(secret, request.code.trim(), ctx.now(), params, enrolment.lastStep);
    if (step === null) {
      const replayed = enrolment.lastStep !== null && matchTotp(secret, request.code.trim(), ctx.now(), params, null) !== null;
      return { ok: false, reason: replayed ? 'totp-replay' : 'totp' };
    }
    // The step is taken in the session's transaction: of two sign-ins racing with one code, one commits.
    return { ok: true, matchGrade: null, matchScore: null, claim: (tx) => tx.useTotpStep(user.id, step), claimFailure: 'totp-replay' };
  });
}

export async function signInWithFace(ctx: AccessContext, request: PasswordSignIn, verifyFace: FaceVerifier): Promise<SignInResult> {
  return staffSignIn(ctx, request, 'password+face', async (user) => {
    let result: FaceMatch;
    try {
      result = await verifyFace(toAccount(user));
    } catch (e) {
      // After a correct password a specific face error would tell a guesser the password was right.
      if (isMedfaceError(e)) return { ok: false, reason: 'face-error', details: { code: e.code } };
      throw e;
    }
    const details = { grade: result.grade, score: roundScore(result.score) };
    return result.match ? { ok: true, matchGrade: result.grade, matchScore: result.score } : { ok: false, reason: 'face', details };
  });
}

/**
 * Patient sign-in: the face narrows the gallery to the candidates at or above the 1:N threshold, and the
 * second factor is the filter that picks the patient among them (their PIN when they have one, otherwise
 * their date of birth): exactly one candidate must pass it. Errors from the face step itself (no face, poor
 * quality) are returned as they are so the patient can try again, and are audited but not counted (the
 * face is the first factor: they reveal nothing).
 *
 * Every other failure is the same SIGN_IN_FAILED, whichever candidate failed and why, and whether the face
 * matched anyone at all: a caller must not learn that a face is enrolled (a membership oracle). The client
 * address's delays and lockout are the only ones a client sees — the same for a stranger's face as for a
 * patient's. A failure also counts, silently, against each candidate's account from that address
 * (`patient:<username>@<client>`): once that blocks, the candidate is passed over like a wrong factor, from
 * that address only — so guessing a patient's date of birth from one address stops after a few tries, and
 * one address cannot lock the patient out elsewhere. A PIN is checked against PATIENT_CANDIDATES hashes every
 * time (dummies standing in for candidates that are missing or have no PIN) so the hashing time does not
 * count them. The audit entry names each candidate by pseudonym with its result.
 */
export async function signInPatient(
  ctx: AccessContext,
  request: { secondFactor: PatientSecondFactor; client: string | null },
  identifyFace: FaceIdentifier,
  birthDateOf: BirthDateLookup,
): Promise<SignInResult> {
  const now = ctx.now();
  const method: AuthMethod = request.secondFactor.kind === 'pin' ? 'face+pin' : 'face+birth-date';
  const attempt: Attempt = { method, client: request.client, actor: 'anonymous', patientId: null, subjects: addressOf(request.client) };
  await refuseIfBlocked(ctx, attempt, now);

  let candidates: FaceCandidate[];
  try {
    candidates = (await identifyFace()).slice(0, PATIENT_CANDIDATES);
  } catch (e) {
    // a failed liveness check is told as such (it depends on the frames only, never on who is enrolled) but
    // counted against the address, so the answer cannot be used to tune a spoof without limit
    if (isMedfaceError(e)) return failed(ctx, attempt, now, 'face-error', { code: e.code }, { count: e.code === 'LIVENESS_FAILED', error: e });
    throw e;
  }
  const checked = await checkPatientFactor(ctx, candidates, request, birthDateOf, now);
  const audited = checked.map((c) => ({ patientRef: ctx.audit.patientRef(c.patientId), grade: c.grade, score: roundScore(c.score), result: c.result }));
  const confirmed = checked.filter((c) => c.result === 'confirmed');
  if (confirmed.length === 1) {
    const { user, grade, score } = confirmed[0]!;
    attempt.actor = user!.id;
    attempt.patientId = confirmed[0]!.patientId;
    return succeed(ctx, attempt, user!, { matchGrade: grade, matchScore: score });
  }
  attempt.patientId = checked[0]?.patientId ?? null;
  const results = new Set(checked.map((c) => c.result));
  const reason = checked.length === 0 ? 'face-no-match' : confirmed.length > 1 ? 'ambiguous' : results.size === 1 ? checked[0]!.result : 'second-factor';
  const guessedAt = checked.filter((c) => c.user && c.result !== 'locked-out' && c.result !== 'confirmed').map((c) => patientSubject(c.user!.username, request.client));
  return failed(ctx, attempt, now, reason, checked.length > 0 ? { candidates: audited } : {}, { unreported: guessedAt });
}

type CandidateResult = 'confirmed' | 'no-account' | 'disabled' | 'locked-out' | 'pin-required' | 'pin' | 'birth-date';

/** Each candidate's account and whether the second factor confirms it; a PIN always costs PATIENT_CANDIDATES hash checks. */
async function checkPatientFactor(
  ctx: AccessContext,
  candidates: readonly FaceCandidate[],
  { secondFactor: factor, client }: { secondFactor: PatientSecondFactor; client: string | null },
  birthDateOf: BirthDateLookup,
  now: Date,
): Promise<(FaceCandidate & { user: UserRow | null; result: CandidateResult })[]> {
  const checked: (FaceCandidate & { user: UserRow | null; result: CandidateResult })[] = [];
  let hashesChecked = 0;
  for (const candidate of candidates) {
    const user = await ctx.store.getUserByPatientId(candidate.patientId);
    const result = async (): Promise<CandidateResult> => {
      if (!user) return 'no-account';
      if (user.disabledAt !== null) return 'disabled';
      if (await blockedNow(ctx.store, [patientSubject(user.username, client)], ctx.settings.throttle, now)) return 'locked-out';
      const pin = await ctx.store.getCredential(user.id, 'pin');
      // A patient who chose a PIN is not let in with the (much easier to find out) date of birth.
      if (pin && factor.kind !== 'pin') return 'pin-required';
      if (factor.kind === 'pin') {
        if (!pin) return 'pin';
        hashesChecked++;
        return (await verifySecret(pin.hash, factor.value)) ? 'confirmed' : 'pin';
      }
      return sameBirthDate(await birthDateOf(candidate.patientId), factor.value) ? 'confirmed' : 'birth-date';
    };
    checked.push({ ...candidate, user, result: await result() });
  }
  if (factor.kind === 'pin') for (; hashesChecked < PATIENT_CANDIDATES; hashesChecked++) await verifyNothing(factor.value);
  return checked;
}

/** Only a full recorded date can confirm identity; a partial one (1980, 1980-05) would be too easy to hit. */
function sameBirthDate(recorded: string | null, typed: string): boolean {
  return recorded !== null && /^\d{4}-\d{2}-\d{2}$/.test(recorded) && recorded === typed.trim();
}

type SecondFactor =
  | {
      ok: true;
      matchGrade: MatchGrade | null;
      matchScore: number | null;
      /** A one-time claim made inside the session's transaction; false means another sign-in used it first. */
      claim?: (tx: Repository) => Promise<boolean>;
      claimFailure?: string;
    }
  | { ok: false; reason: string; details?: Record<string, unknown>; /** Refused with this error, not counted (every factor given was right). */ error?: MedfaceError };

interface Attempt {
  method: AuthMethod;
  client: string | null;
  /** The account's user id once known, else 'anonymous' (a typed name is never logged: it may be a password). */
  actor: string;
  patientId: string | null;
  /** What a failure is counted against. */
  subjects: ThrottleSubject[];
}

async function staffSignIn(ctx: AccessContext, request: PasswordSignIn, method: AuthMethod, secondFactor: (user: UserRow, credential: CredentialRow) => Promise<SecondFactor>): Promise<SignInResult> {
  const now = ctx.now();
  const username = normaliseUsername(request.username).slice(0, MAX_SUBJECT_NAME);
  const attempt: Attempt = { method, client: request.client, actor: 'anonymous', patientId: null, subjects: [accountSubject(username), ...addressOf(request.client)] };
  await refuseIfBlocked(ctx, attempt, now);

  const user = await ctx.store.getUserByUsername(username);
  const credential = user ? await ctx.store.getCredential(user.id, 'password') : null;
  const passwordOk = credential ? await verifySecret(credential.hash, request.password) : await verifyNothing(request.password);
  if (!user) return failed(ctx, attempt, now, 'unknown-user');
  attempt.actor = user.id;
  if (!credential || !passwordOk) return failed(ctx, attempt, now, credential ? 'password' : 'no-password');
  if (user.disabledAt !== null) return failed(ctx, attempt, now, 'disabled');

  const second = await secondFactor(user, credential);
  if (!second.ok) return failed(ctx, attempt, now, second.reason, second.details, second.error ? { count: false, error: second.error } : {});

  let newHash: Awaited<ReturnType<typeof replacementHash>>;
  try {
    newHash = await replacementHash(credential, request);
  } catch (e) {
    if (!isMedfaceError(e)) throw e;
    // Every factor was right: not counted, but the refusal is audited and its own error returned.
    const reason = e.code === 'PASSWORD_CHANGE_REQUIRED' ? 'password-change-required' : 'new-password-rejected';
    return failed(ctx, attempt, now, reason, {}, { count: false, error: e });
  }
  try {
    return await succeed(ctx, attempt, user, second, async (tx) => {
      if (second.claim && !(await second.claim(tx))) throw new ClaimLost();
      if (newHash !== undefined) await tx.setCredential({ ...credential, hash: newHash.hash, mustChange: newHash.mustChange, updatedAt: now.toISOString() });
    });
  } catch (e) {
    if (e instanceof ClaimLost) return failed(ctx, attempt, now, second.claimFailure ?? 'claim-lost');
    throw e;
  }
}

class ClaimLost extends Error {}

/**
 * The hash to store with this sign-in, if any: the user's new password (required when an administrator set
 * the current one), or the current password again under today's cost when its hash is outdated.
 */
async function replacementHash(credential: CredentialRow, request: PasswordSignIn): Promise<{ hash: string; mustChange: boolean } | undefined> {
  if (request.newPassword === undefined) {
    if (credential.mustChange) {
      throw new MedfaceError('PASSWORD_CHANGE_REQUIRED', 'the password was set by an administrator: choose a new one to sign in');
    }
    return hashIsOutdated(credential.hash) ? { hash: await hashSecret(request.password), mustChange: false } : undefined;
  }
  checkNewPassword(request.newPassword);
  if (request.newPassword.normalize('NFC') === request.password.normalize('NFC')) {
    throw new MedfaceError('VALIDATION_FAILED', 'the new password must differ from the current one', {
      issues: [{ path: 'newPassword', message: 'must differ from the current password' }],
    });
  }
  return { hash: await hashSecret(request.newPassword), mustChange: false };
}

function addressOf(client: string | null): ThrottleSubject[] {
  return client === null ? [] : [addressSubject(client)];
}

function roundScore(score: number): number {
  return Math.round(score * 10_000) / 10_000;
}

async function refuseIfBlocked(ctx: AccessContext, attempt: Attempt, now: Date): Promise<void> {
  const blocked = await blockedNow(ctx.store, attempt.subjects, ctx.settings.throttle, now);
  if (!blocked) return;
  await ctx.audit.record(ctx.store, {
    actor: attempt.actor,
    client: attempt.client,
    action: 'auth.sign-in',
    outcome: 'denied',
    patientId: attempt.patientId,
    details: { method: attempt.method, reason: blocked.locked ? 'locked-out' : 'delayed', subject: blocked.subject.kind },
  });
  throw tooManyAttempts(blocked.until, now);
}

/**
 * Records a failed attempt — counted against its subjects and the `unreported` ones unless `count` is
 * false — with a lockout entry for each subject it locked out, then refuses: with `error` when given, else
 * SIGN_IN_FAILED (saying when to retry if the attempt's own subjects are now delayed; the delay of an
 * `unreported` subject, a candidate's account the caller was never told of, is not said).
 */
async function failed(
  ctx: AccessContext,
  attempt: Attempt,
  now: Date,
  reason: string,
  details: Record<string, unknown> = {},
  { count = true, error, unreported = [] }: { count?: boolean; error?: MedfaceError; unreported?: ThrottleSubject[] } = {},
): Promise<never> {
  const counts: FailureCount[] = [];
  const silent: FailureCount[] = [];
  await ctx.store.transaction(async (tx) => {
    if (count) for (const subject of attempt.subjects) counts.push(await recordFailure(tx, subject, ctx.settings.throttle, now));
    if (count) for (const subject of unreported) silent.push(await recordFailure(tx, subject, ctx.settings.throttle, now));
    const base = { actor: attempt.actor, client: attempt.client, patientId: attempt.patientId };
    const failures = Object.fromEntries(counts.map((c) => [c.subject.kind, c.failures]));
    await ctx.audit.append(tx, { ...base, action: 'auth.sign-in', outcome: 'failure', details: { method: attempt.method, reason, ...details, failures } });
    for (const c of [...counts, ...silent].filter((c) => c.lockedOut)) {
      await ctx.audit.append(tx, {
        ...base,
        action: 'auth.lockout',
        outcome: 'success',
        details: { subject: c.subject.kind, failures: c.failures, until: (c.blockedUntil as Date).toISOString() },
      });
    }
  });
  if (error) throw error;
  // the delay the client is told: silent subjects' blocks never show (see ThrottleSettings.patient)
  const until = counts.reduce<Date | null>((max, c) => (c.blockedUntil && !SILENT_KINDS.has(c.subject.kind) && (!max || c.blockedUntil > max) ? c.blockedUntil : max), null);
  throw new MedfaceError('SIGN_IN_FAILED', 'sign-in failed', until ? { retryAfterSeconds: Math.ceil((until.getTime() - now.getTime()) / 1000) } : undefined);
}

/** One transaction: the flow's own writes, the account's failure count reset, the session, the audit entry. */
async function succeed(
  ctx: AccessContext,
  attempt: Attempt,
  user: UserRow,
  how: { matchGrade: MatchGrade | null; matchScore: number | null },
  writes: (tx: Repository) => Promise<void> = async () => undefined,
): Promise<SignInResult> {
  return ctx.store.transaction(async (tx) => {
    await writes(tx);
    await clearFailures(tx, accountSubject(user.username));
    for (const subject of attempt.subjects.filter((s) => s.kind === 'patient')) await clearFailures(tx, subject);
    const { token, session } = await startSession(ctx, tx, user, { method: attempt.method, ...how }, attempt.client);
    await ctx.audit.append(tx, {
      actor: user.id,
      client: attempt.client,
      action: 'auth.sign-in',
      outcome: 'success',
      patientId: user.patientId,
      details: {
        method: attempt.method,
        sessionId: session.id,
        ...(how.matchGrade !== null && { grade: how.matchGrade }),
        ...(how.matchScore !== null && { score: roundScore(how.matchScore) }),
      },
    });
    return { token, session, user: toAccount(user) };
  });
}
