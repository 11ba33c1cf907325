import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on loopback in front of PostgreSQL, so a test can take the database away from one medface node
 * without touching the server everyone else's tests use:
 *  - `cut()`: every connection is reset and new ones are refused (the database host went down);
 *  - `stall()`: connections stay open but nothing passes, new ones are accepted and never answered (a silent
 *    network: no reset ever arrives, only timeouts can tell);
 *  - `restore()`: forwarding again (stalled connections are dropped: their streams are out of step).
 */
export class TcpProxy {
  #port = 0;
  readonly #target: { host: string; port: number };
  #server: Server | undefined;
  #mode: 'forward' | 'stall' | 'refuse' = 'forward';
  readonly #sockets = new Set<Socket>();

  private constructor(target: { host: string; port: number }) {
    this.#target = target;
  }

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await proxy.#listen();
    return proxy;
  }

  /** Listens on loopback: a free port the first time, the same one after a cut. */
  async #listen(): Promise<void> {
    const server = createServer((client) => this.#accept(client));
    await new Promise<void>((resolve) => server.listen(this.#port, '127.0.0.1', resolve));
    this.#port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  get port(): number {
    return this.#port;
  }

  #accept(client: Socket): void {
    this.#track(client);
    if (this.#mode !== 'forward') return; // accepted, never answered
    const upstream = connect(this.#target.port, this.#target.host);
    this.#track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
  }

  /** Connections in place now (client and upstream sides both count). */
  get connections(): number {
    return this.#sockets.size;
  }

  async cut(): Promise<void> {
    this.#mode = 'refuse';
    // close() stops accepting at once but calls back only when every connection has gone
    const closed = new Promise((resolve) => (this.#server ? this.#server.close(resolve) : resolve(undefined)));
    this.#server = undefined;
    for (const socket of this.#sockets) socket.resetAndDestroy();
    await closed;
  }

  stall(): void {
    this.#mode = 'stall';
    for (const socket of this.#sockets) {
      socket.unpipe();
      socket.pause();
    }
  }

  async restore(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    if (!this.#server) await this.#listen();
    this.#mode = 'forward';
  }

  async close(): Promise<void> {
    await this.cut();
  }
}
