import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { CookieSerializeOptions } from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MedfaceError } from '../errors.js';

/**
 * Browser-facing protections: security headers with a CSP for a same-origin app (the Vite build served at
 * `/`), cookie settings for sessions, and CSRF protection for requests authenticated by cookie.
 *
 * CSRF: the session cookie is SameSite=Strict already; on top, every state-changing request that is not
 * authenticated by a bearer API key must (1) not come from another site, when the browser says so
 * (`Sec-Fetch-Site`), and (2) echo the CSRF token in `X-CSRF-Token`, matching the http-only `medface_csrf`
 * cookie set by `GET /api/v1/auth/csrf` (double submit: another site can neither read the cookie nor set
 * the header). Sign-in routes are covered too (login CSRF).
 */

export const SESSION_COOKIE = 'medface_session';
/** A paired kiosk's device token (src/access/kiosks.ts): sent by that browser instead of any session. */
export const KIOSK_COOKIE = 'medface_kiosk';
/** A kiosk stays paired until revoked; browsers cap a cookie's life at 400 days. */
const KIOSK_COOKIE_DAYS = 400;
export const CSRF_COOKIE = 'medface_csrf';
export const CSRF_HEADER = 'x-csrf-token';

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

/** Hands a client its CSRF token (a new one unless its cookie already holds one). */
export function issueCsrfToken(request: FastifyRequest, reply: FastifyReply, tls: boolean): string {
  const existing = request.cookies[CSRF_COOKIE];
  if (existing && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
  const token = randomBytes(32).toString('base64url');
  reply.setCookie(CSRF_COOKIE, token, cookieOptions(tls));
  return token;
}

/** Refuses a state-changing, cookie-authenticated request without a matching CSRF token (CSRF_REJECTED). */
export function checkCsrf(request: FastifyRequest, bearer: boolean): void {
  if (SAFE_METHODS.has(request.method) || bearer) return;
  const site = request.headers['sec-fetch-site'];
  if (typeof site === 'string' && !SAME_SITE_FETCH.has(site)) {
    throw new MedfaceError('CSRF_REJECTED', 'cross-site requests are refused');
  }
  const header = request.headers[CSRF_HEADER];
  const cookieValue = request.cookies[CSRF_COOKIE];
  if (typeof header !== 'string' || !cookieValue || !equal(header, cookieValue)) {
    throw new MedfaceError('CSRF_REJECTED', `send the token from GET /api/v1/auth/csrf in the ${CSRF_HEADER} header`);
  }
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
