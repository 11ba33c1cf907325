import type { FastifyRequest } from 'fastify';
import type { Deployment } from '../services/deployment.js';
import type { TelemedicineChecks } from '../services/telemedicine.js';

/** Requests allowed per client in a time window. */
export interface RateLimit {
  max: number;
  windowMs: number;
}

export interface RateLimits {
  /** Sign-in routes, per client address. */
  signIn: RateLimit;
  /** Routes that run the face engine, per caller (API client or user), else per address. */
  biometric: RateLimit;
}

export const DEFAULT_RATE_LIMITS: RateLimits = {
  signIn: { max: 10, windowMs: 60_000 },
  biometric: { max: 60, windowMs: 60_000 },
};

/** What every route plugin works with. */
export interface ServerContext {
  deployment: Deployment;
  telemedicine: TelemedicineChecks;
  /** Served over HTTPS: cookies are Secure. */
  tls: boolean;
  rateLimits: RateLimits;
  /** Where evaluation reports are looked for (admin: thresholds and their curves). */
  reportsDir: string;
  /** Base of absolute links (MEDFACE_PUBLIC_URL); undefined: relative links, never the client's Host header. */
  publicUrl: string | undefined;
}

/** The route config of a rate-limited route (@fastify/rate-limit). */
export function rateLimited(limit: RateLimit): { rateLimit: { max: number; timeWindow: number; keyGenerator: (request: FastifyRequest) => string } } {
  return {
    rateLimit: {
      max: limit.max,
      timeWindow: limit.windowMs,
      keyGenerator: (request) => (request.caller ? `caller:${request.caller.principal.id}` : `address:${request.ip}`),
    },
  };
}
