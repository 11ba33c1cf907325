import { MedfaceError } from '../errors.js';
import type { ApiClientRow } from '../store/types.js';
import { CLIENT_NAME, insertNewClient, toClient, type ApiClient } from './api-clients.js';
import type { AccessContext } from './context.js';
import { guard, type Caller } from './guard.js';
import type { Principal } from './policy.js';
import { hashToken, looksLikeToken, newToken } from './tokens.js';

/**
 * Kiosk devices: a check-in screen in the waiting room that nobody signs in to. An administrator registers a
 * kiosk by name and gets a one-time pairing code (as a link); opening the link on the kiosk's browser
 * exchanges the code for a device token, which the server keeps in an http-only cookie there. The kiosk is an
 * API client of kind `kiosk` with the one scope `checkin:patient`, so the policy gives it check-in and its
 * camera feedback and nothing else; revoking it (revokeApiClient) stops the device at once. Its calls are
 * audited under its id with the client `kiosk:<name>`.
 */

/** How long a pairing link waits to be opened on the kiosk. */
export const PAIRING_HOURS = 24;

export interface RegisteredKiosk {
  kiosk: ApiClient;
  /** Shown once: the kiosk's browser opens `/kiosk/pair#<code>`. */
  pairingCode: string;
}

/** A paired kiosk's calls: the principal the policy decides on, and the client the audit trail names. */
export interface KioskCaller {
  principal: Principal;
  name: string;
}

export async function registerKiosk(ctx: AccessContext, caller: Caller, input: { name: string }): Promise<RegisteredKiosk> {
  await guard(ctx, caller, 'apiclient.manage');
  const name = input.name.trim();
  if (!CLIENT_NAME.test(name)) {
    const message = 'a kiosk name has 1-64 letters, digits, blanks and . _ -';
    throw new MedfaceError('VALIDATION_FAILED', message, { issues: [{ path: 'name', message }] });
  }
  const { token: pairingCode, hash } = newToken('kiosk-pairing');
  const row = await insertNewClient(ctx, caller, { name, kind: 'kiosk', keyHash: hash, scopes: ['checkin:patient'] }, 'kiosk.register', { name });
  return { kiosk: toClient(row), pairingCode };
}

/**
 * Exchanges a pairing code for the kiosk's device token, once: a used, expired or revoked code is
 * UNAUTHENTICATED (audited). `client` is the pairing browser's address, for the audit trail.
 */
export async function pairKiosk(ctx: AccessContext, code: string, client: string | null): Promise<{ kiosk: ApiClient; deviceToken: string }> {
  const now = ctx.now();
  const row = looksLikeToken(code, 'kiosk-pairing') ? await ctx.store.getApiClientByKeyHash(hashToken(code)) : null;
  const fresh = row !== null && now.getTime() - Date.parse(row.createdAt) <= PAIRING_HOURS * 3_600_000;
  const { token: deviceToken, hash } = newToken('kiosk-device');
  const paired = row !== null && row.kind === 'kiosk' && fresh && (await ctx.store.pairApiClient(row.id, row.keyHash, hash, now.toISOString()));
  await ctx.audit.record(ctx.store, {
    actor: row?.id ?? 'anonymous',
    client,
    action: 'kiosk.pair',
    outcome: paired ? 'success' : 'failure',
    details: row ? { name: row.name, ...(!paired && { reason: fresh ? 'used-or-revoked' : 'expired' }) } : { reason: 'unknown-code' },
  });
  if (!paired) throw new MedfaceError('UNAUTHENTICATED', 'this pairing link is not valid (used, expired or revoked): ask an administrator for a new one');
  return { kiosk: toClient({ ...(row as ApiClientRow), keyHash: hash, pairedAt: now.toISOString() }), deviceToken };
}

/**
 * The kiosk a device cookie stands for. A wrong, unpaired or revoked one is UNAUTHENTICATED and audited; unlike
 * a bearer key it counts against no address: 256 random bits are not guessed, and a kiosk's address is the clinic's.
 */
export async function authenticateKiosk(ctx: AccessContext, token: string, client: string | null): Promise<KioskCaller> {
  const row = looksLikeToken(token, 'kiosk-device') ? await ctx.store.getApiClientByKeyHash(hashToken(token)) : null;
  if (row && row.kind === 'kiosk' && row.revokedAt === null && row.pairedAt !== null) {
    return { principal: { kind: 'api-client', id: row.id, scopes: toClient(row).scopes }, name: row.name };
  }
  await ctx.audit.record(ctx.store, {
    actor: row ? row.id : 'anonymous',
    client,
    action: 'kiosk.authenticate',
    outcome: row ? 'denied' : 'failure',
    details: row ? { name: row.name, reason: 'revoked' } : { reason: 'unknown-device' },
  });
  throw new MedfaceError('UNAUTHENTICATED', 'this kiosk is not paired or was revoked: ask an administrator to register it again');
}
