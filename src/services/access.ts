import os from 'node:os';
import { DEFAULT_ACCESS_SETTINGS, type AccessContext, type AccessSettings } from '../access/context.js';
import type { Caller } from '../access/guard.js';
import type { Principal } from '../access/policy.js';
import { SecretBox } from '../access/secret-box.js';
import { activeBreakGlassGrant } from '../records/break-glass.js';
import type { Actor } from './auditing.js';
import type { Medface } from './context.js';
import { loadPseudonymKey, pseudonymKeyPath } from './operations/pseudonym-key.js';

export interface AccessOptions {
  settings?: Partial<AccessSettings>;
  /** The clock (tests move it); default the system clock. */
  now?: () => Date;
}

/**
 * Access control on a started Medface: its store and audit trail, the policy asking the store's break-glass
 * grants, and TOTP secrets sealed under a key derived from the deployment's audit pseudonym secret (a secret
 * that already exists, is backed up, and never changes — so the sealed secrets stay readable).
 */
export async function accessContext(medface: Medface, options: AccessOptions = {}): Promise<AccessContext> {
  // The secret exists by now: starting Medface loaded or generated it.
  const { key } = await loadPseudonymKey(pseudonymKeyPath(medface.templates.keyFile), true);
  const now = options.now ?? (() => new Date());
  return {
    store: medface.store,
    audit: medface.audit,
    secrets: SecretBox.derive(key, 'access/totp-secrets/v1'),
    hooks: { activeBreakGlassGrant: (userId, patientId, at) => activeBreakGlassGrant(medface.store, userId, patientId, at) },
    settings: { ...DEFAULT_ACCESS_SETTINGS, ...options.settings },
    now,
  };
}

/** The local console as the policy sees it: `cli:<os user>`. */
export function consoleOperator(): Principal {
  let user: string;
  try {
    user = os.userInfo().username;
  } catch {
    user = process.env.USER || 'unknown'; // a container user without a passwd entry
  }
  return { kind: 'operator', id: `cli:${user}` };
}

/** A console command as the policy sees it, under the actor and client the command records (see cli/session.ts). */
export function consoleCaller(who: Actor): Caller {
  return { principal: { kind: 'operator', id: who.actor }, client: who.client ?? null };
}
