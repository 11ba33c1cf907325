import type { FastifyPluginAsync, FastifyRequest, FastifyTypeProvider, RawServerDefault } from 'fastify';
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';
import type { Deployment } from '../services/operations/deployment.js';
import type { TelemedicineChecks } from '../services/visits/telemedicine.js';

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

/**
 * Each route's request schemas are its request's types (json-schema-to-ts): a handler reads `request.body`,
 * `params` and `query` as validated, without casts; a body given per content type (an image route's) is typed by
 * its JSON form. An image field is typed as its base64 text but holds the bytes (images.ts): `imageBytes` checks
 * that. Replies are checked by their response schemas when sent, not typed from them: the FHIR resources are
 * interfaces that a schema's open object does not describe.
 */
export interface SchemaTypes extends FastifyTypeProvider {
  validator: this['schema'] extends { content: { 'application/json': { schema: infer Json } } }
    ? Json extends JSONSchema
      ? FromSchema<Json>
      : unknown
    : this['schema'] extends JSONSchema
      ? FromSchema<this['schema']>
      : unknown;
  serializer: unknown;
}

/** A plugin of routes, typed by their schemas. */
export type RoutePlugin = FastifyPluginAsync<ServerContext, RawServerDefault, SchemaTypes>;

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
