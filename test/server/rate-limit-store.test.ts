import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { sharedRateLimitStore } from '../../src/server/rate-limit-store.js';
import type { Store } from '../../src/store/types.js';
import { describeEachStore, type TestDatabase } from '../store/harness.js';

/**
 * Two "nodes" (two Fastify apps, each with its own store connection) count requests in one database through
 * @fastify/rate-limit with the shared store: a caller's allowance is one, whichever node answers.
 */
describeEachStore('rate limits shared through the database', (h) => {
  let db: TestDatabase;
  let stores: Store[];
  let nodes: FastifyInstance[];

  async function node(store: Store, windowMs: number): Promise<FastifyInstance> {
    const app = Fastify();
    await app.register(rateLimit, { global: false, store: sharedRateLimitStore(store) });
    const limit = { rateLimit: { max: 3, timeWindow: windowMs, keyGenerator: (request: { headers: Record<string, unknown> }) => String(request.headers['x-caller']) } };
    app.get('/limited', { config: limit }, async () => ({ ok: true }));
    app.get('/other', { config: limit }, async () => ({ ok: true }));
    await app.ready();
    return app;
  }

  const call = (app: FastifyInstance, caller: string, url = '/limited') => app.inject({ method: 'GET', url, headers: { 'x-caller': caller } });

  beforeEach(async () => {
    db = await h.create();
    stores = [await db.open(), await db.open()];
    nodes = [];
  });

  afterEach(async () => {
    for (const app of nodes) await app.close();
    for (const store of stores) await store.close();
    await db.drop();
  });

  it('counts a caller across nodes, per caller and per route, with the time left to wait', async () => {
    nodes = [await node(stores[0]!, 60_000), await node(stores[1]!, 60_000)];
    const [a, b] = nodes as [FastifyInstance, FastifyInstance];
    expect((await call(a, 'alice')).statusCode).toBe(200);
    expect((await call(b, 'alice')).statusCode).toBe(200);
    const third = await call(a, 'alice');
    expect(third.statusCode).toBe(200);
    expect(third.headers['x-ratelimit-remaining']).toBe('0');
    const refused = await call(b, 'alice');
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(55);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
    // another caller, and another route, have their own counts
    expect((await call(b, 'bob')).statusCode).toBe(200);
    expect((await call(b, 'alice', '/other')).statusCode).toBe(200);
    // no address or account id in the table: counters are keyed by a hash
    const keys = await db.raw<{ key: string }>('SELECT key FROM rate_limit_counters');
    expect(keys).toHaveLength(3);
    for (const { key } of keys) expect(key).not.toMatch(/alice|bob|limited/);
  });

  it('starts a new window once the old one ended, and purges ended windows', async () => {
    // the repository's upsert with explicit times: the count restarts when `now` reaches the window's end
    const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 12, 0, seconds)).toISOString();
    const [one, two] = stores as [Store, Store];
    expect(await one.countRateLimitHit('k', at(0), at(60))).toEqual({ hits: 1, windowEndsAt: at(60) });
    expect(await two.countRateLimitHit('k', at(30), at(90))).toEqual({ hits: 2, windowEndsAt: at(60) });
    expect(await one.countRateLimitHit('k', at(59), at(119))).toEqual({ hits: 3, windowEndsAt: at(60) });
    expect(await two.countRateLimitHit('k', at(60), at(120))).toEqual({ hits: 1, windowEndsAt: at(120) });
    expect(await one.countRateLimitHit('other', at(0), at(10))).toEqual({ hits: 1, windowEndsAt: at(10) });
    expect(await one.deleteRateLimitCountersBefore(at(11))).toBe(1);
    expect(await db.raw('SELECT key FROM rate_limit_counters')).toEqual([{ key: 'k' }]);
  });

  it('counts requests racing on both nodes exactly', async () => {
    nodes = [await node(stores[0]!, 60_000), await node(stores[1]!, 60_000)];
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => call(nodes[i % 2]!, 'dave')));
    expect(answers.filter((r) => r.statusCode === 200)).toHaveLength(3);
    expect(answers.filter((r) => r.statusCode === 429)).toHaveLength(7);
  });
});
