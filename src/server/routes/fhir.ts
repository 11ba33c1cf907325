import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Operation } from '../../access/policy.js';
import { canonicalJson } from '../../audit/canonical.js';
import { toFhirAuditEvent } from '../../audit/export.js';
import { MedfaceError } from '../../errors.js';
import { CLINICAL_RESOURCE_TYPES } from '../../records/clinical-checks.js';
import type { ClinicalResourceType } from '../../records/fhir.js';
import { searchAuditLog } from '../../services/operations/audit.js';
import { readPatientRecord, searchPatientRecords, updatePatientRecord } from '../../services/patients/patients.js';
import { actorOf, listConsents, listRecords, patientOfConsent, patientOfResource, readConsent, readRecord } from '../../services/patients/records.js';
import { callerOf, requestField } from '../access.js';
import type { RoutePlugin } from '../context.js';
import { sendError, type HttpError } from '../errors.js';
import { closedObject, fhirResource, NO_QUERY, PATIENT_CRITERIA } from '../schemas.js';
import { versionOf } from './patients.js';

/**
 * FHIR R4 reads and searches (`application/fhir+json`): Patient, the clinical resources, Consent and
 * AuditEvent. A search answers a `searchset` Bundle; an error an OperationOutcome with the same status and
 * medface's error code as its coding. Patient update (`PUT`, versioned with If-Match) is here too; the other
 * writes go through the REST API (`/api/v1`), which audits and authorises them the same way.
 */

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const FHIR_VERSION = '4.0.1';
const ERROR_SYSTEM = 'urn:medface:error';
const ID = { type: 'string', pattern: '^[A-Za-z0-9\\-.]{1,64}$' } as const;
const ID_PARAMS = closedObject({ id: ID }, ['id']);
const COUNT = { type: 'integer', minimum: 1, maximum: 200 } as const;

const BUNDLE = closedObject(
  {
    resourceType: { type: 'string', const: 'Bundle' },
    type: { type: 'string', const: 'searchset' },
    timestamp: { type: 'string' },
    total: { type: 'integer' },
    link: { type: 'array', items: closedObject({ relation: { type: 'string' }, url: { type: 'string' } }) },
    entry: {
      type: 'array',
      items: closedObject({
        fullUrl: { type: 'string' },
        resource: { type: 'object', additionalProperties: true },
        search: closedObject({ mode: { type: 'string' } }),
      }),
    },
  },
  ['resourceType', 'type', 'total', 'entry'],
);

/** The body of every FHIR error response. */
export const OPERATION_OUTCOME = {
  type: 'object',
  additionalProperties: true,
  required: ['resourceType', 'issue'],
  properties: { resourceType: { type: 'string', const: 'OperationOutcome' } },
} as const;

const ISSUE_CODE: Record<string, string> = {
  VALIDATION_FAILED: 'invalid',
  INVALID_ARGUMENT: 'invalid',
  NOT_FOUND: 'not-found',
  UNAUTHENTICATED: 'login',
  FORBIDDEN: 'forbidden',
  CSRF_REJECTED: 'forbidden',
  TOO_MANY_ATTEMPTS: 'throttled',
  RATE_LIMITED: 'throttled',
  BODY_TOO_LARGE: 'too-costly',
  UNSUPPORTED_MEDIA_TYPE: 'not-supported',
  CONFLICT: 'conflict',
};

export function operationOutcome(e: HttpError) {
  return {
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'error',
        code: ISSUE_CODE[e.code] ?? (e.status >= 500 ? 'exception' : 'processing'),
        details: { coding: [{ system: ERROR_SYSTEM, code: e.code }], text: e.message },
        diagnostics: e.message,
      },
    ],
  };
}

/** The patient a search names: `patient=<id>`, `patient=Patient/<id>` or `subject=Patient/<id>`. */
function searchedPatient(request: FastifyRequest): string {
  const patient: unknown = Reflect.get(Object(request.query), 'patient');
  const subject: unknown = Reflect.get(Object(request.query), 'subject');
  const reference = typeof patient === 'string' ? patient : typeof subject === 'string' ? subject : undefined;
  if (reference === undefined) {
    throw new MedfaceError('VALIDATION_FAILED', 'a search of patient records names the patient', {
      issues: [{ path: 'querystring.patient', message: 'is required' }],
    });
  }
  return reference.startsWith('Patient/') ? reference.slice('Patient/'.length) : reference;
}

