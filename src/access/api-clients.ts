import { randomUUID } from 'node:crypto';
import { MedfaceError } from '../errors.js';
import type { ApiClientRow } from '../store/types.js';
import type { AccessContext } from './context.js';
import { guard, recordRead, type Caller } from './guard.js';
import { apiKeySubject, blockedNow, recordFailure, tooManyAttempts } from './lockout.js';
import { SCOPES, type Principal, type Scope } from './policy.js';
import { hashToken, looksLikeToken, newToken } from './tokens.js';

/**
 * Integrations (a telemedicine platform, a kiosk) call with an API key limited to scopes. The key is shown
 * once at creation; the store keeps its hash. A revoked key stops working at once on every node.
 */

export interface ApiClient {
  id: string;
  name: string;
  /** An integration calls with a bearer key; a kiosk with the device cookie set at pairing (kiosks.ts). */
  kind: 'integration' | 'kiosk';
  scopes: Scope[];
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
  /** A kiosk: when its pairing link was used (null: not yet paired). */
  pairedAt: string | null;
}

export const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;

export function toClient(row: ApiClientRow): ApiClient {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    scopes: SCOPES.filter((s) => row.scopes.includes(s)),
    createdAt: row.createdAt,
    createdBy: row.createdBy,
    revokedAt: row.revokedAt,
    pairedAt: row.pairedAt,
  };
}

export async function createApiClient(ctx: AccessContext, caller: Caller, input: { name: string; scopes: readonly string[] }): Promise<{ client: ApiClient; key: string }> {
  await guard(ctx, caller, 'apiclient.manage');
  const name = input.name.trim();
  if (!CLIENT_NAME.test(name)) throw invalid('name', 'a client name has 1-64 letters, digits, blanks and . _ -');
  const unknown = input.scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (unknown.length > 0) throw invalid('scopes', `unknown scope ${unknown.join(', ')} (scopes: ${SCOPES.join(', ')})`);
  const scopes = SCOPES.filter((s) => input.scopes.includes(s));
  if (scopes.length === 0) throw invalid('scopes', 'a client needs at least one scope');

  const { token: key, hash } = newToken('api-key');
  const row = await insertNewClient(ctx, caller, { name, kind: 'integration', keyHash: hash, scopes }, 'apiclient.create', { scopes });
  return { client: toClient(row), key };
}

/**
 * Stores a client (an integration or a kiosk) that `caller` creates, and audits it as `action` with the new
 * client's id and `details`, in one transaction.
 */
export async function insertNewClient(
  ctx: AccessContext,
  caller: Caller,
  client: Pick<ApiClientRow, 'name' | 'kind' | 'keyHash' | 'scopes'>,
  action: 'apiclient.create' | 'kiosk.register',
  details: Record<string, unknown>,
): Promise<ApiClientRow> {
  const row: ApiClientRow = { id: randomUUID(), ...client, createdAt: ctx.now().toISOString(), createdBy: caller.principal.id, revokedAt: null, pairedAt: null };
  await ctx.store.transaction(async (tx) => {
    await tx.insertApiClient(row);
    await ctx.audit.append(tx, { actor: caller.principal.id, client: caller.client ?? null, action, outcome: 'success', details: { clientId: row.id, ...details } });
  });
  return row;
}

/** Revokes a client by id or name; its key is refused from then on. */
export async function revokeApiClient(ctx: AccessContext, caller: Caller, idOrName: string): Promise<ApiClient> {
  await guard(ctx, caller, 'apiclient.manage');
  return ctx.store.transaction(async (tx) => {
    const row = (await tx.getApiClient(idOrName)) ?? (await tx.listApiClients()).find((c) => c.name === idOrName);
    if (!row) throw new MedfaceError('NOT_FOUND', 'no such API client');
    const at = ctx.now().toISOString();
    const revoked = await tx.revokeApiClient(row.id, at);
    if (revoked) {
      await ctx.audit.append(tx, {
        actor: caller.principal.id,
        client: caller.client ?? null,
        action: 'apiclient.revoke',
        outcome: 'success',
        details: { clientId: row.id, name: row.name, kind: row.kind },
      });
    }
    return toClient(revoked ? { ...row, revokedAt: at } : row);
  });
}

export async function listApiClients(ctx: AccessContext, caller: Caller): Promise<ApiClient[]> {
  await guard(ctx, caller, 'apiclient.manage');
  const clients = (await ctx.store.listApiClients()).map(toClient);
  await recordRead(ctx, caller, 'apiclient.list', { clients: clients.length });
  return clients;
}

/**
 * The principal an API key stands for. A wrong or revoked key is UNAUTHENTICATED, audited and counted
 * against the calling address's bogus-key throttle (TOO_MANY_ATTEMPTS for further wrong keys once it is
 * blocked). A valid key is looked up first and always accepted: failures from an address (bogus keys,
 * failed sign-ins) never deny its valid credentials. Successful calls are not audited here: each operation
 * the client performs is, under its id.
 */
export async function authenticateApiClient(ctx: AccessContext, key: string, client: string | null): Promise<Principal> {
  const now = ctx.now();
  const row = looksLikeToken(key, 'api-key') ? await ctx.store.getApiClientByKeyHash(hashToken(key)) : null;
  if (row && row.kind === 'integration' && row.revokedAt === null) return { kind: 'api-client', id: row.id, scopes: toClient(row).scopes };
  const address = client === null ? [] : [apiKeySubject(client)];
  const blocked = await blockedNow(ctx.store, address, ctx.settings.throttle, now);
  if (blocked) {
    await ctx.audit.record(ctx.store, { actor: 'anonymous', client, action: 'apiclient.authenticate', outcome: 'denied', details: { reason: 'throttled' } });
    throw tooManyAttempts(blocked.until, now);
  }
  await ctx.store.transaction(async (tx) => {
    for (const subject of address) await recordFailure(tx, subject, ctx.settings.throttle, now);
    await ctx.audit.append(tx, {
      actor: row ? row.id : 'anonymous',
      client,
      action: 'apiclient.authenticate',
      outcome: row ? 'denied' : 'failure',
      details: { reason: row ? 'revoked' : 'unknown-key' },
    });
  });
  throw new MedfaceError('UNAUTHENTICATED', 'the API key is not valid');
}

function invalid(path: string, message: string): MedfaceError {
  return new MedfaceError('VALIDATION_FAILED', message, { issues: [{ path, message }] });
}
