import type { AccessContext } from '../../access/context.js';
import { guard, type Caller } from '../../access/guard.js';
import type { Repository } from '../../store/types.js';
import type { Actor } from '../auditing.js';
import type { Medface } from '../context.js';

/**
 * Telling patients what the clinic did to their biometric data: when a face is added to their record
 * (services/biometrics/enrol.ts writes the notice with the enrolment), the patient is told the next time they open the
 * portal and the next time they check in — so a face put on their record by someone else does not go
 * unnoticed. Each channel marks the notice as shown once, and the showing is audited (`patient.notice`).
 */

export interface PatientNotice {
  kind: 'face-added';
  /** When it happened. */
  at: string;
  /** Shown on this channel for the first time now. */
  new: boolean;
}

/** The signed-in patient's notices for the portal, oldest first; those not shown there before are marked shown. */
export async function portalNotices(medface: Medface, access: AccessContext, caller: Caller): Promise<{ notices: PatientNotice[] }> {
  const patientId = caller.principal.kind === 'user' ? caller.principal.patientId : null;
  await guard(access, caller, 'patient.read-demographics', { patientId });
  const own = patientId as string;
  const now = access.now().toISOString();
  return medface.store.transaction(async (tx) => {
    const fresh = new Set((await tellPatient(medface, tx, { actor: caller.principal.id, client: caller.client ?? null }, own, 'portal', now)).map((n) => n.id));
    const all = await tx.listPatientNotices(own);
    return { notices: all.map((n) => ({ kind: n.kind, at: n.createdAt, new: fresh.has(n.id) })) };
  });
}

/**
 * Marks the patient's notices not yet shown on `channel` as shown and audits it, inside the caller's
 * transaction (a check-in's); returns what is to be shown now.
 */
export async function tellPatient(medface: Medface, tx: Repository, who: Actor, patientId: string, channel: 'portal' | 'visit', at: string): Promise<{ id: string; kind: 'face-added'; at: string }[]> {
  const told = await tx.markPatientNoticesShown(patientId, channel, at);
  if (told.length > 0) {
    await medface.audit.append(tx, { ...who, action: 'patient.notice', outcome: 'success', patientId, details: { channel, notices: told.map((n) => n.id) } });
  }
  return told.map((n) => ({ id: n.id, kind: n.kind, at: n.createdAt }));
}
