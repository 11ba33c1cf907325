import { authenticateKiosk, pairKiosk } from '../../access/kiosks.js';
import { isMedfaceError } from '../../errors.js';
import { rateLimited, type RoutePlugin } from '../context.js';
import { cookieNames, kioskCookieOptions } from '../security.js';
import { closedObject, NO_QUERY } from '../schemas.js';

export const DEVICE = closedObject(
  {
    state: { type: 'string', enum: ['paired', 'revoked', 'none'], description: 'none: this browser is not a kiosk; revoked: it was one' },
    name: { type: ['string', 'null'], description: "The kiosk's name, when paired" },
  },
  ['state', 'name'],
);

/**
 * A kiosk device's own routes: pairing (the one-time code from the administrator's link becomes the http-only
 * device cookie) and what this browser is, which the web app asks before showing any page: a kiosk shows the
 * check-in and nothing else. Everything else a kiosk calls is the check-in flow's (liveness challenge, camera
 * feedback, check-in), authorised by the policy like any other route.
 */
export const kioskRoutes: RoutePlugin = async (app, { deployment, tls, rateLimits }) => {
  const { access } = deployment;

  app.post(
    '/kiosk/pair',
    {
      config: { access: 'public', ...rateLimited(rateLimits.signIn) },
      schema: {
        tags: ['kiosk'],
        summary: 'Pair this browser as the kiosk an administrator registered: the one-time code becomes the device cookie (401 once used, expired or revoked)',
        querystring: NO_QUERY,
        body: closedObject({ code: { type: 'string', minLength: 1, maxLength: 128, description: 'The pairing code from the link (after #)' } }, ['code']),
        response: { 200: DEVICE },
      },
    },
    async (request, reply) => {
      const { kiosk, deviceToken } = await pairKiosk(access, request.body.code, request.ip);
      reply.setCookie(cookieNames(tls).kiosk, deviceToken, kioskCookieOptions(tls));
      return { state: 'paired', name: kiosk.name };
    },
  );

  app.get(
    '/kiosk/device',
    {
      config: { access: 'public' },
      schema: { tags: ['kiosk'], summary: 'Whether this browser is a paired kiosk (from its device cookie)', querystring: NO_QUERY, response: { 200: DEVICE } },
    },
    async (request) => {
      const token = request.cookies[cookieNames(tls).kiosk];
      if (!token) return { state: 'none', name: null };
      try {
        return { state: 'paired', name: (await authenticateKiosk(access, token, request.ip)).name };
      } catch (e) {
        if (isMedfaceError(e) && e.code === 'UNAUTHENTICATED') return { state: 'revoked', name: null };
        throw e;
      }
    },
  );
};
