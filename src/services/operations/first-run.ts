import type { AccessContext } from '../../access/context.js';
import { createUser } from '../../access/users.js';
import { isMedfaceError } from '../../errors.js';

export const FIRST_ADMIN_USERNAME = 'admin';

export interface FirstAdministrator {
  username: string;
  /** One-time password: must be replaced at the first sign-in. Shown once, never stored in clear. */
  password: string;
  /** The TOTP enrolment to scan into an authenticator app (staff sign in with password and TOTP). */
  totpUri: string;
}

/**
 * On a deployment without any account, creates the administrator (through the access module, audited as
 * the first-run system actor) and returns its one-time credentials; on every later start returns null.
 * Two nodes starting together on one database create it once: the loser's CONFLICT is a later start.
 */
export async function ensureFirstAdministrator(access: AccessContext): Promise<FirstAdministrator | null> {
  if ((await access.store.listUsers()).length > 0) return null;
  try {
    const created = await createUser(
      access,
      { principal: { kind: 'operator', id: 'system:first-run' }, client: null },
      { username: FIRST_ADMIN_USERNAME, displayName: 'Administrator', roles: ['admin'], totp: true },
    );
    return { username: created.user.username, password: created.password as string, totpUri: created.totpUri as string };
  } catch (e) {
    if (isMedfaceError(e) && e.code === 'CONFLICT') return null;
    throw e;
  }
}
