import { pinStatus, setPin } from '../../access/pins.js';
import { portalNotices } from '../../services/patients/notices.js';
import { callerOf } from '../access.js';
import { rateLimited, type RoutePlugin } from '../context.js';
import { closedObject, DATE_TIME, NO_QUERY } from '../schemas.js';

const PIN = { type: 'string', pattern: '^[0-9]{6,12}$' } as const;

export const PIN_STATUS = closedObject({ hasPin: { type: 'boolean' }, updatedAt: { anyOf: [DATE_TIME, { type: 'null' }] } }, ['hasPin', 'updatedAt']);

export const NOTICES = closedObject(
  {
    notices: {
      type: 'array',
      items: closedObject(
        {
          kind: { type: 'string', enum: ['face-added'], description: 'face-added: the clinic added a face to the patient’s record' },
          at: DATE_TIME,
          new: { type: 'boolean', description: 'Not shown in the portal before' },
        },
        ['kind', 'at', 'new'],
      ),
    },
  },
  ['notices'],
);

/**
 * What only the patient portal needs beyond the record, consent and erasure routes a patient already uses
 * on their own Patient: their sign-in PIN (the policy decides, `patient.manage-pin` in access/pins.ts), and
 * the notices of what the clinic did to their face data (services/patients/notices.ts).
 */
export const portalRoutes: RoutePlugin = async (app, { deployment, rateLimits }) => {
  const { access, medface } = deployment;

  app.get(
    '/notices',
    {
      config: { access: 'signed-in' },
      schema: {
        tags: ['portal'],
        summary: 'What the clinic did to the signed-in patient’s face data (a face added, and when); those not shown before are marked new, once',
        querystring: NO_QUERY,
        response: { 200: NOTICES },
      },
    },
    async (request) => portalNotices(medface, access, callerOf(request)),
  );

  app.get(
    '/pin',
    {
      config: { access: 'signed-in' },
      schema: {
        tags: ['portal'],
        summary: 'Whether the signed-in patient has a sign-in PIN (instead of the date of birth)',
        querystring: NO_QUERY,
        response: { 200: PIN_STATUS },
      },
    },
    async (request) => pinStatus(access, callerOf(request)),
  );

  app.put(
    '/pin',
    {
      config: { access: 'signed-in', ...rateLimited(rateLimits.signIn) },
      schema: {
        tags: ['portal'],
        summary: "Set or change the signed-in patient's PIN (6-12 digits); changing needs the current one, and wrong ones count towards the account's lockout of PIN changes",
        querystring: NO_QUERY,
        body: closedObject({ currentPin: PIN, newPin: PIN }, ['newPin']),
        response: { 200: PIN_STATUS },
      },
    },
    async (request) => setPin(access, callerOf(request), request.body),
  );
};
