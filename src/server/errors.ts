import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { isMedfaceError, MedfaceError, type ErrorCode } from '../errors.js';

/**
 * Every failure leaves the server as `{error: {code, message, details?}}` with the code's HTTP status: a
 * MedfaceError as it is, Fastify's own refusals (validation, body size, media type, malformed JSON) under
 * medface codes, anything else as INTERNAL with the request id to quote. Never a stack trace; details
 * only for the client's own mistakes (4xx), since server-side details can name files and keys.
 */

export interface HttpError {
  status: number;
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
  /** Seconds before trying again (429, 503), sent as Retry-After. */
  retryAfter?: number;
}

/** How long a client should wait after the face pool or the store turned it away (seconds). */
const RETRY_AFTER: Partial<Record<ErrorCode, number>> = { ENGINE_BUSY: 2, ENGINE_CLOSED: 5, STORE_UNAVAILABLE: 5, SERVER_BUSY: 2 };

export function toHttpError(error: unknown, requestId: string): HttpError {
  if (isMedfaceError(error)) return fromMedface(error);
  const e = error as Partial<FastifyError> & { validation?: ValidationIssue[]; validationContext?: string };
  if (Array.isArray(e.validation)) {
    const issues = e.validation.map((v) => ({ path: issuePath(e.validationContext ?? 'body', v), message: v.message ?? 'is invalid' }));
    const first = issues[0];
    return {
      status: 400,
      code: 'VALIDATION_FAILED',
      message: first ? `${first.path} ${first.message}` : 'the request is invalid',
      details: { issues },
    };
  }
  switch (e.code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return fromMedface(new MedfaceError('IMAGE_TOO_LARGE', 'an uploaded image is larger than the limit'));
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_PARTS_LIMIT':
    case 'FST_FILES_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return { status: 413, code: 'BODY_TOO_LARGE', message: 'the request body is larger than this route accepts' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send application/json (or multipart/form-data where images are uploaded)' };
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return { status: 400, code: 'VALIDATION_FAILED', message: 'a path segment is too long' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, code: 'VALIDATION_FAILED', message: 'the body is not valid JSON' };
  }
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status === 404) return { status, code: 'NOT_FOUND', message: 'not found' };
  if (status >= 400 && status < 500) return { status: 400, code: 'VALIDATION_FAILED', message: 'the request is malformed' };
  return { status: 500, code: 'INTERNAL', message: `internal error; quote request id ${requestId}` };
}

function fromMedface(e: MedfaceError): HttpError {
  const retry = e.details?.retryAfterSeconds;
  const retryAfter = typeof retry === 'number' ? retry : RETRY_AFTER[e.code];
  return {
    status: e.status,
    code: e.code,
    message: e.message,
    ...(e.status < 500 && e.details && { details: e.details }),
    ...(retryAfter !== undefined && { retryAfter }),
  };
}

interface ValidationIssue {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** `body.image`, `querystring.top`: where the problem is, never the value found there. */
function issuePath(context: string, v: ValidationIssue): string {
  const path = (v.instancePath ?? '').split('/').filter(Boolean).join('.');
  const extra = v.params?.additionalProperty ?? v.params?.missingProperty;
  return [context, path, typeof extra === 'string' ? extra : ''].filter(Boolean).join('.');
}

/** Sends the error: status, Retry-After when there is one, the error body; logs what the operator needs. */
export function sendError(request: FastifyRequest, reply: FastifyReply, error: unknown, render: (e: HttpError) => unknown = errorBody): FastifyReply {
  const http = toHttpError(error, request.id);
  request.errorCode = http.code;
  if (http.status >= 500) request.log.error({ err: error }, 'request failed');
  if (http.retryAfter !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(http.retryAfter))));
  return reply.code(http.status).send(render(http));
}

/**
 * What Node's HTTP parser refuses before there is a request (headers too large, not HTTP at all, too slow):
 * the same error body on the raw socket, then the connection closes. Fastify's default sends a shape of its own.
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const refusal =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new MedfaceError('HEADERS_TOO_LARGE', 'the request headers are larger than the server accepts')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new MedfaceError('REQUEST_TIMEOUT', 'the request took too long to arrive')
        : new MedfaceError('VALIDATION_FAILED', 'the request is not well-formed HTTP');
  const body = JSON.stringify(errorBody({ status: refusal.status, code: refusal.code, message: refusal.message }));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

export function errorBody(e: HttpError): { error: { code: string; message: string; details?: Record<string, unknown> } } {
  return { error: { code: e.code, message: e.message, ...(e.details && { details: e.details }) } };
}

/** The error body's JSON schema, on every route's 4xx and 5xx responses. */
export const ERROR_SCHEMA = {
  $id: 'medface-error',
  type: 'object',
  description: "Every failure: a stable code, a human message and, for the client's own mistakes, machine-readable details.",
  required: ['error'],
  additionalProperties: false,
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      additionalProperties: false,
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        details: { type: 'object', additionalProperties: true },
      },
    },
  },
} as const;

declare module 'fastify' {
  interface FastifyRequest {
    /** The code of the error answered, for the request's log line. */
    errorCode: string | null;
  }
}
