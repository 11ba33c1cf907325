import { LIVENESS_ACTIONS } from '../../liveness/types.js';
import { captureFeedback } from '../../services/biometrics/capture-feedback.js';
import { issueChallenge, LIVENESS_PURPOSES, livenessProgress, MAX_FRAME_BYTES, MAX_PROGRESS_FRAMES } from '../../services/biometrics/liveness.js';
import { rateLimited, type RoutePlugin } from '../context.js';
import { capturedFrames, LIVENESS_FRAMES } from '../frames.js';
import { imageBody, imageBytes, imageRoute, type ImageBodySpec } from '../images.js';
import { closedObject, DATE_TIME, NO_QUERY, UUID } from '../schemas.js';

/** A live preview polls about once a second; a kiosk must not run into the face routes' limit with it. */
const FEEDBACK_LIMIT = { max: 150, windowMs: 60_000 };

export const CHALLENGE = closedObject(
  {
    id: { type: 'string', description: 'Send it back with the frames' },
    nonce: { type: 'string' },
    actions: { type: 'array', items: { type: 'string', enum: LIVENESS_ACTIONS }, description: 'To be performed in this order, each from a frontal pose and back' },
    issuedAt: DATE_TIME,
    deadline: DATE_TIME,
  },
  ['id', 'nonce', 'actions', 'issuedAt', 'deadline'],
);

/** Live progress of a challenge being filmed: the actions seen so far and the one awaited. */
export const LIVENESS_PROGRESS = closedObject(
  {
    seen: { type: 'array', items: { type: 'string', enum: LIVENESS_ACTIONS }, description: 'The actions seen so far, in the order asked' },
    awaiting: { anyOf: [{ type: 'string', enum: LIVENESS_ACTIONS }, { type: 'null' }], description: 'The first action not seen yet' },
    face: { type: 'boolean', description: 'Whether the latest frame shows a face' },
  },
  ['seen', 'awaiting', 'face'],
);

/** Live feedback on a preview frame: why it would not do, and where the face is. */
export const CAPTURE_FEEDBACK = closedObject(
  {
    reasons: { type: 'array', items: { type: 'string' } },
    box: {
      anyOf: [closedObject({ x: { type: 'number' }, y: { type: 'number' }, width: { type: 'number' }, height: { type: 'number' } }, ['x', 'y', 'width', 'height']), { type: 'null' }],
    },
  },
  ['reasons', 'box'],
);

/**
 * The active liveness check's challenges, and live capture feedback for camera pages. A challenge grants
 * nothing by itself (the route that takes the frames is the one authorised), so issuing one is open to the
 * anonymous pages that need it (portal sign-in, telemedicine) and rate-limited per address.
 */
export const livenessRoutes: RoutePlugin = async (app, { deployment, rateLimits }) => {
  const { medface } = deployment;

  app.post(
    '/liveness/challenges',
    {
      config: { access: 'public', ...rateLimited(rateLimits.biometric) },
      schema: {
        tags: ['liveness'],
        summary:
          'Issue a single-use active liveness challenge: 2–3 actions in random order and a deadline. Film the person doing them and send the frames with the challenge id to the flow named by purpose',
        querystring: NO_QUERY,
        body: closedObject(
          {
            purpose: { type: 'string', enum: LIVENESS_PURPOSES, description: 'The flow the frames will be sent to; a challenge is refused by any other' },
            patientId: { ...UUID, description: 'For verify: the patient to be verified (the challenge is then refused for anyone else)' },
          },
          ['purpose'],
        ),
        response: { 201: CHALLENGE },
      },
    },
    async (request, reply) => {
      const { purpose, patientId } = request.body;
      return reply.code(201).send(await issueChallenge(medface, { purpose, subject: patientId ?? null }));
    },
  );

  // JSON only (the page's frames are data URLs already); the admission and body limit of an image route
  const { onRequest, bodyLimit } = imageRoute({ properties: {}, required: [], images: { frames: { max: MAX_PROGRESS_FRAMES, maxBytes: MAX_FRAME_BYTES } } });
  app.post(
    '/liveness/progress',
    {
      config: { access: 'public', ...rateLimited(FEEDBACK_LIMIT) },
      onRequest,
      bodyLimit,
      schema: {
        tags: ['liveness'],
        summary:
          "Live feedback while a challenge is filmed: send the frames filmed since the previous request; the answer says which of the challenge's actions the frames so far show (seen) and which is awaited. Grants and consumes nothing; the flow the frames are finally sent to decides",
        querystring: NO_QUERY,
        body: closedObject({ challengeId: LIVENESS_FRAMES.challengeId, frames: { ...LIVENESS_FRAMES.frames, maxItems: MAX_PROGRESS_FRAMES } }, ['challengeId', 'frames']),
        response: { 200: LIVENESS_PROGRESS },
      },
    },
    async (request) => {
      const { challengeId, frames } = request.body;
      return livenessProgress(medface, challengeId, capturedFrames(frames));
    },
  );

  const PREVIEW = { properties: {}, required: ['image'], images: { image: 'single' } } as const satisfies ImageBodySpec;
  app.post(
    '/kiosk/quality',
    {
      config: { access: { operation: 'biometric.capture-feedback' }, ...rateLimited(FEEDBACK_LIMIT) },
      ...imageRoute(PREVIEW),
      schema: {
        tags: ['liveness'],
        summary: 'Live feedback on a preview frame: why it would not do (reason codes) and where the face is; no identification',
        querystring: NO_QUERY,
        body: imageBody(PREVIEW),
        response: { 200: CAPTURE_FEEDBACK },
      },
    },
    async (request) => captureFeedback(medface, imageBytes(request.body.image)),
  );
};
