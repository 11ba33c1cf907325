/**
 * The server's REST API as the pages use it: same origin, the session cookie set at sign-in, and the CSRF
 * token from GET /api/v1/auth/csrf echoed on every state-changing request.
 */

import type { Candidate, CsrfToken, ErrorBody, Fhir, PatientLabel } from '../../src/server/contract.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The error's machine-readable details (e.g. `reasons` of a refused photo, the otpauth URI of a TOTP enrolment at first sign-in). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

let csrfToken: string | null = null;

async function csrf(): Promise<string> {
  if (csrfToken === null) {
    const response = await fetch('/api/v1/auth/csrf', { credentials: 'same-origin' });
    const body: CsrfToken = await response.json();
    csrfToken = body.csrfToken;
  }
  return csrfToken;
}

export async function api<T>(method: string, path: string, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...extraHeaders };
  if (method !== 'GET') headers['x-csrf-token'] = await csrf();
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, { method, headers, credentials: 'same-origin', ...(body !== undefined && { body: JSON.stringify(body) }) });
  return answer<T>(response.status, response.statusText, await response.text());
}

/**
 * `api` for a large body (the frames a liveness check filmed), telling `onSent` how much of it has gone (0 to
 * 1): through XMLHttpRequest, since fetch reports no upload progress. A network failure rejects with a
 * TypeError, as fetch does.
 */
export async function upload<T>(method: string, path: string, body: unknown, onSent: (fraction: number) => void): Promise<T> {
  const token = await csrf();
  const { status, statusText, text } = await new Promise<{ status: number; statusText: string; text: string }>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, path);
    xhr.setRequestHeader('accept', 'application/json');
    xhr.setRequestHeader('content-type', 'application/json');
    xhr.setRequestHeader('x-csrf-token', token);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onSent(e.loaded / e.total);
    };
    xhr.upload.onload = () => onSent(1);
    xhr.onload = () => resolve({ status: xhr.status, statusText: xhr.statusText, text: xhr.responseText });
    xhr.onerror = () => reject(new TypeError('network error'));
    xhr.send(JSON.stringify(body));
  });
  return answer<T>(status, statusText, text);
}

/**
 * The body of a response as `T` (the contract's type of the route's response schema, which the server serialises
 * it by), or its error (the error schema; absent when something before the server answered) as an ApiError.
 */
function answer<T>(status: number, statusText: string, text: string): T {
  if (status < 200 || status > 299) {
    const body: Partial<ErrorBody> | null = text ? JSON.parse(text) : null;
    const error = body?.error;
    throw new ApiError(status, error?.code ?? 'HTTP_' + status, error?.message ?? statusText, error?.details);
  }
  const json: T = text ? JSON.parse(text) : null;
  return json;
}

/** How long a refusal for too many attempts asks to wait, in words ("15 minutes"), or null when it gives no time. */
export function waitOf(e: ApiError): string | null {
  const seconds = e.details.retryAfterSeconds;
  if (typeof seconds !== 'number' || seconds <= 0) return null;
  const [amount, unit] = seconds < 60 ? [seconds, 'second'] : seconds < 3600 ? [Math.ceil(seconds / 60), 'minute'] : [Math.ceil(seconds / 3600), 'hour'];
  return `${amount} ${unit}${amount === 1 ? '' : 's'}`;
}

export function query(params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** "Alice Liddell (born 1990-04-01)", or the id when the list did not name the patient. */
export function labelOf(patient: PatientLabel | undefined, id: string): string {
  return patient ? `${patient.name || '(no name)'} (born ${patient.birthDate ?? 'unknown'})` : id;
}

/** How many candidates and how strong the best is: "1 candidate: a “certain” match" (never "possible patient" for a certain one). */
export function candidateCount(candidates: readonly Candidate[]): string {
  const best = candidates[0];
  if (!best) return 'No candidate';
  return candidates.length === 1 ? `1 candidate: a “${best.grade}” match` : `${candidates.length} candidates, the best a “${best.grade}” match`;
}

export function patientName(patient: Fhir.Patient): string {
  const name = patient.name?.[0];
  if (!name) return '(no name)';
  return name.text ?? [...(name.given ?? []), name.family ?? ''].join(' ').trim();
}
