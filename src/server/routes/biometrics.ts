import type { FastifyRequest } from 'fastify';
import { checkIn } from '../../services/visits/check-in.js';
import { enrol } from '../../services/biometrics/enrol.js';
import { erase } from '../../services/patients/erase.js';
import { identify } from '../../services/biometrics/identify.js';
import { actorOf } from '../../services/patients/records.js';
import { DEFAULT_CHECK_MINUTES, MAX_CHECK_MINUTES } from '../../services/visits/telemedicine.js';
import { verify } from '../../services/biometrics/verify.js';
import { callerOf, requestField } from '../access.js';
import { capturedFrames, framesRoute } from '../frames.js';
import { rateLimited, type RoutePlugin } from '../context.js';
import { imageBody, imageBytes, imageRoute, type ImageBodySpec } from '../images.js';
import { closedObject, bodyOptional, DATE, DATE_TIME, idParams, MATCH_GRADE, NO_QUERY, QUALITY, REASON_BODY, UUID } from '../schemas.js';

const patientParam = (r: FastifyRequest) => requestField(r, 'params', 'patientId');

const CANDIDATE = closedObject({ patientId: { type: 'string' }, score: { type: 'number' }, grade: MATCH_GRADE }, ['patientId', 'score', 'grade']);

const DUPLICATE = closedObject({ ...CANDIDATE.properties, linkId: { type: 'string' }, status: { type: 'string' } });

export const ENROL_RESULT = closedObject(
  {
    patientId: { type: 'string' },
    templates: { type: 'array', items: closedObject({ id: { type: 'string' }, quality: QUALITY }) },
    replaced: { type: 'array', items: { type: 'string' } },
    templateCount: { type: 'integer' },
    limit: { type: 'integer' },
    photosKept: { type: 'integer' },
    duplicates: { type: 'array', items: DUPLICATE },
  },
  ['patientId', 'templates', 'templateCount', 'limit'],
);

const VERIFY_RESULT = closedObject(
  {
    patientId: { type: 'string' },
    match: { type: 'boolean' },
    score: { type: 'number' },
    grade: MATCH_GRADE,
    threshold: { type: 'number' },
    model: { type: 'string' },
    refreshed: { type: 'boolean', description: 'The capture was added to the patient’s templates (ageing)' },
    liveness: {
      type: 'object',
      additionalProperties: false,
      required: ['passed', 'observed'],
      description: 'The active liveness check, when frames were sent',
      properties: { passed: { type: 'boolean' }, observed: { type: 'array', items: { type: 'string' } } },
    },
  },
  ['patientId', 'match', 'score', 'grade', 'threshold', 'model', 'refreshed'],
);

export const IDENTIFY_RESULT = closedObject(
  {
    match: { type: 'boolean' },
    candidates: { type: 'array', items: CANDIDATE, description: 'Only patients at or above the threshold, best first' },
    threshold: { type: 'number', description: "The operating 1:N threshold at the gallery's current size (above 1: no score can reach it)" },
    galleryPatients: { type: 'integer', description: 'Enrolled patients the threshold was sized for' },
    fpir: { type: 'number', description: 'False-positive identification rate per search the threshold holds at that size' },
    model: { type: 'string' },
  },
  ['match', 'candidates', 'threshold', 'galleryPatients', 'fpir', 'model'],
);

export const CHECK_IN_RESULT = closedObject(
  {
    checkedIn: { type: 'boolean' },
    encounterId: { type: 'string' },
    message: { type: 'string' },
    notices: {
      type: 'array',
      description: 'Faces added to the patient’s record since their last check-in: the kiosk tells the patient',
      items: closedObject({ kind: { type: 'string', enum: ['face-added'] }, at: DATE_TIME }, ['kind', 'at']),
    },
  },
  ['checkedIn', 'message'],
);

const CHECK_RESULT = closedObject(
  {
    status: { type: 'string', enum: ['pending', 'verified', 'not-verified'] },
    expiresAt: DATE_TIME,
    attempts: { type: 'integer', description: 'Comparisons made with the link' },
    attemptsLeft: { type: 'integer', description: 'Comparisons the link still allows: 0 once verified, spent or expired' },
    refusedCaptures: { type: 'integer', description: 'Captures refused before any comparison (failed liveness, poor quality): they cost no attempt' },
    clinicianConfirmation: {
      type: 'string',
      enum: ['required'],
      description:
        'The frames come from the patient’s device and may be injected: a verified check is a screening, to be confirmed by the clinician seeing the same face live on the video call before relying on it',
    },
    verification: {
      anyOf: [closedObject({ match: { type: 'boolean' }, grade: MATCH_GRADE, score: { type: 'number' }, at: DATE_TIME }, ['match', 'grade', 'score', 'at']), { type: 'null' }],
    },
  },
  ['status', 'expiresAt', 'attempts', 'attemptsLeft', 'refusedCaptures', 'verification', 'clinicianConfirmation'],
);

