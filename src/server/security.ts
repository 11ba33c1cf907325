import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { CookieSerializeOptions } from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MedfaceError } from '../errors.js';

/**
 * Browser-facing protections: security headers with a CSP for a same-origin app (the Vite build served at
 * `/`), cookie settings for sessions, and CSRF protection for requests authenticated by cookie.
 *
 * CSRF: the session cookie is SameSite=Strict already; on top, every state-changing request that is not
 * authenticated by a bearer API key must (1) not come from another site, when the browser says so
 * (`Sec-Fetch-Site`), and (2) echo the CSRF token in `X-CSRF-Token`, matching the http-only CSRF cookie set
 * by `GET /api/v1/auth/csrf` (double submit: another site can neither read the cookie nor set the header).
 * Sign-in routes are covered too (login CSRF). The cookie is bound to the session (signed double submit):
 * while the browser holds a session cookie, the CSRF cookie must be `token.mac`, the mac an HMAC of the token
 * keyed with that session's token, which only this server and this browser know. A CSRF cookie planted in a
 * signed-in browser (by a sibling host, or over plain HTTP) is refused on every route the session
 * authenticates; sign-in and a password change bind the browser's token to the new session, so the token a
 * page holds stays the one to echo. What binding cannot stop: a CSRF cookie planted before the sign-in is
 * bound at the sign-in like the browser's own (the `__Host-` prefix keeps it from being planted over HTTPS).
 *
 * Cookie names: served over HTTPS, every cookie carries the `__Host-` prefix (browsers then take it only from
 * this origin over TLS, with Path=/ and no Domain: a sibling host or a network attacker cannot set or shadow
 * it). Over plain HTTP the names are bare: browsers refuse a `__Host-` cookie without Secure, and localhost and
 * LAN installs without TLS must keep working.
 */

const BASE_NAMES = { session: 'medface_session', csrf: 'medface_csrf', kiosk: 'medface_kiosk' } as const;

export interface CookieNames {
  session: string;
  /** A paired kiosk's device token (src/access/kiosks.ts): sent by that browser instead of any session. */
  kiosk: string;
  csrf: string;
}

/** The cookies' names: `__Host-` prefixed when served over HTTPS. */
export function cookieNames(tls: boolean): CookieNames {
  const prefix = tls ? '__Host-' : '';
  return { session: prefix + BASE_NAMES.session, csrf: prefix + BASE_NAMES.csrf, kiosk: prefix + BASE_NAMES.kiosk };
}

/** A kiosk stays paired until revoked; browsers cap a cookie's life at 400 days. */
const KIOSK_COOKIE_DAYS = 400;
export const CSRF_HEADER = 'x-csrf-token';
const CSRF_TOKEN = /^[A-Za-z0-9_-]{43}$/;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const SAME_SITE_FETCH = new Set(['same-origin', 'none']);

export async function registerSecurityHeaders(app: FastifyInstance, tls: boolean): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        baseUri: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        // camera frames drawn to a canvas and previewed as blob: URLs
        imgSrc: ["'self'", 'data:', 'blob:'],
        mediaSrc: ["'self'", 'blob:'],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        frameAncestors: ["'none'"],
        formAction: ["'self'"],
        scriptSrcAttr: ["'none'"],
        ...(tls && { upgradeInsecureRequests: [] }),
      },
    },
    hsts: tls ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    crossOriginEmbedderPolicy: false,
    referrerPolicy: { policy: 'no-referrer' },
  });
  app.addHook('onRequest', async (_request, reply) => {
    // the kiosk and telemedicine pages use the camera; nothing else may, and nothing may use the rest
    reply.header('permissions-policy', 'camera=(self), microphone=(), geolocation=(), payment=(), usb=()');
  });
  await app.register(cookie);
}

export function cookieOptions(tls: boolean): CookieSerializeOptions {
  return { path: '/', httpOnly: true, sameSite: 'strict', secure: tls };
}

/** The device cookie outlives browser restarts (a session cookie would be gone after a reboot of the kiosk). */
export function kioskCookieOptions(tls: boolean): CookieSerializeOptions {
  return { ...cookieOptions(tls), maxAge: KIOSK_COOKIE_DAYS * 24 * 3600 };
}

/** The CSRF cookie's value for `token` in a browser holding `session` (its session cookie's token; none: unbound). */
function csrfCookie(token: string, session: string | undefined): string {
  return session ? `${token}.${createHmac('sha256', session).update(token).digest('base64url')}` : token;
}

/**
 * The token of the request's CSRF cookie; `bound`: only when the cookie is bound to the session cookie the
 * request carries (without one there is nothing to bind to: the token alone).
 */
function csrfTokenOf(request: FastifyRequest, names: CookieNames, bound: boolean): string | null {
  const value = request.cookies[names.csrf];
  const token = value?.split('.')[0];
  if (!value || !token || !CSRF_TOKEN.test(token)) return null;
  const session = request.cookies[names.session];
  if (!bound || !session) return token;
  return equal(value, csrfCookie(token, session)) ? token : null;
}

/** Hands a client its CSRF token (a new one unless its cookie already holds one bound to its session). */
export function issueCsrfToken(request: FastifyRequest, reply: FastifyReply, tls: boolean): string {
  const names = cookieNames(tls);
  const existing = csrfTokenOf(request, names, true);
  if (existing) return existing;
  const token = randomBytes(32).toString('base64url');
  reply.setCookie(names.csrf, csrfCookie(token, request.cookies[names.session]), cookieOptions(tls));
  return token;
}

/**
 * Starts a session in this browser: the session cookie, and the browser's CSRF token bound to the new session
 * (the request passed the CSRF check, so its token is the browser's own).
 */
export function setSessionCookie(request: FastifyRequest, reply: FastifyReply, tls: boolean, session: string): void {
  const names = cookieNames(tls);
  reply.setCookie(names.session, session, cookieOptions(tls));
  const token = csrfTokenOf(request, names, false);
  if (token) reply.setCookie(names.csrf, csrfCookie(token, session), cookieOptions(tls));
}

/**
 * Refuses a state-changing, cookie-authenticated request without a matching CSRF token (CSRF_REJECTED). On a
 * route the session authenticates (`bound`), the CSRF cookie must be bound to the session cookie sent; the
 * public routes (sign-in above all) take the token alone, so a browser holding a session cookie that is stale,
 * or was planted, can still sign in.
 */
export function checkCsrf(request: FastifyRequest, bearer: boolean, bound: boolean, tls: boolean): void {
  if (SAFE_METHODS.has(request.method) || bearer) return;
  const site = request.headers['sec-fetch-site'];
  if (typeof site === 'string' && !SAME_SITE_FETCH.has(site)) {
    throw new MedfaceError('CSRF_REJECTED', 'cross-site requests are refused');
  }
  const header = request.headers[CSRF_HEADER];
  const token = csrfTokenOf(request, cookieNames(tls), bound);
  if (typeof header !== 'string' || !token || !equal(header, token)) {
    throw new MedfaceError('CSRF_REJECTED', `send the token from GET /api/v1/auth/csrf in the ${CSRF_HEADER} header`);
  }
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
