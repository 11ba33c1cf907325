import type { RoutePlugin } from '../context.js';
import { closedObject, NO_QUERY } from '../schemas.js';

const READINESS = closedObject(
  {
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
  ['ready', 'store', 'faces', 'gallery'],
);

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
        response: { 200: closedObject({ status: { type: 'string', const: 'ok' } }, ['status']) },
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
