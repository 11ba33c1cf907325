import type { FastifyReply, FastifyRequest } from 'fastify';
import type { MedfaceError } from '../errors.js';

/**
 * At most `limit` requests of one kind in flight; one more is refused at once (503 with Retry-After, through
 * the error it is given) before its body is read. The face pool bounds the work it queues, but a request
 * holds its upload (up to tens of MiB of base64) from the moment its body is read, and a password sign-in
 * holds an argon2 hash (19 MiB) while it waits for a thread: without a gate in front, a burst would make the
 * server hold every body, or queue every hash, however many arrive.
 */
export class Admission {
  #inFlight = 0;

  constructor(
    readonly limit: number,
    private readonly refusal: () => MedfaceError,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`an admission limit is a positive integer, not ${limit}`);
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * A route's onRequest hook (it runs after authentication, so only callers allowed in take a place); the
   * place is given back when the response is done or its connection closes, whichever comes first.
   */
  readonly admit = async (_request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (this.#inFlight >= this.limit) throw this.refusal();
    this.#inFlight++;
    reply.raw.once('close', () => this.#inFlight--);
  };
}
