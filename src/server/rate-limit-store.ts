import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import { createHash } from 'node:crypto';
import type { Repository } from '../store/types.js';

/** Expired counters are deleted at most this often (by whichever node counts a request then). */
const PURGE_EVERY_MS = 60_000;

/**
 * @fastify/rate-limit's store on medface's database, so that every node behind a load balancer counts the same
 * requests: a client cannot multiply its allowance by the number of nodes. One upsert per limited request
 * (`Repository.countRateLimitHit`); a fixed window per route and caller, like the plugin's in-memory store.
 * Counters are keyed by a hash of route and caller, so the table holds no address or account id.
 * When the database cannot be reached the request fails with STORE_UNAVAILABLE (503), like everything else.
 */
export function sharedRateLimitStore(repository: Pick<Repository, 'countRateLimitHit' | 'deleteRateLimitCountersBefore'>): FastifyRateLimitStoreCtor {
  let lastPurge = 0;

  class SharedRateLimitStore implements FastifyRateLimitStore {
    readonly #route: string;

    constructor(options: unknown, route = '') {
      void options;
      this.#route = route;
    }

    incr(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, timeWindow: number): void {
      const now = Date.now();
      const counter = createHash('sha256').update(`${this.#route}\u0000${key}`).digest('base64url');
      repository.countRateLimitHit(counter, new Date(now).toISOString(), new Date(now + timeWindow).toISOString()).then(
        ({ hits, windowEndsAt }) => callback(null, { current: hits, ttl: Math.max(0, Date.parse(windowEndsAt) - now) }),
        (e: unknown) => callback(e as Error),
      );
      if (now - lastPurge >= PURGE_EVERY_MS) {
        lastPurge = now;
        void repository.deleteRateLimitCountersBefore(new Date(now).toISOString()).catch(() => undefined);
      }
    }

    child(routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
      // the plugin passes the route's merged settings with the route itself under routeInfo
      const route = (routeOptions as { routeInfo?: { method?: unknown; url?: unknown } }).routeInfo;
      return new SharedRateLimitStore(routeOptions, `${String(route?.method ?? '')} ${String(route?.url ?? '')}`);
    }
  }

  return SharedRateLimitStore;
}
