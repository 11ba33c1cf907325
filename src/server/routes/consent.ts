import type { FastifyRequest } from 'fastify';
import { grantConsent, withdrawConsent } from '../../services/patients/consent.js';
import { actorOf, listConsents } from '../../services/patients/records.js';
import { callerOf, requestField } from '../access.js';
import type { RoutePlugin } from '../context.js';
import { closedObject, bodyOptional, fhirResource, idParams, NO_QUERY, REASON_BODY } from '../schemas.js';

const CONSENT = fhirResource('Consent', 'A FHIR R4 Consent to biometric identification');

/** The withdrawn Consent, and what was deleted with it. */
export const CONSENT_WITHDRAWN = closedObject({ consent: CONSENT, templatesRemoved: { type: 'integer' }, photosRemoved: { type: 'integer' } }, ['consent', 'templatesRemoved', 'photosRemoved']);

const patientParam = (r: FastifyRequest) => requestField(r, 'params', 'patientId');
const byPatient = { params: idParams('patientId'), querystring: NO_QUERY };

/**
 * Consent to biometric identification: recorded with the privacy notice shown, withdrawn at any time — and
 * withdrawing deletes the patient's face templates and photos in the same transaction.
 */
export const consentRoutes: RoutePlugin = async (app, { deployment }) => {
  const { medface } = deployment;

  app.get(
    '/patients/:patientId/consents',
    {
      config: { access: { operation: 'consent.read', patient: patientParam } },
      schema: {
        tags: ['consent'],
        summary: "The patient's biometric consents, active and withdrawn",
        ...byPatient,
        response: { 200: closedObject({ consents: { type: 'array', items: CONSENT } }, ['consents']) },
      },
    },
    async (request) => ({ consents: await listConsents(medface, patientParam(request), actorOf(callerOf(request))) }),
  );

  app.post(
    '/patients/:patientId/consent',
    {
      config: { access: { operation: 'consent.write', patient: patientParam } },
      schema: {
        tags: ['consent'],
        summary: 'Record consent to biometric identification, naming the privacy notice the patient was shown',
        ...byPatient,
        body: closedObject({ notice: { type: 'string', minLength: 1, maxLength: 256, description: 'The notice version label (e.g. v3) or its URI' } }, ['notice']),
        response: { 201: CONSENT },
      },
    },
    async (request, reply) => {
      const { notice } = request.body;
      const consent = await grantConsent(medface, { patientId: patientParam(request), notice }, actorOf(callerOf(request)));
      return reply.code(201).send(consent);
    },
  );

  app.delete(
    '/patients/:patientId/consent',
    {
      config: { access: { operation: 'consent.write', patient: patientParam } },
      preValidation: bodyOptional,
      schema: {
        tags: ['consent'],
        summary: "Withdraw biometric consent: the patient's face templates and photos are deleted at once (the reason, if given, is audited)",
        ...byPatient,
        body: REASON_BODY,
        response: { 200: CONSENT_WITHDRAWN },
      },
    },
    async (request) => withdrawConsent(medface, patientParam(request), actorOf(callerOf(request)), request.body?.reason),
  );
};