export const fhirRoutes: RoutePlugin = async (app, { deployment, publicUrl }) => {
  const { medface } = deployment;

  app.setErrorHandler((error, request, reply) => sendError(request, reply, error, operationOutcome).type(FHIR_JSON));
  app.setNotFoundHandler({}, (request, reply) => {
    sendError(request, reply, new MedfaceError('NOT_FOUND', 'no such FHIR endpoint'), operationOutcome).type(FHIR_JSON);
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.getHeader('content-type')?.toString().startsWith('application/json')) reply.type(FHIR_JSON);
    return payload;
  });

  // the configured address, never the request's Host header (a client could make the links point anywhere)
  const base = `${publicUrl ?? ''}/fhir`;
  const bundle = (request: FastifyRequest, resources: readonly { resourceType: string; id?: string }[]) => ({
    resourceType: 'Bundle' as const,
    type: 'searchset' as const,
    timestamp: new Date().toISOString(),
    total: resources.length,
    link: [{ relation: 'self', url: `${base}${request.url.slice('/fhir'.length)}` }],
    entry: resources.map((resource) => ({ fullUrl: `${base}/${resource.resourceType}/${resource.id}`, resource, search: { mode: 'match' } })),
  });
  const send = (reply: FastifyReply, body: unknown) => reply.type(FHIR_JSON).send(body);

  app.get(
    '/metadata',
    {
      config: { access: 'public' },
      schema: { tags: ['fhir'], summary: 'The CapabilityStatement: what this FHIR endpoint reads and searches', querystring: NO_QUERY, response: { 200: fhirResource('CapabilityStatement') } },
    },
    async (_request, reply) =>
      send(reply, {
        resourceType: 'CapabilityStatement',
        status: 'active',
        date: new Date().toISOString(),
        kind: 'instance',
        fhirVersion: FHIR_VERSION,
        format: ['application/fhir+json'],
        rest: [
          {
            mode: 'server',
            resource: [
              {
                type: 'Patient',
                interaction: [{ code: 'read' }, { code: 'update' }, { code: 'search-type' }],
                searchParam: ['name', 'birthdate', 'identifier', 'gender'].map((name) => ({ name, type: name === 'birthdate' ? 'date' : 'string' })),
              },
              ...[...CLINICAL_RESOURCE_TYPES, 'Consent'].map((type) => ({
                type,
                interaction: [{ code: 'read' }, { code: 'search-type' }],
                searchParam: [{ name: 'patient', type: 'reference' }],
              })),
              { type: 'AuditEvent', interaction: [{ code: 'search-type' }], searchParam: ['patient', 'agent', 'subtype', 'date'].map((name) => ({ name, type: name === 'date' ? 'date' : 'token' })) },
            ],
          },
        ],
      }),
  );

  const PATIENT = fhirResource('Patient');
  app.get(
    '/Patient/:id',
    {
      config: { access: { operation: 'patient.read-demographics', patient: (r) => requestField(r, 'params', 'id') } },
      schema: { tags: ['fhir'], summary: 'Read a Patient', params: ID_PARAMS, querystring: NO_QUERY, response: { 200: PATIENT } },
    },
    async (request, reply) => send(reply, await readPatientRecord(medface, request.params.id, actorOf(callerOf(request)))),
  );

  app.put(
    '/Patient/:id',
    {
      config: { access: { operation: 'patient.write', patient: (r) => requestField(r, 'params', 'id') } },
      schema: {
        tags: ['fhir'],
        summary: 'Update a Patient (If-Match: W/"<versionId>" refuses a stale edit with 412)',
        params: ID_PARAMS,
        querystring: NO_QUERY,
        headers: { type: 'object', properties: { 'if-match': { type: 'string', maxLength: 40 } } },
        body: PATIENT,
        response: { 200: PATIENT },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (request.body.id !== id) {
        throw new MedfaceError('VALIDATION_FAILED', 'Patient.id must be the id in the URL', { issues: [{ path: 'Patient.id', message: 'must equal the id in the URL' }] });
      }
      const patient = await updatePatientRecord(medface, request.body, actorOf(callerOf(request)), versionOf(request.headers['if-match']));
      return send(reply.header('etag', `W/"${patient.meta?.versionId}"`), patient);
    },
  );

  app.get(
    '/Patient',
    {
      config: { access: { operation: 'patient.search' } },
      schema: {
        tags: ['fhir'],
        summary: 'Search Patients (name, birthdate, identifier, gender)',
        querystring: closedObject({
          name: PATIENT_CRITERIA.name,
          birthdate: PATIENT_CRITERIA.birthDate,
          identifier: PATIENT_CRITERIA.identifier,
          gender: PATIENT_CRITERIA.gender,
          _count: COUNT,
        }),
        response: { 200: BUNDLE },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const patients = await searchPatientRecords(medface, { name: q.name, birthDate: q.birthdate, identifier: q.identifier, gender: q.gender, limit: q._count }, actorOf(callerOf(request)));
      return send(reply, bundle(request, patients));
    },
  );

  const PATIENT_SEARCH = closedObject({ patient: { type: 'string', minLength: 1, maxLength: 80 }, subject: { type: 'string', minLength: 1, maxLength: 80 } });

  for (const type of CLINICAL_RESOURCE_TYPES) {
    // front desk sees encounters; everything else is clinical content
    const operation: Operation = type === 'Encounter' ? 'encounter.read' : 'record.read';
    app.get(
      `/${type}/:id`,
      {
        config: { access: { operation, patient: (r) => patientOfResource(medface, type, requestField(r, 'params', 'id')) } },
        schema: { tags: ['fhir'], summary: `Read a ${type}`, params: ID_PARAMS, querystring: NO_QUERY, response: { 200: fhirResource(type) } },
      },
      async (request, reply) => send(reply, await readRecord(medface, type, request.params.id, actorOf(callerOf(request)))),
    );
    app.get(
      `/${type}`,
      {
        config: { access: { operation, patient: searchedPatient } },
        schema: { tags: ['fhir'], summary: `Search a patient's ${type} resources (patient=<id>)`, querystring: PATIENT_SEARCH, response: { 200: BUNDLE } },
      },
      async (request, reply) => send(reply, bundle(request, await listRecords(medface, searchedPatient(request), type as ClinicalResourceType, actorOf(callerOf(request))))),
    );
  }

  app.get(
    '/Consent/:id',
    {
      config: { access: { operation: 'consent.read', patient: (r) => patientOfConsent(medface, requestField(r, 'params', 'id')) } },
      schema: { tags: ['fhir'], summary: 'Read a Consent', params: ID_PARAMS, querystring: NO_QUERY, response: { 200: fhirResource('Consent') } },
    },
    async (request, reply) => send(reply, await readConsent(medface, request.params.id, actorOf(callerOf(request)))),
  );

  app.get(
    '/Consent',
    {
      config: { access: { operation: 'consent.read', patient: searchedPatient } },
      schema: { tags: ['fhir'], summary: "Search a patient's Consents (patient=<id>)", querystring: PATIENT_SEARCH, response: { 200: BUNDLE } },
    },
    async (request, reply) => send(reply, bundle(request, await listConsents(medface, searchedPatient(request), actorOf(callerOf(request))))),
  );

  const DATE_PARAM = { type: 'string', pattern: '^(ge|lt)\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2}))?$' } as const;
  app.get(
    '/AuditEvent',
    {
      config: { access: { operation: 'audit.read' } },
      schema: {
        tags: ['fhir'],
        summary: 'Search the audit trail: patient, agent (actor id), subtype (medface action), date=ge…/date=lt…',
        querystring: closedObject({
          patient: { type: 'string', minLength: 1, maxLength: 80 },
          agent: { type: 'string', minLength: 1, maxLength: 200 },
          subtype: { type: 'string', minLength: 1, maxLength: 200 },
          date: { type: 'array', maxItems: 2, items: DATE_PARAM },
          _count: { type: 'integer', minimum: 1, maximum: 1000 },
        }),
        response: { 200: BUNDLE },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const bound = (prefix: string) => {
        const value = q.date?.find((d) => d.startsWith(prefix))?.slice(2);
        return value === undefined ? undefined : new Date(value);
      };
      const events = await searchAuditLog(
        medface,
        {
          patientId: q.patient?.replace(/^Patient\//, ''),
          actor: q.agent,
          action: q.subtype,
          from: bound('ge'),
          to: bound('lt'),
          limit: q._count,
        },
        actorOf(callerOf(request)),
      );
      const resources = events.map((e) => toFhirAuditEvent({ ...e, details: canonicalJson(e.details) }));
      return send(reply, bundle(request, resources));
    },
  );
};
