import { createHash } from 'node:crypto';
import type { Caller } from '../../access/guard.js';
import { SecretBox } from '../../access/secret-box.js';
import { MedfaceError, isMedfaceError } from '../../errors.js';
import type { MatchGrade } from '../../identity/match.js';
import type { Medface } from '../context.js';
import { loadPseudonymKey, pseudonymKeyPath } from '../operations/pseudonym-key.js';
import type { LivenessAttempt } from '../biometrics/liveness.js';
import { notEnrolled, verify } from '../biometrics/verify.js';

/**
 * Telemedicine identity checks. An integrator (an API client with `verify:patient`) opens a check for a
 * patient and sends the patient a link; the patient verifies with their camera (1:1 against their enrolled
 * face); the integrator reads the result before the visit.
 *
 * The check id is the sealed check itself (AES-GCM under a key derived from the deployment's audit
 * pseudonym secret): it names the patient and the integrator without revealing them, cannot be forged, and
 * expires. Each verification is the verify use case's own audit entry, written with the integrator as the
 * actor and the check as the client: the trail is where the result is read from, so every node sees it
 * and nothing else stores it.
 *
 * A check is single-use: once the patient is verified, or after MAX_COMPARISONS captures that did not
 * match, the link is spent (CHECK_USED); after its expiry it is refused (CHECK_EXPIRED). Captures refused
 * for quality (no face, too dark) are not comparisons and do not use it up. Verifications with one check
 * are made one at a time in this process, so two requests racing with the same link cannot both be
 * compared after the last permitted one; two nodes could each make one more than that.
 */

export const DEFAULT_CHECK_MINUTES = 60;
export const MAX_CHECK_MINUTES = 7 * 24 * 60;
/** Captures that did not match before the link is spent: enough for a patient in bad light, few for an impostor. */
export const MAX_COMPARISONS = 3;
/** The patient's page in the web application; the check id follows in the fragment, which browsers never send. */
export const CHECK_PAGE = '/telemedicine';
const CONTEXT = 'telemedicine-check';

interface CheckClaims {
  /** The check's own id, as the audit entries name it. */
  id: string;
  patientId: string;
  /** The API client (or user) that opened it and alone reads its result. */
  openedBy: string;
  expiresAt: string;
}

export interface OpenedCheck {
  checkId: string;
  expiresAt: string;
  /** The patient's link, relative to the server's address. */
  link: string;
}

export type CheckStatus = 'pending' | 'verified' | 'not-verified';

export interface CheckResult {
  status: CheckStatus;
  expiresAt: string;
  /** Comparisons made with the check: `attempts + attemptsLeft` is the number allowed until it is verified or expires. */
  attempts: number;
  /** Comparisons the link still allows: 0 once verified, spent or expired. */
  attemptsLeft: number;
  /** Captures refused before any comparison (failed liveness, poor quality): they cost no attempt, so they are counted apart. */
  refusedCaptures: number;
  /** The deciding verification: the first match, or else the latest comparison made. */
  verification: { match: boolean; grade: MatchGrade; score: number; at: string } | null;
  /**
   * Always `required`: the frames come from the patient's device, so an injected video (frames rendered from
   * a photo) can pass the face and liveness checks; a `verified` check is a screening that the clinician
   * confirms by seeing the same face live on the video call before relying on it (docs/security.md).
   */
  clinicianConfirmation: 'required';
}

/** What the patient's page learns before opening the camera: whether the link can still be used. */
export interface LinkState {
  state: 'open' | 'verified' | 'spent' | 'expired';
  expiresAt: string;
  attemptsLeft: number;
}

/** Seals and opens check ids; built once per process. */
export class TelemedicineChecks {
  readonly #box: SecretBox;
  readonly #now: () => Date;
  /** The verification in progress per check id, so that one check's verifications run one after another. */
  readonly #running = new Map<string, Promise<unknown>>();

  private constructor(box: SecretBox, now: () => Date) {
    this.#box = box;
    this.#now = now;
  }

  /** `now`: the clock expiries are measured with (the access context's, which tests move). */
  static async forMedface(medface: Medface, now: () => Date = () => new Date()): Promise<TelemedicineChecks> {
    // The secret exists by now: starting Medface loaded or generated it.
    const { key } = await loadPseudonymKey(pseudonymKeyPath(medface.templates.keyFile), true);
    return new TelemedicineChecks(SecretBox.derive(key, 'telemedicine-checks/v1'), now);
  }

