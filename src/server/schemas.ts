/**
 * JSON schemas shared by the routes. Requests are closed (`additionalProperties: false`: an unknown field is
 * a 400, never silently dropped); responses name what they return, so nothing else is serialised.
 */

export const UUID = { type: 'string', format: 'uuid' } as const;
export const DATE = { type: 'string', format: 'date', description: 'YYYY-MM-DD' } as const;
export const DATE_TIME = { type: 'string', format: 'date-time' } as const;

export const NO_QUERY = { type: 'object', additionalProperties: false, properties: {} } as const;

export function idParams<const Names extends readonly string[]>(...names: Names) {
  return {
    type: 'object',
    additionalProperties: false,
    required: names,
    properties: Object.fromEntries(names.map((n) => [n, UUID])) as { [Name in Names[number]]: typeof UUID },
  } as const;
}

/** A FHIR resource of the given type, as records/ validates and returns it (its content is records/'s to check). */
export function fhirResource(resourceType: string | readonly string[], description?: string) {
  const type = typeof resourceType === 'string' ? { const: resourceType } : { enum: resourceType };
  return {
    type: 'object',
    required: ['resourceType'],
    additionalProperties: true,
    properties: { resourceType: { type: 'string', ...type } },
    ...(description !== undefined && { description }),
  } as const;
}

export const MATCH_GRADE = { type: 'string', enum: ['certain', 'probable', 'possible', 'certainly-not'] } as const;

export const OK = { type: 'object', additionalProperties: false, required: ['ok'], properties: { ok: { type: 'boolean' } } } as const;

export const QUALITY = {
  type: 'object',
  additionalProperties: false,
  properties: { reasons: { type: 'array', items: { type: 'string' } } },
} as const;

export const IDENTITY_ESTABLISHED = {
  type: 'object',
  additionalProperties: false,
  required: ['method', 'at', 'matchGrade', 'matchScore'],
  properties: {
    method: { type: 'string' },
    at: DATE_TIME,
    matchGrade: { anyOf: [MATCH_GRADE, { type: 'null' }] },
    matchScore: { type: ['number', 'null'] },
  },
} as const;

export const USER_ACCOUNT = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'username', 'roles'],
  properties: {
    id: { type: 'string' },
    username: { type: 'string' },
    displayName: { type: ['string', 'null'] },
    roles: { type: 'array', items: { type: 'string' } },
    patientId: { type: ['string', 'null'] },
    createdAt: DATE_TIME,
    updatedAt: DATE_TIME,
    disabledAt: { type: ['string', 'null'] },
  },
} as const;

export const SESSION = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'idleExpiresAt', 'expiresAt', 'established'],
  properties: {
    id: { type: 'string' },
    lastSeenAt: DATE_TIME,
    idleExpiresAt: DATE_TIME,
    expiresAt: DATE_TIME,
    established: IDENTITY_ESTABLISHED,
  },
} as const;

/**
 * The optional body of a DELETE that staff give a reason for (consent withdrawal, erasure): kept in the audit
 * entry. The route's `preValidation: bodyOptional` lets a DELETE without a body through as `{}`.
 */
export const REASON_BODY = {
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', minLength: 1, maxLength: 500, description: 'Why, in words (e.g. "patient asked at the front desk")' } },
} as const;

export async function bodyOptional(request: { body: unknown }): Promise<void> {
  request.body ??= {};
}

/** A patient named in a work list (services/people.ts), for those who may see names. */
export const PATIENT_LABEL = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'birthDate'],
  properties: { id: { type: 'string' }, name: { type: 'string' }, birthDate: { type: ['string', 'null'] } },
} as const;

/** A user named in a work list (services/people.ts), for those who may see accounts. */
export const USER_LABEL = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'username', 'displayName'],
  properties: { id: { type: 'string' }, username: { type: 'string' }, displayName: { type: ['string', 'null'] } },
} as const;
