import pg from 'pg';
import type { StoreChange, StoreWatch } from './types.js';

/** Waits before reconnecting after a loss: doubling from the first to the last, so a restored server is noticed within about a second. */
const RECONNECT_MS = [100, 250, 500, 1000] as const;
/** A silent network does not close a socket: the listening connection is probed this often. */
const HEARTBEAT_MS = 5_000;
const HEARTBEAT_REPLY_MS = 3_000;

/**
 * The PostgreSQL side of `Store.watch`: one connection of its own, `LISTEN` on the channel that migration 6's
 * triggers notify (`medface:<schema>`, so deployments sharing a database in different schemas do not hear each
 * other). A notification arrives only after the writing transaction committed. When the connection is lost it
 * reconnects, listens again and reports `resync`: whatever was committed meanwhile was not announced to it.
 */
export class PostgresChangeFeed implements StoreWatch {
  readonly #connection: pg.ClientConfig;
  readonly #listener: (change: StoreChange) => void;
  #client: pg.Client | undefined;
  #live = false;
  #closed = false;
  #failures = 0;
  #retry: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;

  private constructor(connection: pg.ClientConfig, listener: (change: StoreChange) => void) {
    this.#connection = connection;
    this.#listener = listener;
  }

  /** `connection`: the store's connection string and timeouts. */
  static start(connection: pg.ClientConfig, listener: (change: StoreChange) => void): PostgresChangeFeed {
    const feed = new PostgresChangeFeed(connection, listener);
    void feed.#connect();
    return feed;
  }

  get live(): boolean {
    return this.#live;
  }

  async #connect(): Promise<void> {
    this.#retry = undefined;
    if (this.#closed) return;
    const client = new pg.Client(this.#connection);
    this.#client = client;
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    try {
      await client.connect();
      const [row] = (await client.query<{ schema: string }>('SELECT current_schema() AS schema')).rows;
      const channel = channelOf(row!.schema);
      client.on('notification', (n) => {
        if (n.channel !== channel) return;
        const change = parsePayload(n.payload ?? '');
        if (change) this.#listener(change);
      });
      await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch {
      this.#lost(client);
      return;
    }
    if (this.#client !== client || this.#closed) return;
    this.#live = true;
    this.#failures = 0;
    this.#heartbeat = setInterval(() => void this.#probe(client), HEARTBEAT_MS);
    this.#heartbeat.unref();
    // listening from here on; anything committed before may not have been seen
    this.#listener({ kind: 'resync' });
  }

  /** A probe not answered in time counts as a lost connection. */
  async #probe(client: pg.Client): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const silent = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no reply')), HEARTBEAT_REPLY_MS);
    });
    try {
      await Promise.race([client.query('SELECT 1'), silent]);
    } catch {
      this.#lost(client);
    } finally {
      clearTimeout(timer);
    }
  }

  #lost(client: pg.Client): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    this.#live = false;
    clearInterval(this.#heartbeat);
    void client.end().catch(() => undefined);
    if (this.#closed) return;
    const wait = RECONNECT_MS[Math.min(this.#failures++, RECONNECT_MS.length - 1)];
    this.#retry = setTimeout(() => void this.#connect(), wait);
    this.#retry.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#live = false;
    clearTimeout(this.#retry);
    clearInterval(this.#heartbeat);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }
}

/** The channel migration 6's trigger notifies for a schema (PostgreSQL names are at most 63 bytes). */
export function channelOf(schema: string): string {
  return `medface:${schema}`.slice(0, 63);
}

function parsePayload(payload: string): StoreChange | null {
  if (payload === 'keys') return { kind: 'keys' };
  if (payload.startsWith('templates ')) return { kind: 'templates', patientId: payload.slice('templates '.length) };
  return null;
}
