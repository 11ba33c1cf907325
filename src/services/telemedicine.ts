import { randomUUID } from 'node:crypto';
import type { Caller } from '../access/guard.js';
import { SecretBox } from '../access/secret-box.js';
import { MedfaceError, isMedfaceError } from '../errors.js';
import type { MatchGrade } from '../identity/match.js';
import { readPatient } from '../records/patient.js';
import type { Medface } from './context.js';
import { loadPseudonymKey, pseudonymKeyPath } from './pseudonym-key.js';
import { verify } from './verify.js';

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
 */

export const DEFAULT_CHECK_MINUTES = 60;
export const MAX_CHECK_MINUTES = 7 * 24 * 60;
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
}

export type CheckStatus = 'pending' | 'verified' | 'not-verified';

export interface CheckResult {
  status: CheckStatus;
  expiresAt: string;
  /** Verifications tried with the check, including captures refused for quality. */
  attempts: number;
  /** The deciding verification: the first match, or else the latest comparison made. */
  verification: { match: boolean; grade: MatchGrade; score: number; at: string } | null;
}

/** Seals and opens check ids; built once per process. */
export class TelemedicineChecks {
  readonly #box: SecretBox;

  private constructor(box: SecretBox) {
    this.#box = box;
  }

  static async forMedface(medface: Medface): Promise<TelemedicineChecks> {
    // The secret exists by now: starting Medface loaded or generated it.
    const { key } = await loadPseudonymKey(pseudonymKeyPath(medface.keyFile), true);
    return new TelemedicineChecks(SecretBox.derive(key, 'telemedicine-checks/v1'));
  }

  /** Opens a check for a patient with an enrolled face (the caller has been authorised to verify them). */
  async open(medface: Medface, caller: Caller, patientId: string, minutes = DEFAULT_CHECK_MINUTES): Promise<OpenedCheck> {
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_CHECK_MINUTES) {
      throw new MedfaceError('VALIDATION_FAILED', `minutes must be a whole number from 1 to ${MAX_CHECK_MINUTES}`, {
        issues: [{ path: 'minutes', message: `must be from 1 to ${MAX_CHECK_MINUTES}` }],
      });
    }
    await readPatient(medface.store, patientId);
    if ((await medface.store.countTemplates(patientId)) === 0) {
      throw new MedfaceError('NOT_FOUND', 'the patient has no enrolled face', { patientId });
    }
    const claims: CheckClaims = {
      id: randomUUID(),
      patientId,
      openedBy: caller.principal.id,
      expiresAt: new Date(Date.now() + minutes * 60_000).toISOString(),
    };
    await medface.store.transaction((tx) =>
      medface.audit.append(tx, {
        actor: caller.principal.id,
        client: caller.client ?? null,
        action: 'telemedicine.open',
        outcome: 'success',
        patientId,
        details: { checkId: claims.id, expiresAt: claims.expiresAt },
      }),
    );
    return { checkId: this.#box.seal(Buffer.from(JSON.stringify(claims), 'utf8'), CONTEXT).toString('base64url'), expiresAt: claims.expiresAt };
  }

  /**
   * The patient's verification with the check's link. Answers only whether it matched: the patient learns
   * nothing about scores, and a stranger holding the link learns no more than "no".
   */
  async verify(medface: Medface, checkId: string, image: Uint8Array, client: string | null): Promise<{ match: boolean }> {
    const claims = this.#claims(checkId, true);
    const result = await verify(medface, { patientId: claims.patientId, image }, { actor: claims.openedBy, client: clientOf(claims, client) });
    return { match: result.match };
  }

  /** The patient the check is for (what reading its result is authorised against). */
  patientOf(checkId: string): string {
    return this.#claims(checkId, false).patientId;
  }

  /** The check's result, for the one who opened it (anyone else: NOT_FOUND). */
  async result(medface: Medface, caller: Caller, checkId: string): Promise<CheckResult> {
    const claims = this.#claims(checkId, false);
    if (claims.openedBy !== caller.principal.id) throw notFound();
    const entries = (
      await medface.audit.search(medface.store, { patientId: claims.patientId, actor: claims.openedBy, action: 'biometric.verify', limit: 1000 })
    ).filter((e) => e.client !== null && e.client.startsWith(clientPrefix(claims)));
    const compared = entries.filter((e) => typeof e.details.match === 'boolean');
    const decisive = compared.find((e) => e.details.match === true) ?? compared[compared.length - 1];
    return {
      status: decisive === undefined ? 'pending' : decisive.details.match === true ? 'verified' : 'not-verified',
      expiresAt: claims.expiresAt,
      attempts: entries.length,
      verification: decisive
        ? { match: decisive.details.match as boolean, grade: decisive.details.grade as MatchGrade, score: decisive.details.score as number, at: decisive.time }
        : null,
    };
  }

  #claims(checkId: string, mustBeOpen: boolean): CheckClaims {
    let claims: CheckClaims;
    try {
      claims = JSON.parse(this.#box.open(Buffer.from(checkId, 'base64url'), CONTEXT).toString('utf8')) as CheckClaims;
    } catch (e) {
      if (isMedfaceError(e) || e instanceof SyntaxError) throw notFound();
      throw e;
    }
    if (mustBeOpen && Date.parse(claims.expiresAt) <= Date.now()) throw new MedfaceError('NOT_FOUND', 'the telemedicine check has expired');
    return claims;
  }
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