/** What the patient's telemedicine page learns of its link before opening the camera (nothing about the patient). */
export const TELEMEDICINE_LINK = closedObject({ state: { type: 'string', enum: ['open', 'verified', 'spent', 'expired'] }, expiresAt: DATE_TIME, attemptsLeft: { type: 'integer' } }, [
  'state',
  'expiresAt',
  'attemptsLeft',
]);

/** What an erasure request deleted. */
export const BIOMETRICS_ERASED = closedObject({ patientId: { type: 'string' }, templatesRemoved: { type: 'integer' }, photosRemoved: { type: 'integer' }, consentWithdrawn: { type: 'boolean' } }, [
  'patientId',
  'templatesRemoved',
  'photosRemoved',
  'consentWithdrawn',
]);

/** Whether the telemedicine check matched, and the comparisons its link still allows. */
export const TELEMEDICINE_VERIFIED = closedObject({ match: { type: 'boolean' }, attemptsLeft: { type: 'integer' } }, ['match', 'attemptsLeft']);

const CHECK_ID = { type: 'string', minLength: 16, maxLength: 1024, pattern: '^[A-Za-z0-9_-]+$' } as const;

export const WELCOME = 'Welcome — you are checked in';
export const SEE_FRONT_DESK = 'Please see the front desk';

/**
 * The face routes: enrol, verify (1:1), identify (1:N), erase, kiosk check-in and telemedicine checks.
 * Images in, decisions out: embeddings are made here from the image and never cross the boundary.
 */
