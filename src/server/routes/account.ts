import type { FastifyRequest } from 'fastify';
import { changeOwnPassword } from '../../access/account.js';
import { MedfaceError } from '../../errors.js';
import { enrolOwnFace, ownFaceStatus, removeOwnFace } from '../../services/biometrics/staff-face.js';
import { callerOf } from '../access.js';
import { rateLimited, type RoutePlugin } from '../context.js';
import { imageBody, imageBytes, imageRoute } from '../images.js';
import { setSessionCookie } from '../security.js';
import { closedObject, DATE_TIME, NO_QUERY, SESSION } from '../schemas.js';

export const FACE_STATUS = closedObject(
  {
    templates: {
      type: 'array',
      items: closedObject({ id: { type: 'string' }, createdAt: DATE_TIME, consentNotice: { type: 'string' } }, ['id', 'createdAt', 'consentNotice']),
    },
    limit: { type: 'integer' },
  },
  ['templates', 'limit'],
);

/** How many of my face templates were removed. */
export const FACE_REMOVED = closedObject({ removed: { type: 'integer' } }, ['removed']);

/** My session after a password change (its token renewed in the cookie), and how many other sessions ended. */
export const PASSWORD_CHANGED = closedObject({ session: SESSION, sessionsEnded: { type: 'integer' } }, ['session', 'sessionsEnded']);

const FACE_ENROL = {
  properties: { consent: { type: 'boolean', description: 'The staff member consents to the staff face notice (required: true)' } },
  required: ['image', 'consent'],
  images: { image: 'single' },
} as const;

/** A session, not an API key: these are a person's own account. */
function session(request: FastifyRequest) {
  if (!request.signedIn) throw new MedfaceError('UNAUTHENTICATED', 'API clients have no account of their own');
  return request.signedIn;
}

/**
 * "My account" for signed-in staff: the sign-in face (enrol with consent, see, remove) and the password.
 * The services authorise `account.manage-own` (staff roles only) themselves.
 */
export const accountRoutes: RoutePlugin = async (app, { deployment, tls, rateLimits }) => {
  const { medface, access } = deployment;
  const signedIn = { access: 'signed-in' as const };

  app.get(
    '/account/face',
    { config: signedIn, schema: { tags: ['account'], summary: 'My enrolled sign-in face templates (dates only)', querystring: NO_QUERY, response: { 200: FACE_STATUS } } },
    async (request) => ownFaceStatus(access, callerOf(request)),
  );

  app.post(
    '/account/face',
    {
      config: { ...signedIn, ...rateLimited(rateLimits.biometric) },
      ...imageRoute(FACE_ENROL),
      schema: {
        tags: ['account'],
        summary: 'Enrol my face for password + face sign-in, with my consent (beyond the limit the oldest template is replaced)',
        querystring: NO_QUERY,
        body: imageBody(FACE_ENROL),
        response: { 200: FACE_STATUS },
      },
    },
    async (request) => {
      session(request);
      const body = request.body;
      return enrolOwnFace(medface, access, callerOf(request), { image: imageBytes(body.image), consent: body.consent });
    },
  );

  app.delete(
    '/account/face',
    {
      config: signedIn,
      schema: {
        tags: ['account'],
        summary: 'Remove my sign-in face (every template)',
        querystring: NO_QUERY,
        response: { 200: FACE_REMOVED },
      },
    },
    async (request) => removeOwnFace(medface, access, callerOf(request)),
  );

  app.post(
    '/account/password',
    {
      config: { ...signedIn, ...rateLimited(rateLimits.signIn) },
      schema: {
        tags: ['account'],
        summary: 'Change my password (the current one required); every other session of mine ends',
        querystring: NO_QUERY,
        body: closedObject({ currentPassword: { type: 'string', minLength: 1, maxLength: 1024 }, newPassword: { type: 'string', minLength: 1, maxLength: 1024 } }, ['currentPassword', 'newPassword']),
        response: { 200: PASSWORD_CHANGED },
      },
    },
    async (request, reply) => {
      const current = session(request);
      const body = request.body;
      const changed = await changeOwnPassword(access, callerOf(request), current.session, body);
      setSessionCookie(request, reply, tls, changed.token);
      return { session: changed.session, sessionsEnded: changed.sessionsEnded };
    },
  );
};
