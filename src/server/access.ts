import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authenticateApiClient } from '../access/api-clients.js';
import { authenticateKiosk } from '../access/kiosks.js';
import type { AccessContext } from '../access/context.js';
import { guard, type Allowed, type Caller } from '../access/guard.js';
import type { Operation } from '../access/policy.js';
import { resumeSession, type ResumedSession } from '../access/sessions.js';
import { isMedfaceError, MedfaceError } from '../errors.js';
import type { Actor } from '../services/auditing.js';
import { nameRightsOf, type NameRights } from '../services/patients/people.js';
import { actorOf } from '../services/patients/records.js';
import { checkCsrf, cookieNames, cookieOptions } from './security.js';

/**
 * Who calls, and whether they may: every API and FHIR route declares its access in `config.access`, and
 * this module alone acts on it. A route without a declaration is refused when the server is built (deny by
 * default). The decision itself is the policy's (src/access/policy.ts, through `guard`): routes never look
 * at roles.
 *
 * - `public`: no caller needed (health, sign-in, the telemedicine link, which carries its own proof).
 * - `signed-in`: any authenticated caller; the access function called authorises (users, API clients).
 * - `{ operation, patient }`: the policy decides `operation` on the patient the request names.
 */
export type RouteAccess =
  | 'public'
  | 'signed-in'
  | {
      /** The operation, or how the request names it (a write of an Encounter is `encounter.create`). */
      operation: Operation | ((request: FastifyRequest) => Operation);
      /** The patient the request concerns, from its validated params, query or body (or what they name). */
      patient?: (request: FastifyRequest) => string | null | undefined | Promise<string | null | undefined>;
    };

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyRequest {
    /** The authenticated caller, on every route that is not public. */
    caller: Caller | null;
    /** The session behind a cookie-authenticated caller (null for an API client). */
    signedIn: ResumedSession | null;
    /** The policy's decision on the route's operation. */
    decision: Allowed | null;
  }
}

/** Paths every route under which must declare its access. */
const GUARDED_PREFIXES = ['/api/', '/fhir'];

export function registerAccessControl(app: FastifyInstance, access: AccessContext, tls: boolean): void {
  app.decorateRequest('caller', null);
  app.decorateRequest('signedIn', null);
  app.decorateRequest('decision', null);

  app.addHook('onRoute', (route) => {
    if (!GUARDED_PREFIXES.some((p) => route.url.startsWith(p))) return;
    const declared = (route.config as { access?: RouteAccess } | undefined)?.access;
    if (declared === undefined) throw new Error(`${String(route.method)} ${route.url} declares no access (config.access)`);
  });

  app.addHook('onRequest', async (request, reply) => {
    const declared = request.routeOptions.config.access;
    if (declared === undefined) return; // static files and the API documentation
    reply.header('cache-control', 'no-store');
    const bearer = bearerOf(request);
    checkCsrf(request, bearer !== null, declared !== 'public', tls);
    if (declared === 'public') return;
    await authenticate(access, request, reply, bearer, tls);
  });

  app.addHook('preHandler', async (request) => {
    const declared = request.routeOptions.config.access;
    if (declared === undefined || typeof declared === 'string') return;
    const caller = request.caller as Caller;
    const patientId = declared.patient ? ((await declared.patient(request)) ?? null) : null;
    const operation = typeof declared.operation === 'function' ? declared.operation(request) : declared.operation;
    request.decision = await guard(access, caller, operation, { patientId });
  });
}

/** `Authorization: Bearer <API key>`; null without an Authorization header. */
function bearerOf(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (header === undefined) return null;
  const match = /^Bearer ([^\s]+)$/i.exec(header.trim());
  if (!match) throw new MedfaceError('UNAUTHENTICATED', 'the Authorization header must be "Bearer <API key>"');
  return match[1] as string;
}

async function authenticate(access: AccessContext, request: FastifyRequest, reply: FastifyReply, bearer: string | null, tls: boolean): Promise<void> {
  const client = request.ip;
  if (bearer !== null) {
    request.caller = { principal: await authenticateApiClient(access, bearer, client), client };
    return;
  }
  // a paired kiosk's browser is the kiosk, whatever else it holds: a staff sign-in there opens nothing
  const names = cookieNames(tls);
  const device = request.cookies[names.kiosk];
  if (device) {
    const kiosk = await authenticateKiosk(access, device, client);
    request.caller = { principal: kiosk.principal, client: `kiosk:${kiosk.name}` };
    await confineKiosk(access, request, request.caller);
    return;
  }
  const token = request.cookies[names.session];
  if (!token) throw new MedfaceError('UNAUTHENTICATED', 'sign in first');
  try {
    const resumed = await resumeSession(access, token);
    request.signedIn = resumed;
    request.caller = { principal: resumed.principal, client };
  } catch (e) {
    if (isMedfaceError(e) && e.code === 'UNAUTHENTICATED') reply.clearCookie(names.session, cookieOptions(tls));
    throw e;
  }
}

/**
 * A kiosk reaches a route only when the route's one operation is granted to it, decided before its request is
 * read: elsewhere it learns nothing, not even from a validation error or a record that is not there.
 */
async function confineKiosk(access: AccessContext, request: FastifyRequest, caller: Caller): Promise<void> {
  const declared = request.routeOptions.config.access;
  if (typeof declared === 'object' && typeof declared.operation === 'string') {
    await guard(access, caller, declared.operation);
    return;
  }
  const route = `${request.method} ${request.routeOptions.url ?? ''}`;
  await access.audit.record(access.store, { actor: caller.principal.id, client: caller.client ?? null, action: 'kiosk.request', outcome: 'denied', details: { route } });
  throw new MedfaceError('FORBIDDEN', 'a kiosk may only check patients in', { reason: 'not-permitted' });
}

/**
 * A text field of a route's validated request (its params, query or body), for an access declaration's
 * `patient`: one declaration type serves every route, so it reads the field by name; the route's schema
 * requires the field, and a request without it is refused as invalid rather than decided on.
 */
export function requestField(request: FastifyRequest, part: 'params' | 'query' | 'body', name: string): string {
  const value: unknown = Reflect.get(Object(request[part]), name);
  if (typeof value !== 'string') throw new MedfaceError('VALIDATION_FAILED', `${part}.${name} is required`, { issues: [{ path: `${part}.${name}`, message: 'is required' }] });
  return value;
}

/** The authenticated caller of a non-public route. */
export function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw new MedfaceError('UNAUTHENTICATED', 'sign in first');
  return request.caller;
}

/** Whoever reads a work list: the caller as the audit trail's actor, and whose names (patients', users') they may see beside the ids. */
export async function listReaderOf(request: FastifyRequest): Promise<{ actor: Actor; rights: NameRights }> {
  const caller = callerOf(request);
  return { actor: actorOf(caller), rights: await nameRightsOf(caller.principal) };
}
