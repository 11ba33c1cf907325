import type { AuditTrail } from '../audit/trail.js';
import type { Store } from '../store/types.js';
import { DEFAULT_THROTTLE, type ThrottleSettings } from './lockout.js';
import type { PolicyHooks } from './policy.js';
import type { SecretBox } from './secret-box.js';

export interface SessionSettings {
  /** A session unused this long ends (automatic logoff). */
  idleTimeoutMs: number;
  /** A session ends this long after sign-in however active it is. */
  absoluteLifetimeMs: number;
}

export interface AccessSettings {
  sessions: SessionSettings;
  throttle: ThrottleSettings;
  /** The name authenticator apps show next to the account. */
  totpIssuer: string;
}

export const DEFAULT_ACCESS_SETTINGS: AccessSettings = {
  sessions: { idleTimeoutMs: 15 * 60_000, absoluteLifetimeMs: 12 * 60 * 60_000 },
  throttle: DEFAULT_THROTTLE,
  totpIssuer: 'medface',
};

/** What every access function works with, built once per process (src/services/access.ts builds it for a Medface). */
export interface AccessContext {
  store: Store;
  audit: AuditTrail;
  /** Seals TOTP secrets at rest. */
  secrets: SecretBox;
  hooks: PolicyHooks;
  settings: AccessSettings;
  /** The clock expiries, delays and TOTP steps are measured with (tests move it by hand). */
  now(): Date;
}
