import { listDuplicates, reviewDuplicate } from '../../services/patients/duplicates.js';
import { MedfaceError } from '../../errors.js';
import { createPatientRecord, readPatientRecord, searchPatientRecords, updatePatientRecord } from '../../services/patients/patients.js';
import { actorOf } from '../../services/patients/records.js';
import { callerOf, listReaderOf, requestField } from '../access.js';
import type { RoutePlugin } from '../context.js';
import { closedObject, DATE_TIME, fhirResource, idParams, NO_QUERY, PATIENT_LABEL, PATIENT_CRITERIA } from '../schemas.js';

const PATIENT = fhirResource('Patient', 'A FHIR R4 Patient');

export const LINK = closedObject(
  {
    id: { type: 'string' },
    patientId: { type: 'string' },
    otherPatientId: { type: 'string' },
    grade: { type: 'string' },
    score: { type: 'number' },
    status: { type: 'string', enum: ['pending', 'confirmed', 'rejected', 'overridden'] },
    reason: { type: ['string', 'null'] },
    createdBy: { type: 'string' },
    createdAt: DATE_TIME,
    reviewedBy: { type: ['string', 'null'] },
    reviewedAt: { type: ['string', 'null'] },
    patient: PATIENT_LABEL,
    otherPatient: PATIENT_LABEL,
  },
  ['id', 'patientId', 'otherPatientId', 'grade', 'score', 'status'],
);

/** The version an HTTP If-Match names (`W/"3"` or `"3"`), or undefined without one. */
export function versionOf(ifMatch: string | string[] | undefined): string | undefined {
  if (ifMatch === undefined) return undefined;
  const match = /^(?:W\/)?"(\d{1,15})"$/.exec(Array.isArray(ifMatch) ? (ifMatch[0] ?? '') : ifMatch.trim());
  if (!match) throw new MedfaceError('VALIDATION_FAILED', 'If-Match must be W/"<versionId>"', { issues: [{ path: 'headers.if-match', message: 'must be W/"<versionId>"' }] });
  return match[1];
}

/** Patients (FHIR Patient bodies, validated by records/) and the review of suspected duplicates. */
export const patientRoutes: RoutePlugin = async (app, { deployment }) => {
  const { medface } = deployment;

  app.post(
    '/patients',
    {
      config: { access: { operation: 'patient.create' } },
      schema: { tags: ['patients'], summary: 'Register a patient (FHIR Patient)', querystring: NO_QUERY, body: PATIENT, response: { 201: PATIENT } },
    },
    async (request, reply) => {
      const patient = await createPatientRecord(medface, request.body, actorOf(callerOf(request)));
      return reply.code(201).send(patient);
    },
  );

  app.get(
    '/patients',
    {
      config: { access: { operation: 'patient.search' } },
      schema: {
        tags: ['patients'],
        summary: 'Search patients by name prefix, birth date (partial dates match inside), identifier token or gender',
        querystring: closedObject({
          ...PATIENT_CRITERIA,
          limit: { type: 'integer', minimum: 1, maximum: 200 },
        }),
        response: { 200: closedObject({ patients: { type: 'array', items: PATIENT } }, ['patients']) },
      },
    },
    async (request) => {
      const query = request.query;
      return { patients: await searchPatientRecords(medface, query, actorOf(callerOf(request))) };
    },
  );

  app.get(
    '/patients/:patientId',
    {
      config: { access: { operation: 'patient.read-demographics', patient: (r) => requestField(r, 'params', 'patientId') } },
      schema: { tags: ['patients'], summary: "A patient's demographics (FHIR Patient)", params: idParams('patientId'), querystring: NO_QUERY, response: { 200: PATIENT } },
    },
    async (request) => readPatientRecord(medface, request.params.patientId, actorOf(callerOf(request))),
  );

  app.put(
    '/patients/:patientId',
    {
      config: { access: { operation: 'patient.write', patient: (r) => requestField(r, 'params', 'patientId') } },
      schema: {
        tags: ['patients'],
        summary: 'Replace a patient\'s demographics (FHIR Patient); If-Match: W/"<versionId>" (or meta.versionId) refuses a stale edit',
        params: idParams('patientId'),
        querystring: NO_QUERY,
        headers: { type: 'object', properties: { 'if-match': { type: 'string', maxLength: 40, description: 'W/"<versionId>" as read (ETag)' } } },
        body: PATIENT,
        response: { 200: PATIENT },
      },
    },
    async (request, reply) => {
      const { patientId } = request.params;
      const body = request.body;
      if (body.id !== patientId) {
        throw new MedfaceError('VALIDATION_FAILED', 'the body must be the patient the path names', { issues: [{ path: 'body.id', message: 'must equal the id in the path' }] });
      }
      const patient = await updatePatientRecord(medface, body, actorOf(callerOf(request)), versionOf(request.headers['if-match']));
      return reply.header('etag', `W/"${patient.meta?.versionId}"`).send(patient);
    },
  );

  app.get(
    '/duplicates',
    {
      config: { access: { operation: 'patient.review-duplicates' } },
      schema: {
        tags: ['patients'],
        summary: 'Suspected duplicate patients raised by enrolment, oldest first',
        querystring: closedObject({ status: { type: 'string', enum: ['pending', 'confirmed', 'rejected', 'overridden'] }, patientId: { type: 'string', format: 'uuid' } }),
        response: { 200: closedObject({ duplicates: { type: 'array', items: LINK } }, ['duplicates']) },
      },
    },
    async (request) => {
      const { actor, rights } = await listReaderOf(request);
      return { duplicates: await listDuplicates(medface, request.query, actor, rights) };
    },
  );

  app.post(
    '/duplicates/:linkId/review',
    {
      config: { access: { operation: 'patient.review-duplicates' } },
      schema: {
        tags: ['patients'],
        summary: 'Confirm a suspected duplicate, or reject it with the reason these are two people',
        params: idParams('linkId'),
        querystring: NO_QUERY,
        body: closedObject({ decision: { type: 'string', enum: ['confirmed', 'rejected'] }, reason: { type: 'string', minLength: 1, maxLength: 1000 } }, ['decision']),
        response: { 200: LINK },
      },
    },
    async (request) => {
      const { linkId } = request.params;
      const body = request.body;
      return reviewDuplicate(medface, { linkId, ...body }, actorOf(callerOf(request)));
    },
  );
};