  /** Opens a check for a patient with an enrolled face (the caller has been authorised to verify them). */
  async open(medface: Medface, caller: Caller, patientId: string, minutes = DEFAULT_CHECK_MINUTES): Promise<OpenedCheck> {
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_CHECK_MINUTES) {
      throw new MedfaceError('VALIDATION_FAILED', `minutes must be a whole number from 1 to ${MAX_CHECK_MINUTES}`, {
        issues: [{ path: 'minutes', message: `must be from 1 to ${MAX_CHECK_MINUTES}` }],
      });
    }
    // an unknown patient and one without a face answer alike (issue 15 L7)
    if (!(await medface.store.getPatient(patientId)) || (await medface.store.countTemplates(patientId)) === 0) throw notEnrolled(patientId);
    const expiresAt = new Date(this.#now().getTime() + minutes * 60_000);
    const checkId = this.#box.seal(packClaims(patientId, caller.principal.id, expiresAt), CONTEXT).toString('base64url');
    const claims = this.#claims(checkId);
    await medface.audit.record(medface.store, {
      actor: caller.principal.id,
      client: caller.client ?? null,
      action: 'telemedicine.open',
      outcome: 'success',
      patientId,
      details: { checkId: claims.id, expiresAt: claims.expiresAt },
    });
    return { checkId, expiresAt: claims.expiresAt, link: `${CHECK_PAGE}#${checkId}` };
  }

  /** The link's state for the patient's page; reveals nothing about the patient. */
  async state(medface: Medface, checkId: string): Promise<LinkState> {
    const claims = this.#claims(checkId);
    const outcome = await this.#outcome(medface, claims);
    const expired = this.#expired(claims);
    const state = outcome.status === 'verified' ? 'verified' : expired ? 'expired' : outcome.attemptsLeft === 0 ? 'spent' : 'open';
    return { state, expiresAt: claims.expiresAt, attemptsLeft: expired ? 0 : outcome.attemptsLeft };
  }

