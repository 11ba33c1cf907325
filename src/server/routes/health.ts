import type { RoutePlugin } from '../context.js';
import { NO_QUERY } from '../schemas.js';

const READINESS = {
  type: 'object',
  additionalProperties: false,
  required: ['ready', 'store', 'faces', 'gallery'],
  properties: {
    ready: { type: 'boolean' },
    store: { type: 'string', enum: ['ok', 'unavailable'] },
    gallery: {
      type: 'string',
      enum: ['live', 'reconnecting'],
      description: "'live': the in-memory gallery follows what other nodes commit; 'reconnecting': it may be behind (not ready)",
    },
    faces: {
      type: 'object',
      additionalProperties: false,
      description: 'Face engine workers (warm, expected, busy) and requests waiting for one; a full queue answers ENGINE_BUSY (503)',
      properties: { workers: { type: 'integer' }, expected: { type: 'integer' }, busy: { type: 'integer' }, queued: { type: 'integer' } },
    },
  },
} as const;

/** Liveness (`/health`: the process answers) and readiness (`/ready`: the store answers, the face pool is warm). */
export const healthRoutes: RoutePlugin = async (app, { deployment }) => {
  app.get(
    '/health',
    {
      config: { access: 'public' },
      schema: {
        tags: ['health'],
        summary: 'Liveness: the process is up',
        querystring: NO_QUERY,
        response: { 200: { type: 'object', additionalProperties: false, required: ['status'], properties: { status: { type: 'string', const: 'ok' } } } },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/ready',
    {
      config: { access: 'public' },
      schema: {
        tags: ['health'],
        summary: 'Readiness: the store is reachable, the gallery follows other nodes and every face worker is warm (503 otherwise)',
        querystring: NO_QUERY,
        response: { 200: READINESS, 503: READINESS },
      },
    },
    async (_request, reply) => {
      const readiness = await deployment.readiness();
      if (!readiness.ready) reply.code(503).header('retry-after', '5');
      return readiness;
    },
  );
};