export const biometricRoutes: RoutePlugin = async (app, { deployment, telemedicine, rateLimits }) => {
  const { medface, access } = deployment;
  const limited = rateLimited(rateLimits.biometric);

  const ENROL = {
    properties: {
      overrideDuplicate: { type: 'string', minLength: 1, maxLength: 1000, description: 'Store although another patient matches, saying why' },
      keepPhoto: { type: 'boolean', description: 'Keep the captures, encrypted, for human review' },
      replaceOldest: { type: 'boolean', description: 'At the template limit, replace the oldest templates' },
    },
    required: ['images'],
    images: { images: { max: medface.settings.maxTemplatesPerPatient } },
  } as const satisfies ImageBodySpec;
  app.post(
    '/patients/:patientId/enrol',
    {
      config: { access: { operation: 'biometric.enrol', patient: patientParam }, ...limited },
      ...imageRoute(ENROL),
      schema: {
        tags: ['biometrics'],
        summary: 'Enrol face templates (consent required; duplicate suspicion refuses unless overridden)',
        params: idParams('patientId'),
        querystring: NO_QUERY,
        body: imageBody(ENROL),
        response: { 201: ENROL_RESULT },
      },
    },
    async (request, reply) => {
      const { images: texts, ...options } = request.body;
      const images = texts.map(imageBytes);
      const result = await enrol(medface, { patientId: patientParam(request), images, ...options }, actorOf(callerOf(request)));
      return reply.code(201).send(result);
    },
  );

  const { body: verifyBody, ...verifyRoute } = framesRoute(
    { requireLiveness: { type: 'boolean', description: 'Refuse (400 LIVENESS_REQUIRED) unless the frames of a liveness challenge are sent' } },
    [],
    { orImage: 'image' },
  );
  app.post(
    '/patients/:patientId/verify',
    {
      config: { access: { operation: 'biometric.verify', patient: patientParam }, ...limited },
      ...verifyRoute,
      schema: {
        tags: ['biometrics'],
        summary:
          '1:1 — is the face this patient? Either a photo (`image`), or the frames filmed for a verify liveness challenge: the check must pass (else 422 LIVENESS_FAILED with its reasons), its outcome is reported, and the match frame is compared',
        params: idParams('patientId'),
        querystring: NO_QUERY,
        body: verifyBody,
        response: { 200: VERIFY_RESULT },
      },
    },
    async (request) => {
      const { image, challengeId, frames, requireLiveness } = request.body;
      const patientId = patientParam(request);
      const probe = challengeId !== undefined && frames !== undefined ? { liveness: { challengeId, frames: capturedFrames(frames) } } : { image: imageBytes(image) };
      return verify(medface, { patientId, ...probe, ...(requireLiveness !== undefined && { requireLiveness }) }, actorOf(callerOf(request)));
    },
  );

  const IDENTIFY = {
    properties: { top: { type: 'integer', minimum: 1, maximum: 20, description: 'Most candidates returned (default 3)' } },
    required: ['image'],
    images: { image: 'single' },
  } as const satisfies ImageBodySpec;
  app.post(
    '/identify',
    {
      config: { access: { operation: 'biometric.identify' }, ...limited },
      ...imageRoute(IDENTIFY),
      schema: {
        tags: ['biometrics'],
        summary: '1:N — which enrolled patients is this? Only matches at or above the threshold, never the nearest stranger',
        querystring: NO_QUERY,
        body: imageBody(IDENTIFY),
        response: { 200: IDENTIFY_RESULT },
      },
    },
    async (request) => {
      const { image, top } = request.body;
      return identify(medface, { image: imageBytes(image), ...(top !== undefined && { top }) }, actorOf(callerOf(request)));
    },
  );

  app.delete(
    '/patients/:patientId/biometrics',
    {
      config: { access: { operation: 'biometric.erase', patient: patientParam } },
      preValidation: bodyOptional,
      schema: {
        tags: ['biometrics'],
        summary: 'Erasure request: every face template and photo of the patient is deleted and biometric consent ends (the reason, if given, is audited)',
        params: idParams('patientId'),
        querystring: NO_QUERY,
        body: REASON_BODY,
        response: { 200: BIOMETRICS_ERASED },
      },
    },
    async (request) => erase(medface, patientParam(request), actorOf(callerOf(request)), request.body?.reason),
  );

  const { body: checkInBody, ...checkInRoute } = framesRoute({ birthDate: DATE }, ['birthDate']);
  app.post(
    '/check-in',
    {
      config: { access: { operation: 'encounter.check-in' }, ...limited },
      ...checkInRoute,
      schema: {
        tags: ['biometrics'],
        summary:
          'Kiosk check-in: the active liveness check on the frames filmed for a check-in challenge, the face of a frame inside the verified sequence, then the date of birth; opens an Encounter (arrived). A failure, liveness included, reveals nothing: "please see the front desk"',
        querystring: NO_QUERY,
        body: checkInBody,
        response: { 200: CHECK_IN_RESULT },
      },
    },
    async (request) => {
      const { challengeId, frames, birthDate } = request.body;
      const result = await checkIn(medface, access, callerOf(request), { challengeId, frames: capturedFrames(frames), birthDate });
      return result.checkedIn ? { ...result, message: WELCOME } : { checkedIn: false, message: SEE_FRONT_DESK };
    },
  );

  app.post(
    '/telemedicine/checks',
    {
      config: { access: { operation: 'biometric.verify', patient: (r) => requestField(r, 'body', 'patientId') } },
      schema: {
        tags: ['telemedicine'],
        summary: 'Open an identity check for a telemedicine visit; send the patient to the check page with its id',
        querystring: NO_QUERY,
        body: closedObject({ patientId: UUID, minutes: { type: 'integer', minimum: 1, maximum: MAX_CHECK_MINUTES, default: DEFAULT_CHECK_MINUTES } }, ['patientId']),
        response: {
          201: closedObject(
            {
              checkId: { type: 'string' },
              expiresAt: DATE_TIME,
              link: { type: 'string', description: "The patient's page for this check, relative to this server's address (the check id in the fragment)" },
            },
            ['checkId', 'expiresAt', 'link'],
          ),
        },
      },
    },
    async (request, reply) => {
      const { patientId, minutes } = request.body;
      return reply.code(201).send(await telemedicine.open(medface, callerOf(request), patientId, minutes));
    },
  );

  const { body: checkVerifyBody, ...checkVerifyRoute } = framesRoute({ checkId: CHECK_ID }, ['checkId']);
  app.post(
    '/telemedicine/verify',
    {
      config: { access: 'public', ...limited },
      ...checkVerifyRoute,
      schema: {
        tags: ['telemedicine'],
        summary:
          "The patient's verification for a telemedicine check (the check id is the proof), with the frames filmed for a telemedicine liveness challenge (required: 422 LIVENESS_FAILED with its reasons); answers only whether it matched. A used link is 410 CHECK_USED, an expired one 410 CHECK_EXPIRED",
        querystring: NO_QUERY,
        body: checkVerifyBody,
        response: {
          200: TELEMEDICINE_VERIFIED,
        },
      },
    },
    async (request) => {
      const { checkId, challengeId, frames } = request.body;
      return telemedicine.verify(medface, checkId, { challengeId, frames: capturedFrames(frames) }, request.ip);
    },
  );

  app.get(
    '/telemedicine/link/:checkId',
    {
      config: { access: 'public', ...limited },
      schema: {
        tags: ['telemedicine'],
        summary: "What the patient's check page needs before opening the camera: whether the link can still be used (reveals nothing about the patient)",
        params: closedObject({ checkId: CHECK_ID }, ['checkId']),
        querystring: NO_QUERY,
        response: { 200: TELEMEDICINE_LINK },
      },
    },
    async (request) => telemedicine.state(medface, request.params.checkId),
  );

  app.get(
    '/telemedicine/checks/:checkId',
    {
      config: { access: { operation: 'biometric.verify', patient: (r) => telemedicine.patientOf(requestField(r, 'params', 'checkId')) } },
      schema: {
        tags: ['telemedicine'],
        summary: 'The result of a telemedicine identity check, for the integrator that opened it',
        params: closedObject({ checkId: CHECK_ID }, ['checkId']),
        querystring: NO_QUERY,
        response: { 200: CHECK_RESULT },
      },
    },
    async (request) => telemedicine.result(medface, callerOf(request), request.params.checkId),
  );
};
