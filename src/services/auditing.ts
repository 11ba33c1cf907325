import { isMedfaceError } from '../errors.js';
import type { AuditOutcome, Repository } from '../store/types.js';
import type { Medface } from './context.js';

/** Who asks: a user id, an API client id or `cli:<os user>`; `client` says from where (kiosk id, address). */
export interface Actor {
  actor: string;
  client?: string | null;
}

const alreadyAudited = new WeakSet<object>();

/** Marks an error whose failure the operation already wrote to the audit trail itself (in its own transaction). */
export function audited<E extends object>(error: E): E {
  alreadyAudited.add(error);
  return error;
}

/** Error details worth keeping in the audit trail: codes and counts, never anything taken from the image. */
const AUDITED_DETAILS = ['reasons', 'image', 'limit', 'stored'] as const;

/**
 * Runs an operation and, when it fails, records the failure in the audit trail in a transaction of its own
 * (the operation's transaction, if it got that far, was rolled back with its audit entry): the error code
 * and quality reasons, never the image or anything derived from the face.
 */
export async function withFailureAudit<T>(medface: Medface, who: Actor, action: string, patientId: string | null, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (typeof e === 'object' && e !== null && !alreadyAudited.has(e)) {
      const code = isMedfaceError(e) ? e.code : 'INTERNAL';
      const outcome: AuditOutcome = code === 'CONSENT_REQUIRED' ? 'denied' : 'failure';
      const details: Record<string, unknown> = { code };
      if (isMedfaceError(e)) {
        for (const key of AUDITED_DETAILS) if (e.details?.[key] !== undefined) details[key] = e.details[key];
      }
      try {
        await medface.audit.record(medface.store, { ...who, action, outcome, patientId, details });
      } catch {
        // the operation's own error is the one to report; a store that cannot take the entry failed it too
      }
    }
    throw e;
  }
}

/** A change's result, and what its audit entry says beyond who did what: the patient it concerns and its details. */
export interface AuditedResult<T> {
  result: T;
  patientId?: string | null;
  details?: Record<string, unknown>;
}

/**
 * A change and its audit entry in one transaction, so that neither is kept without the other; its failure is
 * audited as `withFailureAudit` does, under `patientId`.
 */
export function auditedChange<T>(medface: Medface, who: Actor, action: string, patientId: string | null, change: (tx: Repository) => Promise<AuditedResult<T>>): Promise<T> {
  return withFailureAudit(medface, who, action, patientId, () => inAuditedTransaction(medface, who, action, change));
}

/** A change and its audit entry (its success) in one transaction, so that neither is kept without the other. */
export function inAuditedTransaction<T>(medface: Medface, who: Actor, action: string, change: (tx: Repository) => Promise<AuditedResult<T>>): Promise<T> {
  return medface.store.transaction(async (tx) => {
    const { result, ...entry } = await change(tx);
    await medface.audit.append(tx, { ...who, action, outcome: 'success', ...entry });
    return result;
  });
}

/** Scores in audit entries: four decimals say everything a reviewer needs. */
export function auditScore(score: number): number {
  return Math.round(score * 10_000) / 10_000;
}
