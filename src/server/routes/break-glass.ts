import { MAX_BREAK_GLASS_MINUTES, MIN_REASON_CHARS } from '../../records/break-glass.js';
import { breakGlass, breakGlassQueue, reviewBreakGlass } from '../../services/visits/break-glass.js';
import { breakGlassIdentify, DEFAULT_BREAK_GLASS_TOP } from '../../services/biometrics/break-glass-identify.js';
import { actorOf } from '../../services/patients/records.js';
import { callerOf, listReaderOf, requestField } from '../access.js';
import { rateLimited, type RoutePlugin } from '../context.js';
import { imageBody, imageBytes, imageRoute, type ImageBodySpec } from '../images.js';
import { closedObject, DATE_TIME, idParams, MATCH_GRADE, NO_QUERY, PATIENT_LABEL, USER_LABEL, UUID } from '../schemas.js';

export const GRANT = closedObject(
  {
    id: { type: 'string' },
    userId: { type: 'string' },
    patientId: { type: 'string' },
    reason: { type: 'string' },
    client: { type: ['string', 'null'] },
    grantedAt: DATE_TIME,
    expiresAt: DATE_TIME,
    reviewStatus: { type: 'string', enum: ['pending', 'reviewed'] },
    reviewedBy: { type: ['string', 'null'] },
    reviewedAt: { type: ['string', 'null'] },
    reviewNote: { type: ['string', 'null'] },
    user: USER_LABEL,
    patient: PATIENT_LABEL,
  },
  ['id', 'userId', 'patientId', 'reason', 'grantedAt', 'expiresAt', 'reviewStatus'],
);

/** Break-glass grants. */
export const GRANT_LIST = closedObject({ grants: { type: 'array', items: GRANT } }, ['grants']);

const IDENTIFY = {
  properties: { top: { type: 'integer', minimum: 1, maximum: 20, description: `Most candidates returned (default ${DEFAULT_BREAK_GLASS_TOP})` } },
  required: ['image'],
  images: { image: 'single' },
} as const satisfies ImageBodySpec;

export const CANDIDATES = closedObject(
  {
    candidates: {
      type: 'array',
      description: 'Ranked best first, graded certain, probable or possible at the gallery’s size (possible ones are below the operating threshold: confirm them by other means)',
      items: closedObject({ patientId: { type: 'string' }, score: { type: 'number' }, grade: MATCH_GRADE }, ['patientId', 'score', 'grade']),
    },
    threshold: { type: 'number', description: "The operating 1:N threshold at the gallery's current size" },
    possibleFrom: { type: 'number', description: "The lowest score graded possible at the gallery's current size" },
    galleryPatients: { type: 'integer', description: 'Enrolled patients the cut-offs were sized for' },
    model: { type: 'string' },
  },
  ['candidates', 'threshold', 'possibleFrom', 'galleryPatients', 'model'],
);

/**
 * Emergency access: identify an unresponsive patient (graded candidates, `possible` ones included), break
 * the glass on one record (a reason is mandatory, the access expires), and the privacy officer's review queue.
 */
export const breakGlassRoutes: RoutePlugin = async (app, { deployment, rateLimits }) => {
  const { medface } = deployment;

  app.post(
    '/break-glass/identify',
    {
      config: { access: { operation: 'biometric.identify' }, ...rateLimited(rateLimits.biometric) },
      ...imageRoute(IDENTIFY),
      schema: {
        tags: ['break-glass'],
        summary: 'Identify an unresponsive patient: top candidates with grades, possible ones included',
        querystring: NO_QUERY,
        body: imageBody(IDENTIFY),
        response: { 200: CANDIDATES },
      },
    },
    async (request) => {
      const { image, top } = request.body;
      return breakGlassIdentify(medface, { image: imageBytes(image), ...(top !== undefined && { top }) }, actorOf(callerOf(request)));
    },
  );

  app.post(
    '/break-glass',
    {
      config: { access: { operation: 'breakglass.open', patient: (r) => requestField(r, 'body', 'patientId') } },
      schema: {
        tags: ['break-glass'],
        summary: "Open a patient's record in an emergency, saying why; the access is time-limited and reviewed",
        querystring: NO_QUERY,
        body: closedObject(
          {
            patientId: UUID,
            reason: { type: 'string', minLength: MIN_REASON_CHARS, maxLength: 1000 },
            minutes: { type: 'integer', minimum: 1, maximum: MAX_BREAK_GLASS_MINUTES },
          },
          ['patientId', 'reason'],
        ),
        response: { 201: GRANT },
      },
    },
    async (request, reply) => {
      const body = request.body;
      return reply.code(201).send(await breakGlass(medface, body, actorOf(callerOf(request))));
    },
  );

  app.get(
    '/break-glass/grants',
    {
      config: { access: { operation: 'breakglass.review' } },
      schema: {
        tags: ['break-glass'],
        summary: 'The review queue: break-glass accesses awaiting review (or reviewed, or all)',
        querystring: closedObject({ status: { type: 'string', enum: ['pending', 'reviewed', 'all'], default: 'pending' } }),
        response: { 200: GRANT_LIST },
      },
    },
    async (request) => {
      const { actor, rights } = await listReaderOf(request);
      return { grants: await breakGlassQueue(medface, request.query.status, actor, rights) };
    },
  );

  app.post(
    '/break-glass/grants/:grantId/review',
    {
      config: { access: { operation: 'breakglass.review' } },
      schema: {
        tags: ['break-glass'],
        summary: "Close a break-glass access's review with the finding (nobody reviews their own)",
        params: idParams('grantId'),
        querystring: NO_QUERY,
        body: closedObject({ note: { type: 'string', minLength: 1, maxLength: 2000 } }, ['note']),
        response: { 200: GRANT },
      },
    },
    async (request) => {
      const { grantId } = request.params;
      const { note } = request.body;
      return reviewBreakGlass(medface, { grantId, note }, actorOf(callerOf(request)));
    },
  );
};
