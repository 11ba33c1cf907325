import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `vite build` puts the web application (web/dist at the package root). */
export const WEB_DIST = fileURLToPath(new URL('../../web/dist/', import.meta.url));

/**
 * Serves the built web application at `/` when there is one: hashed assets cached for good, everything
 * else revalidated. Returns a not-found fallback that answers the app's own client-side routes (a browser
 * navigating to /kiosk) with its index.html, or null when there is no build.
 */
export async function registerWebApp(app: FastifyInstance, root: string = WEB_DIST): Promise<((request: FastifyRequest, reply: FastifyReply) => boolean) | null> {
  if (!existsSync(path.join(root, 'index.html'))) return null;
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    index: 'index.html',
    cacheControl: false,
    setHeaders: (reply, file) => {
      reply.header('cache-control', file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
  return (request, reply) => {
    const page = request.method === 'GET' && (request.headers.accept ?? '').includes('text/html');
    if (page) void reply.header('cache-control', 'no-cache').sendFile('index.html');
    return page;
  };
}
