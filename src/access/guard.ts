import type { AccessContext } from './context.js';
import { authorize, type AccessTarget, type Decision, type Operation, type Principal } from './policy.js';
import { MedfaceError } from '../errors.js';

/** Who asks, and from where (an address, a kiosk id), as the audit trail records it. */
export interface Caller {
  principal: Principal;
  client?: string | null;
}

export type Allowed = Extract<Decision, { allowed: true }>;

/**
 * The policy applied: the decision for the caller, or FORBIDDEN after the refusal is written to the audit
 * trail (the operation as the action, outcome `denied`, the reason; the patient only as its pseudonym).
 */
export async function guard(ctx: AccessContext, caller: Caller, operation: Operation, target: AccessTarget = {}): Promise<Allowed> {
  const decision = await authorize(caller.principal, operation, target, ctx.hooks, ctx.now());
  if (decision.allowed) return decision;
  await ctx.audit.record(ctx.store, {
    actor: caller.principal.id,
    client: caller.client ?? null,
    action: operation,
    outcome: 'denied',
    patientId: target.patientId ?? null,
    details: { reason: decision.reason },
  });
  throw new MedfaceError('FORBIDDEN', `not permitted to ${operation}`, { operation, reason: decision.reason });
}

/**
 * Records a read the policy allowed — who looked at the accounts, the integrations, the keys, the thresholds or
 * the duplicate queue — as `action` with outcome success (issue 15: reads were not audited).
 */
export async function recordRead(ctx: AccessContext, caller: Caller, action: string, details: Record<string, unknown> = {}, patientId: string | null = null): Promise<void> {
  await ctx.audit.record(ctx.store, { actor: caller.principal.id, client: caller.client ?? null, action, outcome: 'success', patientId, details });
}
