import type { FastifyReply, FastifyRequest } from 'fastify';
import { signInWithFace, signInWithTotp, type SignInResult } from '../../access/authenticate.js';
import { signOut, signOutEverywhere } from '../../access/sessions.js';
import { MedfaceError } from '../../errors.js';
import { signInPatientWithFace } from '../../services/visits/patient-sign-in.js';
import { staffFaceVerifier } from '../../services/biometrics/staff-face.js';
import { Admission } from '../admission.js';
import { capturedFrames, framesRoute } from '../frames.js';
import { rateLimited, type RoutePlugin } from '../context.js';
import { cookieNames, cookieOptions, issueCsrfToken, setSessionCookie } from '../security.js';
import { closedObject, DATE, NO_QUERY, OK, SESSION, USER_ACCOUNT } from '../schemas.js';

export const SIGNED_IN = closedObject({ user: USER_ACCOUNT, session: SESSION }, ['user', 'session']);

/** The CSRF token a browser echoes in X-CSRF-Token. */
export const CSRF_TOKEN = closedObject({ csrfToken: { type: 'string' } }, ['csrfToken']);

/**
 * Password sign-ins in flight at once: each argon2 hash takes 19 MiB and one of libuv's 4 threads, so more
 * would only wait there; beyond it a sign-in is refused (503) rather than queued behind a flood.
 */
const PASSWORD_SIGN_INS = 16;

const { body: STAFF_FACE_SIGN_IN_BODY, ...STAFF_FACE_SIGN_IN_ROUTE } = framesRoute(
  {
    username: { type: 'string', minLength: 1, maxLength: 256 },
    password: { type: 'string', minLength: 1, maxLength: 1024 },
    newPassword: { type: 'string', minLength: 1, maxLength: 1024 },
  },
  ['username', 'password'],
);

const { body: PATIENT_SIGN_IN_BODY, ...PATIENT_SIGN_IN_ROUTE } = framesRoute(
  {
    birthDate: { ...DATE, description: 'Second factor: the date of birth (YYYY-MM-DD), for patients without a PIN' },
    pin: { type: 'string', pattern: '^[0-9]{6,12}$', description: 'Second factor: the PIN, for patients who chose one' },
  },
  [],
);

/**
 * Sign-in and sessions. A successful sign-in sets the session cookie (http-only, SameSite=Strict, Secure
 * over TLS) holding an opaque token; the token never appears in a body. Staff sign in with password and
 * TOTP, or password and a live face (the active liveness check, as patients); patients with their face and
 * date of birth or PIN. Every failure is the same "sign-in failed".
 */
