import type { FastifyInstance, FastifyServerOptions } from 'fastify';

/**
 * Structured logs (pino, JSON lines) that carry no PHI, images, embeddings or secrets. A request is logged
 * once, when answered, as its method, route pattern (`/api/v1/patients/:id`, never the URL: paths and query
 * strings carry patient ids, names and birth dates), status, duration, request id and error code. Bodies
 * and headers are never logged; the redaction list is a second line of defence should anything log them.
 */

const REDACTED_KEYS = ['authorization', 'cookie', 'set-cookie', 'password', 'newPassword', 'code', 'pin', 'birthDate', 'image', 'images', 'embedding', 'token', 'key', 'totpUri'];

export const REDACT_PATHS = ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]', ...REDACTED_KEYS.flatMap((k) => [`${quoted(k)}`, `*.${quoted(k)}`, `*.*.${quoted(k)}`])];

function quoted(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
}

export interface LogOptions {
  /** pino level (default info). */
  level?: string;
  /** Where log lines go (default stdout); tests capture them. */
  stream?: NodeJS.WritableStream;
}

export function loggerOptions(options: LogOptions): FastifyServerOptions['logger'] {
  return {
    level: options.level ?? 'info',
    ...(options.stream && { stream: options.stream }),
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      // what Fastify would log of a request or reply by default (URL, headers, address) is replaced
      req: (req: { method?: string; routeOptions?: { url?: string }; id?: string }) => ({ method: req.method, route: req.routeOptions?.url ?? null }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      err: (err: Error & { code?: unknown }) => ({ type: err.name, code: err.code, message: err.message, stack: err.stack ?? '' }),
    },
  };
}

/** One line per answered request. */
export function logRequests(app: FastifyInstance): void {
  app.decorateRequest('errorCode', null);
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        route: request.routeOptions.url ?? null,
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 10) / 10,
        ...(request.errorCode !== null && { error: request.errorCode }),
      },
      'request completed',
    );
  });
}
