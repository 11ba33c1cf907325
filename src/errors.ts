/**
 * Errors as data: every refusal medface makes carries a stable machine-readable code, a human message
 * and the HTTP status an API would answer with. Messages never contain images, embeddings, keys or PHI.
 */
export type ErrorCode =
  // image intake
  | 'EMPTY_IMAGE'
  | 'IMAGE_TOO_LARGE'
  | 'IMAGE_DIMENSIONS_TOO_LARGE'
  | 'UNSUPPORTED_FORMAT'
  | 'CORRUPT_IMAGE'
  // face analysis
  | 'NO_FACE'
  | 'MULTIPLE_FACES'
  | 'QUALITY_REJECTED'
  | 'MODEL_MISMATCH'
  | 'ENGINE_BUSY'
  | 'ENGINE_CLOSED'
  | 'ENGINE_FAILED'
  // configuration and data sets
  | 'INVALID_ARGUMENT'
  | 'INVALID_DATASET'
  | 'THRESHOLDS_MISSING'
  | 'THRESHOLDS_INVALID'
  // storage, records, identity
  | 'NOT_FOUND'
  | 'CONFLICT'
  // an If-Match naming a version that is no longer current
  | 'PRECONDITION_FAILED'
  | 'VALIDATION_FAILED'
  | 'CONSENT_REQUIRED'
  | 'DUPLICATE_SUSPECTED'
  // enrolling a face that does not match the patient's enrolled face
  | 'FACE_MISMATCH'
  | 'TEMPLATE_LIMIT'
  | 'KEY_MISSING'
  | 'KEY_INVALID'
  | 'STORE_UNAVAILABLE'
  // people, sign-in and authorisation
  | 'SIGN_IN_FAILED'
  | 'PASSWORD_CHANGE_REQUIRED'
  // a first sign-in after an administrator's reset: scan the otpauth URI in the details, then sign in with its code
  | 'TOTP_ENROLMENT_REQUIRED'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'TOO_MANY_ATTEMPTS'
  // telemedicine identity checks: the link has run out, or has been used
  | 'CHECK_EXPIRED'
  | 'CHECK_USED'
  // active liveness: the challenge is unknown (or for another flow), used already or past its deadline; the check failed or was not done
  | 'CHALLENGE_UNKNOWN'
  | 'CHALLENGE_USED'
  | 'CHALLENGE_EXPIRED'
  | 'LIVENESS_FAILED'
  | 'LIVENESS_REQUIRED'
  // HTTP transport
  | 'CSRF_REJECTED'
  | 'RATE_LIMITED'
  | 'BODY_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'SERVER_BUSY'
  | 'HEADERS_TOO_LARGE'
  | 'REQUEST_TIMEOUT'
  | 'INTERNAL';

const STATUS: Record<ErrorCode, number> = {
  EMPTY_IMAGE: 400,
  IMAGE_TOO_LARGE: 413,
  IMAGE_DIMENSIONS_TOO_LARGE: 413,
  UNSUPPORTED_FORMAT: 415,
  CORRUPT_IMAGE: 400,
  NO_FACE: 422,
  MULTIPLE_FACES: 422,
  QUALITY_REJECTED: 422,
  MODEL_MISMATCH: 409,
  ENGINE_BUSY: 503,
  ENGINE_CLOSED: 503,
  ENGINE_FAILED: 500,
  INVALID_ARGUMENT: 400,
  INVALID_DATASET: 400,
  THRESHOLDS_MISSING: 500,
  THRESHOLDS_INVALID: 500,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
  VALIDATION_FAILED: 400,
  CONSENT_REQUIRED: 409,
  DUPLICATE_SUSPECTED: 409,
  FACE_MISMATCH: 409,
  TEMPLATE_LIMIT: 409,
  KEY_MISSING: 500,
  KEY_INVALID: 500,
  STORE_UNAVAILABLE: 503,
  SIGN_IN_FAILED: 401,
  PASSWORD_CHANGE_REQUIRED: 403,
  TOTP_ENROLMENT_REQUIRED: 403,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  TOO_MANY_ATTEMPTS: 429,
  CHECK_EXPIRED: 410,
  CHECK_USED: 410,
  CHALLENGE_UNKNOWN: 404,
  CHALLENGE_USED: 410,
  CHALLENGE_EXPIRED: 410,
  LIVENESS_FAILED: 422,
  LIVENESS_REQUIRED: 400,
  CSRF_REJECTED: 403,
  RATE_LIMITED: 429,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  SERVER_BUSY: 503,
  HEADERS_TOO_LARGE: 431,
  REQUEST_TIMEOUT: 408,
  INTERNAL: 500,
};

export class MedfaceError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra machine-readable facts (e.g. quality reason codes); never PHI or biometric data. */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'MedfaceError';
    this.code = code;
    this.status = STATUS[code];
    this.details = details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message };
  }
}

export function isMedfaceError(e: unknown): e is MedfaceError {
  return e instanceof MedfaceError;
}

/** The HTTP status of an error code as recorded (e.g. in the audit trail); undefined for one medface does not define. */
export function statusOfCode(code: string): number | undefined {
  return Object.hasOwn(STATUS, code) ? STATUS[code as ErrorCode] : undefined;
}
