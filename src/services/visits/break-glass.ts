import { breakGlassReviewQueue, openBreakGlassGrant, reviewBreakGlassGrant, type BreakGlassGrant } from '../../records/break-glass.js';
import type { BreakGlassReviewStatus } from '../../store/types.js';
import { auditedChange, type Actor } from '../auditing.js';
import type { Medface } from '../context.js';
import { lookUpPeople, NO_NAMES, type NameRights, type PatientLabel, type UserLabel } from '../patients/people.js';

export interface BreakGlassRequest {
  patientId: string;
  reason: string;
  minutes?: number;
}

export function breakGlass(medface: Medface, request: BreakGlassRequest, who: Actor): Promise<BreakGlassGrant> {
  return auditedChange(medface, who, 'breakglass.open', request.patientId, async (tx) => {
    const grant = await openBreakGlassGrant(tx, {
      userId: who.actor,
      patientId: request.patientId,
      reason: request.reason,
      client: who.client ?? null,
      ...(request.minutes !== undefined && { minutes: request.minutes }),
    });
    return { result: grant, patientId: request.patientId, details: { grantId: grant.id, expiresAt: grant.expiresAt } };
  });
}

/** The review queue (pending by default); reading it is audited, since the reasons may name clinical facts. */
/** A break-glass access with who opened it and whose record, for those who may see names. */
export interface LabelledGrant extends BreakGlassGrant {
  user?: UserLabel;
  patient?: PatientLabel;
}

/** The review queue, with the user's username and the patient's name and date of birth as `rights` allow. */
export async function breakGlassQueue(medface: Medface, status: BreakGlassReviewStatus | 'all', who: Actor, rights: NameRights = NO_NAMES): Promise<LabelledGrant[]> {
  const grants = await auditedChange(medface, who, 'breakglass.list', null, async (tx) => {
    const grants = await breakGlassReviewQueue(tx, status);
    return { result: grants, details: { status, results: grants.length } };
  });
  const people = await lookUpPeople(medface, who, rights, { patients: grants.map((g) => g.patientId), users: grants.map((g) => g.userId) }, 'breakglass.list');
  return grants.map((g) => {
    const user = people.users.get(g.userId);
    const patient = people.patients.get(g.patientId);
    return { ...g, ...(user && { user }), ...(patient && { patient }) };
  });
}

export function reviewBreakGlass(medface: Medface, review: { grantId: string; note: string }, who: Actor): Promise<BreakGlassGrant> {
  return auditedChange(medface, who, 'breakglass.review', null, async (tx) => {
    const grant = await reviewBreakGlassGrant(tx, { grantId: review.grantId, reviewerId: who.actor, note: review.note });
    return { result: grant, patientId: grant.patientId, details: { grantId: grant.id, userId: grant.userId } };
  });
}