  /**
   * The patient's verification with the check's link. Answers only whether it matched and how many tries
   * are left: the patient learns nothing about scores, and a stranger holding the link learns no more than
   * "no". A spent or expired link is refused, and the refusal audited.
   */
  async verify(medface: Medface, checkId: string, attempt: LivenessAttempt, client: string | null): Promise<{ match: boolean; attemptsLeft: number }> {
    const claims = this.#claims(checkId);
    return this.#oneAtATime(claims.id, async () => {
      const refuse = async (code: 'CHECK_EXPIRED' | 'CHECK_USED', reason: string, message: string): Promise<never> => {
        await medface.audit.record(medface.store, {
          actor: 'anonymous',
          client: clientOf(claims, client),
          action: 'telemedicine.verify',
          outcome: 'denied',
          patientId: claims.patientId,
          details: { checkId: claims.id, reason },
        });
        throw new MedfaceError(code, message);
      };
      if (this.#expired(claims)) return refuse('CHECK_EXPIRED', 'expired', 'the telemedicine check has expired');
      const before = await this.#outcome(medface, claims);
      if (before.status === 'verified') return refuse('CHECK_USED', 'verified', 'the telemedicine check has been completed');
      if (before.attemptsLeft === 0) return refuse('CHECK_USED', 'spent', 'the telemedicine check has no attempts left');
      // the frames of a telemedicine liveness challenge: the check is required, the match frame compared
      const result = await verify(medface, { patientId: claims.patientId, liveness: attempt, livenessPurpose: 'telemedicine' }, { actor: claims.openedBy, client: clientOf(claims, client) });
      return { match: result.match, attemptsLeft: result.match ? 0 : before.attemptsLeft - 1 };
    });
  }

  /** The patient the check is for (what reading its result is authorised against). */
  patientOf(checkId: string): string {
    return this.#claims(checkId).patientId;
  }

  /** The check's result, for the one who opened it (anyone else: NOT_FOUND). */
  async result(medface: Medface, caller: Caller, checkId: string): Promise<CheckResult> {
    const claims = this.#claims(checkId);
    if (claims.openedBy !== caller.principal.id) throw notFound();
    const outcome = await this.#outcome(medface, claims);
    return { ...outcome, attemptsLeft: this.#expired(claims) ? 0 : outcome.attemptsLeft };
  }

  /** The check's verifications so far, read from the audit trail. */
  async #outcome(medface: Medface, claims: CheckClaims): Promise<CheckResult> {
    const entries = (await medface.audit.search(medface.store, { patientId: claims.patientId, actor: claims.openedBy, action: 'biometric.verify', limit: 1000 })).filter(
      (e) => e.client !== null && e.client.startsWith(clientPrefix(claims)),
    );
    const compared = entries.filter((e) => typeof e.details.match === 'boolean');
    const decisive = compared.find((e) => e.details.match === true) ?? compared[compared.length - 1];
    const verified = decisive?.details.match === true;
    return {
      status: decisive === undefined ? 'pending' : verified ? 'verified' : 'not-verified',
      expiresAt: claims.expiresAt,
      attempts: compared.length,
      attemptsLeft: verified ? 0 : Math.max(0, MAX_COMPARISONS - compared.length),
      refusedCaptures: entries.length - compared.length,
      verification: decisive ? { match: decisive.details.match as boolean, grade: decisive.details.grade as MatchGrade, score: decisive.details.score as number, at: decisive.time } : null,
      clinicianConfirmation: 'required',
    };
  }

  #expired(claims: CheckClaims): boolean {
    return Date.parse(claims.expiresAt) <= this.#now().getTime();
  }

  /** Runs `fn` after every earlier verification with the same check has finished. */
  #oneAtATime<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#running.get(id) ?? Promise.resolve();
    const result = previous.then(fn, fn);
    const settled = result.catch(() => undefined);
    this.#running.set(id, settled);
    void settled.then(() => {
      if (this.#running.get(id) === settled) this.#running.delete(id);
    });
    return result;
  }

  #claims(checkId: string): CheckClaims {
    const sealed = Buffer.from(checkId, 'base64url');
    let packed: Buffer;
    try {
      packed = this.#box.open(sealed, CONTEXT);
    } catch (e) {
      if (isMedfaceError(e)) throw notFound();
      throw e;
    }
    if (packed.length !== PACKED_BYTES) throw notFound();
    return {
      id: uuidOf(createHash('sha256').update(sealed).digest().subarray(0, 16)),
      patientId: uuidOf(packed.subarray(0, 16)),
      openedBy: uuidOf(packed.subarray(16, 32)),
      expiresAt: new Date(packed.readUIntBE(32, 6)).toISOString(),
    };
  }
}

/**
 * The claims as the link carries them, sealed (AES-256-GCM under a key derived from the deployment secret):
 * the patient's and the opener's ids as 16 bytes each and the expiry in milliseconds as 6, so the link is 90 characters
 * after the page's path — short enough for a text message (issue 16: the JSON claims made it 300). The check's
 * own id is derived from the sealed bytes, whose random IV makes it unique.
 */
const PACKED_BYTES = 38;

function packClaims(patientId: string, openedBy: string, expiresAt: Date): Buffer {
  const packed = Buffer.alloc(PACKED_BYTES);
  uuidBytes(patientId).copy(packed, 0);
  uuidBytes(openedBy).copy(packed, 16);
  packed.writeUIntBE(expiresAt.getTime(), 32, 6);
  return packed;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function uuidBytes(id: string): Buffer {
  // patients, users and API clients all get randomUUID ids; anything else is a programming error
  if (!UUID.test(id)) throw new Error(`a telemedicine check needs UUID ids, not ${JSON.stringify(id)}`);
  return Buffer.from(id.replaceAll('-', ''), 'hex');
}

function uuidOf(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The audit client of a verification made with the check: the check, then where the patient was. */
function clientOf(claims: CheckClaims, address: string | null): string {
  return address === null ? clientPrefix(claims) : `${clientPrefix(claims)} ${address}`;
}

function clientPrefix(claims: CheckClaims): string {
  return `telemedicine:${claims.id}`;
}

function notFound(): MedfaceError {
  return new MedfaceError('NOT_FOUND', 'no such telemedicine check');
}