export const authRoutes: RoutePlugin = async (app, { deployment, tls, rateLimits }) => {
  const { medface, access } = deployment;
  const hashing = new Admission(PASSWORD_SIGN_INS, () => new MedfaceError('SERVER_BUSY', 'too many sign-ins at once; try again shortly'));

  const cookies = cookieNames(tls);
  const startSession = (request: FastifyRequest, reply: FastifyReply, result: SignInResult) => {
    setSessionCookie(request, reply, tls, result.token);
    return { user: result.user, session: result.session };
  };

  app.get(
    '/csrf',
    {
      config: { access: 'public' },
      schema: {
        tags: ['auth'],
        summary: 'The CSRF token to send as X-CSRF-Token with every state-changing request made with a session cookie',
        querystring: NO_QUERY,
        response: { 200: CSRF_TOKEN },
      },
    },
    async (request, reply) => ({ csrfToken: issueCsrfToken(request, reply, tls) }),
  );

  app.post(
    '/sign-in',
    {
      config: { access: 'public', ...rateLimited(rateLimits.signIn) },
      onRequest: hashing.admit,
      schema: {
        tags: ['auth'],
        summary: 'Staff sign-in with password and TOTP code (newPassword replaces an administrator-set password)',
        querystring: NO_QUERY,
        body: closedObject(
          {
            username: { type: 'string', minLength: 1, maxLength: 256 },
            password: { type: 'string', minLength: 1, maxLength: 1024 },
            // empty at the first sign-in after an administrator's reset: the answer enrols the user's own TOTP
            code: { type: 'string', maxLength: 16 },
            newPassword: { type: 'string', minLength: 1, maxLength: 1024 },
          },
          ['username', 'password', 'code'],
        ),
        response: { 200: SIGNED_IN },
      },
    },
    async (request, reply) => {
      const body = request.body;
      return startSession(request, reply, await signInWithTotp(access, { ...body, client: request.ip }));
    },
  );

  app.post(
    '/face-sign-in',
    {
      config: { access: 'public', ...rateLimited(rateLimits.signIn) },
      ...STAFF_FACE_SIGN_IN_ROUTE,
      schema: {
        tags: ['auth'],
        summary:
          "Staff sign-in with password and their own enrolled face: the frames filmed for a staff-sign-in liveness challenge, the verified sequence's face compared 1:1 (newPassword replaces an administrator-set password); a single photo is not accepted",
        querystring: NO_QUERY,
        body: STAFF_FACE_SIGN_IN_BODY,
        response: { 200: SIGNED_IN },
      },
    },
    async (request, reply) => {
      const { challengeId, frames, ...body } = request.body;
      const verifier = staffFaceVerifier(medface, { challengeId, frames: capturedFrames(frames) }, request.ip);
      return startSession(request, reply, await signInWithFace(access, { ...body, client: request.ip }, verifier));
    },
  );

  app.post(
    '/patient-sign-in',
    {
      config: { access: 'public', ...rateLimited(rateLimits.signIn) },
      ...PATIENT_SIGN_IN_ROUTE,
      schema: {
        tags: ['auth'],
        summary: 'Patient sign-in: the frames filmed for a portal-sign-in liveness challenge (the face of the verified sequence), and the date of birth or PIN',
        querystring: NO_QUERY,
        body: PATIENT_SIGN_IN_BODY,
        response: { 200: SIGNED_IN },
      },
    },
    async (request, reply) => {
      const { challengeId, frames, birthDate, pin } = request.body;
      const secondFactor =
        pin !== undefined && birthDate === undefined
          ? { kind: 'pin' as const, value: pin }
          : birthDate !== undefined && pin === undefined
            ? { kind: 'birth-date' as const, value: birthDate }
            : undefined;
      if (secondFactor === undefined) {
        throw new MedfaceError('VALIDATION_FAILED', 'give the date of birth or the PIN', { issues: [{ path: 'body', message: 'needs exactly one of birthDate, pin' }] });
      }
      const result = await signInPatientWithFace(medface, access, { challengeId, frames: capturedFrames(frames), secondFactor, client: request.ip });
      return startSession(request, reply, result);
    },
  );

  app.get(
    '/session',
    {
      config: { access: 'signed-in' },
      schema: { tags: ['auth'], summary: 'The signed-in account and its session (how identity was established)', querystring: NO_QUERY, response: { 200: SIGNED_IN } },
    },
    async (request) => {
      if (!request.signedIn) throw new MedfaceError('UNAUTHENTICATED', 'API clients have no session');
      return { user: request.signedIn.user, session: request.signedIn.session };
    },
  );

  app.post(
    '/sign-out',
    {
      config: { access: 'public' },
      schema: { tags: ['auth'], summary: "Ends this browser's session (nothing to do when there is none)", querystring: NO_QUERY, response: { 200: OK } },
    },
    async (request: FastifyRequest, reply) => {
      const token = request.cookies[cookies.session];
      if (token) await signOut(access, token);
      reply.clearCookie(cookies.session, cookieOptions(tls));
      return { ok: true };
    },
  );

  app.post(
    '/sign-out-everywhere',
    {
      config: { access: 'signed-in' },
      schema: {
        tags: ['auth'],
        summary: 'Ends every session of the signed-in account, on every device',
        querystring: NO_QUERY,
        response: { 200: closedObject({ sessionsEnded: { type: 'integer' } }, ['sessionsEnded']) },
      },
    },
    async (request, reply) => {
      const token = request.cookies[cookies.session];
      if (!token || !request.signedIn) throw new MedfaceError('UNAUTHENTICATED', 'API clients have no session');
      const sessionsEnded = await signOutEverywhere(access, token);
      reply.clearCookie(cookies.session, cookieOptions(tls));
      return { sessionsEnded };
    },
  );
};
