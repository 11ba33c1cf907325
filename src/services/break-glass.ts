import {
  breakGlassReviewQueue,
  openBreakGlassGrant,
  reviewBreakGlassGrant,
  type BreakGlassGrant,
} from '../records/break-glass.js';
import type { BreakGlassReviewStatus } from '../store/types.js';
import { withFailureAudit, type Actor } from './auditing.js';
import type { Medface } from './context.js';

export interface BreakGlassRequest {
  patientId: string;
  reason: string;
  minutes?: number;
}

export function breakGlass(medface: Medface, request: BreakGlassRequest, who: Actor): Promise<BreakGlassGrant> {
  return withFailureAudit(medface, who, 'breakglass.open', request.patientId, () =>
    medface.store.transaction(async (tx) => {
      const grant = await openBreakGlassGrant(tx, {
        userId: who.actor,
        patientId: request.patientId,
        reason: request.reason,
        client: who.client ?? null,
        ...(request.minutes !== undefined && { minutes: request.minutes }),
      });
      await medface.audit.append(tx, {
        ...who,
        action: 'breakglass.open',
        outcome: 'success',
        patientId: request.patientId,
        details: { grantId: grant.id, expiresAt: grant.expiresAt },
      });
      return grant;
    }),
  );
}

/** The review queue (pending by default); reading it is audited, since the reasons may name clinical facts. */
export function breakGlassQueue(medface: Medface, status: BreakGlassReviewStatus | 'all', who: Actor): Promise<BreakGlassGrant[]> {
  return withFailureAudit(medface, who, 'breakglass.list', null, () =>
    medface.store.transaction(async (tx) => {
      const grants = await breakGlassReviewQueue(tx, status);
      await medface.audit.append(tx, { ...who, action: 'breakglass.list', outcome: 'success', details: { status, results: grants.length } });
      return grants;
    }),
  );
}

export function reviewBreakGlass(medface: Medface, review: { grantId: string; note: string }, who: Actor): Promise<BreakGlassGrant> {
  return withFailureAudit(medface, who, 'breakglass.review', null, () =>
    medface.store.transaction(async (tx) => {
      const grant = await reviewBreakGlassGrant(tx, { grantId: review.grantId, reviewerId: who.actor, note: review.note });
      await medface.audit.append(tx, {
        ...who,
        action: 'breakglass.review',
        outcome: 'success',
        patientId: grant.patientId,
        details: { grantId: grant.id, userId: grant.userId },
      });
      return grant;
    }),
  );
}
