import type { FastifyRequest } from 'fastify';
import type { Operation } from '../../access/policy.js';
import { MedfaceError } from '../../errors.js';
import { CLINICAL_RESOURCE_TYPES } from '../../records/clinical-checks.js';
import { actorOf, createRecord, patientOfInput, patientOfResource, readPatientChart, updateRecord } from '../../services/patients/records.js';
import { callerOf, requestField } from '../access.js';
import type { RoutePlugin } from '../context.js';
import { closedObject, DATE_TIME, fhirResource, idParams, IDENTITY_ESTABLISHED, NO_QUERY, UUID } from '../schemas.js';

const CLINICAL = fhirResource(CLINICAL_RESOURCE_TYPES, `A FHIR R4 ${CLINICAL_RESOURCE_TYPES.join(', ')}`);
const patientParam = (r: FastifyRequest) => requestField(r, 'params', 'patientId');

/** Opening a visit is front-desk work; every other clinical write is clinical content. */
function writeOperation(request: FastifyRequest): Operation {
  return requestField(request, 'body', 'resourceType') === 'Encounter' ? 'encounter.create' : 'record.write';
}

/** A resource that names no patient is the writer's mistake (400), not a refusal. */
function noPatient(body: unknown): never {
  const element = Reflect.get(Object(body), 'resourceType') === 'AllergyIntolerance' ? 'patient' : 'subject';
  throw new MedfaceError('VALIDATION_FAILED', `body.${element}.reference must name the patient (Patient/<id>)`, {
    issues: [{ path: `body.${element}.reference`, message: 'must be Patient/<id>' }],
  });
}

const CHART = closedObject(
  {
    patient: fhirResource('Patient'),
    resources: {
      type: 'object',
      additionalProperties: false,
      description: 'Resources by type; a type the viewer may not see is absent',
      properties: Object.fromEntries(CLINICAL_RESOURCE_TYPES.map((t) => [t, { type: 'array', items: fhirResource(t) }])),
    },
    identity: { anyOf: [IDENTITY_ESTABLISHED, { type: 'null' }], description: "How the viewer's identity was established for this session" },
    breakGlass: {
      anyOf: [closedObject({ grantId: { type: 'string' }, expiresAt: DATE_TIME }, ['grantId', 'expiresAt']), { type: 'null' }],
      description: 'Set when the view rests on emergency (break-glass) access: show it prominently',
    },
  },
  ['patient', 'resources', 'identity', 'breakGlass'],
);

/** The chart and writes of clinical resources (reads and searches of single resources are the FHIR API's). */
export const recordRoutes: RoutePlugin = async (app, { deployment }) => {
  const { medface, access } = deployment;

  app.get(
    '/patients/:patientId/chart',
    {
      config: { access: { operation: 'patient.read-demographics', patient: patientParam } },
      schema: {
        tags: ['records'],
        summary: "The patient's chart: demographics and the clinical resources the viewer may see, with the identity banner",
        params: idParams('patientId'),
        querystring: NO_QUERY,
        response: { 200: CHART },
      },
    },
    async (request) => readPatientChart(medface, access, callerOf(request), patientParam(request), request.signedIn?.session.established ?? null),
  );

  app.post(
    '/records',
    {
      config: { access: { operation: writeOperation, patient: (r) => patientOfInput(r.body) ?? noPatient(r.body) } },
      schema: {
        tags: ['records'],
        summary: 'Create a clinical resource for the patient its subject names (Encounter: front desk and clinicians; the rest: clinicians)',
        querystring: NO_QUERY,
        body: CLINICAL,
        response: { 201: CLINICAL },
      },
    },
    async (request, reply) => reply.code(201).send(await createRecord(medface, request.body, actorOf(callerOf(request)))),
  );

  app.put(
    '/records/:resourceType/:id',
    {
      config: {
        access: {
          operation: 'record.write',
          patient: (r) => patientOfResource(medface, requestField(r, 'params', 'resourceType'), requestField(r, 'params', 'id')),
        },
      },
      schema: {
        tags: ['records'],
        summary: 'Replace a clinical resource (meta.versionId, when given, must be the current version)',
        params: closedObject({ resourceType: { type: 'string', enum: CLINICAL_RESOURCE_TYPES }, id: UUID }, ['resourceType', 'id']),
        querystring: NO_QUERY,
        body: CLINICAL,
        response: { 200: CLINICAL },
      },
    },
    async (request) => {
      const { resourceType, id } = request.params;
      const body = request.body;
      if (body.resourceType !== resourceType || body.id !== id) {
        throw new MedfaceError('VALIDATION_FAILED', 'the body must be the resource the path names', {
          issues: [{ path: 'body.id', message: 'must equal the id and type in the path' }],
        });
      }
      return updateRecord(medface, body, actorOf(callerOf(request)));
    },
  );
};
