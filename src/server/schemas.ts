/**
 * JSON schemas shared by the routes. Requests are closed (`additionalProperties: false`: an unknown field is
 * a 400, never silently dropped); responses name what they return, so nothing else is serialised.
 */

/**
 * A closed object schema: in a request an unknown field is refused, in a response nothing but `properties` is
 * serialised. Its keys keep the order the schemas were first written in (type, additionalProperties, required,
 * properties), which is the order the OpenAPI document shows them in.
 */
export function closedObject<const Properties extends Readonly<Record<string, unknown>>>(
  properties: Properties,
): { readonly type: 'object'; readonly additionalProperties: false; readonly properties: Properties };
export function closedObject<const Properties extends Readonly<Record<string, unknown>>, const Required extends readonly (keyof Properties & string)[]>(
  properties: Properties,
  required: Required,
): { readonly type: 'object'; readonly additionalProperties: false; readonly required: Required; readonly properties: Properties };
export function closedObject(properties: Readonly<Record<string, unknown>>, required?: readonly string[]): object {
  return required === undefined ? { type: 'object', additionalProperties: false, properties } : { type: 'object', additionalProperties: false, required, properties };
}

export const UUID = { type: 'string', format: 'uuid' } as const;
export const DATE = { type: 'string', format: 'date', description: 'YYYY-MM-DD' } as const;
export const DATE_TIME = { type: 'string', format: 'date-time' } as const;

export const NO_QUERY = closedObject({});

export function idParams<const Names extends readonly string[]>(...names: Names) {
  return closedObject(Object.fromEntries(names.map((n) => [n, UUID])) as { [Name in Names[number]]: typeof UUID }, names);
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

export const OK = closedObject({ ok: { type: 'boolean' } }, ['ok']);

export const QUALITY = closedObject({ reasons: { type: 'array', items: { type: 'string' } } });

export const IDENTITY_ESTABLISHED = closedObject(
  {
    method: { type: 'string' },
    at: DATE_TIME,
    matchGrade: { anyOf: [MATCH_GRADE, { type: 'null' }] },
    matchScore: { type: ['number', 'null'] },
  },
  ['method', 'at', 'matchGrade', 'matchScore'],
);

export const USER_ACCOUNT = closedObject(
  {
    id: { type: 'string' },
    username: { type: 'string' },
    displayName: { type: ['string', 'null'] },
    roles: { type: 'array', items: { type: 'string' } },
    patientId: { type: ['string', 'null'] },
    createdAt: DATE_TIME,
    updatedAt: DATE_TIME,
    disabledAt: { type: ['string', 'null'] },
  },
  ['id', 'username', 'roles'],
);

export const SESSION = closedObject(
  {
    id: { type: 'string' },
    lastSeenAt: DATE_TIME,
    idleExpiresAt: DATE_TIME,
    expiresAt: DATE_TIME,
    established: IDENTITY_ESTABLISHED,
  },
  ['id', 'idleExpiresAt', 'expiresAt', 'established'],
);

/**
 * The optional body of a DELETE that staff give a reason for (consent withdrawal, erasure): kept in the audit
 * entry. The route's `preValidation: bodyOptional` lets a DELETE without a body through as `{}`.
 */
export const REASON_BODY = closedObject({ reason: { type: 'string', minLength: 1, maxLength: 500, description: 'Why, in words (e.g. "patient asked at the front desk")' } });

export async function bodyOptional(request: { body: unknown }): Promise<void> {
  request.body ??= {};
}

/** The patient search's criteria, as REST names them (FHIR's `birthdate` is `birthDate` here). */
export const PATIENT_CRITERIA = {
  name: { type: 'string', minLength: 1, maxLength: 200 },
  birthDate: { type: 'string', pattern: '^\\d{4}(-\\d{2}(-\\d{2})?)?$' },
  identifier: { type: 'string', minLength: 1, maxLength: 300 },
  gender: { type: 'string', enum: ['male', 'female', 'other', 'unknown'] },
} as const;

/** A patient named in a work list (services/patients/people.ts), for those who may see names. */
export const PATIENT_LABEL = closedObject({ id: { type: 'string' }, name: { type: 'string' }, birthDate: { type: ['string', 'null'] } }, ['id', 'name', 'birthDate']);

/** A user named in a work list (services/patients/people.ts), for those who may see accounts. */
export const USER_LABEL = closedObject({ id: { type: 'string' }, username: { type: 'string' }, displayName: { type: ['string', 'null'] } }, ['id', 'username', 'displayName']);
