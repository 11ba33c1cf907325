import type { FastifyReply } from 'fastify';
import { createApiClient, listApiClients, revokeApiClient } from '../../access/api-clients.js';
import { PAIRING_HOURS, registerKiosk } from '../../access/kiosks.js';
import { ROLES, SCOPES } from '../../access/policy.js';
import { approveAccountRequest, createOrRequestUser, enrolOrRequestTotp, listAccountRequests, rejectAccountRequest, resetOrRequestPassword, type AccountChange } from '../../access/approvals.js';
import { disableUser, enableUser, listUsers, unlockUser } from '../../access/users.js';
import { evaluationFigure, REPORT_FIGURES, thresholdsStatus } from '../../services/evaluation/evaluation-report.js';
import { keyStatus } from '../../services/operations/keys.js';
import { readTemplateStatus } from '../../services/operations/template-migration.js';
import { callerOf } from '../access.js';
import type { RoutePlugin } from '../context.js';
import { closedObject, DATE_TIME, NO_QUERY, USER_ACCOUNT, UUID } from '../schemas.js';

const USERNAME_PARAMS = closedObject({ username: { type: 'string', minLength: 2, maxLength: 64 } }, ['username']);

export const API_CLIENT = closedObject(
  {
    id: { type: 'string' },
    name: { type: 'string' },
    kind: { type: 'string', enum: ['integration', 'kiosk'], description: 'integration: a bearer API key; kiosk: a device paired by link' },
    scopes: { type: 'array', items: { type: 'string', enum: SCOPES } },
    createdAt: DATE_TIME,
    createdBy: { type: 'string' },
    revokedAt: { type: ['string', 'null'] },
    pairedAt: { type: ['string', 'null'], description: 'A kiosk: when its pairing link was used' },
  },
  ['id', 'name', 'kind', 'scopes', 'createdAt', 'revokedAt', 'pairedAt'],
);

const CUTOFF = closedObject({ minScore: { type: 'number' }, fmr: { type: 'number' } }, ['minScore', 'fmr']);
const NUMBERS_BY_RATE = { type: 'object', additionalProperties: { type: 'number' } } as const;
const IDENTIFICATION_CUTOFF = closedObject({ minScore: { type: 'number' }, fpir: { type: 'number' }, fmr: { type: 'number' }, extrapolated: { type: 'boolean' } }, [
  'minScore',
  'fpir',
  'fmr',
  'extrapolated',
]);

/** 1:N decisions, apart from the 1:1 ones: null for a model calibrated before identification was. */
const IDENTIFICATION_STATUS = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['fpir', 'galleryPatients', 'match', 'grades', 'projected', 'impostorPairs', 'lowestMeasuredFmr'],
  properties: {
    fpir: { type: 'number' },
    galleryPatients: { type: 'integer' },
    match: { type: 'number' },
    grades: closedObject({ certain: IDENTIFICATION_CUTOFF, probable: IDENTIFICATION_CUTOFF, possible: IDENTIFICATION_CUTOFF }, ['certain', 'probable', 'possible']),
    projected: {
      type: 'array',
      items: closedObject({ galleryPatients: { type: 'integer' }, match: { type: 'number' }, extrapolated: { type: 'boolean' } }, ['galleryPatients', 'match', 'extrapolated']),
    },
    impostorPairs: { type: 'integer' },
    lowestMeasuredFmr: { type: 'number' },
  },
} as const;

/** Templates per recogniser (services/operations/template-migration.ts `TemplateStatus`): counts only, no patient. */
export const TEMPLATE_STATUS = closedObject(
  {
    model: { type: 'string', description: 'The model new templates are made with and every capture is embedded by first' },
    models: {
      type: 'array',
      items: closedObject(
        {
          model: { type: 'string' },
          current: { type: 'boolean' },
          patients: { type: 'integer' },
          templates: { type: 'integer' },
          migratable: { type: 'integer', description: 'Older model: templates with a kept photo, re-derived by `medface templates migrate`' },
          awaitingEnrolment: { type: 'integer', description: 'Older model: patients without a kept photo, moved when enrolled again' },
          migrationPending: { type: 'boolean' },
          unsearchable: {
            type: ['string', 'null'],
            enum: ['not-in-release', 'not-calibrated', null],
            description: 'Why identification cannot search this model’s templates (null: it does)',
          },
        },
        ['model', 'current', 'patients', 'templates', 'migratable', 'awaitingEnrolment', 'migrationPending', 'unsearchable'],
      ),
    },
  },
  ['model', 'models'],
);

const RECORD_COUNTS = closedObject({ templates: { type: 'integer' }, staffTemplates: { type: 'integer' }, photos: { type: 'integer' } }, ['templates', 'staffTemplates', 'photos']);

/** The keys protecting templates and photos (services/operations/keys.ts `keyStatus`): ids, dates and what each protects, never key material. */
export const KEY_STATUS = closedObject(
  {
    keys: {
      type: 'array',
      items: closedObject(
        {
          id: { type: 'string' },
          purpose: { type: 'string' },
          algorithm: { type: 'string' },
          createdAt: DATE_TIME,
          retiredAt: { type: ['string', 'null'] },
          current: { type: 'boolean' },
          records: RECORD_COUNTS,
        },
        ['id', 'purpose', 'algorithm', 'createdAt', 'retiredAt', 'current', 'records'],
      ),
    },
    lastRotation: { type: ['string', 'null'] },
    lastTransformRenewal: { type: ['string', 'null'] },
  },
  ['keys', 'lastRotation', 'lastTransformRenewal'],
);

export const THRESHOLDS_STATUS = closedObject(
  {
    models: {
      type: 'array',
      items: closedObject(
        {
          model: { type: 'string' },
          match: { type: 'number' },
          fmr: { type: 'number' },
          thresholdsAtFmr: NUMBERS_BY_RATE,
          grades: closedObject({ certain: CUTOFF, probable: CUTOFF, possible: CUTOFF }, ['certain', 'probable', 'possible']),
          identification: IDENTIFICATION_STATUS,
          calibration: closedObject({
            sets: { type: 'array', items: { type: 'string' } },
            impostorPairs: { type: 'integer' },
            genuinePairs: { type: 'integer' },
            failuresToAcquire: { type: 'integer' },
            date: { type: 'string' },
            command: { type: 'string' },
            minFalseMatches: { type: 'integer' },
            tarAtFmr: NUMBERS_BY_RATE,
          }),
        },
        ['model', 'match', 'fmr', 'thresholdsAtFmr', 'grades', 'identification', 'calibration'],
      ),
    },
    evaluation: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['set', 'title', 'writtenAt', 'summary', 'provenance', 'figures'],
      properties: {
        set: { type: 'string' },
        title: { type: 'string' },
        writtenAt: DATE_TIME,
        summary: { type: 'array', items: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 2 } },
        provenance: { type: 'string' },
        figures: {
          type: 'array',
          items: closedObject({ id: { type: 'string', enum: REPORT_FIGURES }, caption: { type: 'string' } }, ['id', 'caption']),
        },
      },
    },
  },
  ['models', 'evaluation'],
);

export const ACCOUNT_REQUEST = closedObject(
  {
    id: { type: 'string' },
    action: { type: 'string', enum: ['user.create', 'user.password-reset', 'user.totp-reset'] },
    username: { type: 'string' },
    details: closedObject({ roles: { type: 'array', items: { type: 'string', enum: ROLES } }, displayName: { type: ['string', 'null'] } }),
    requestedBy: { type: 'string' },
    requestedAt: DATE_TIME,
    status: { type: 'string', enum: ['pending', 'approved', 'rejected'] },
    decidedBy: { type: ['string', 'null'] },
    decidedAt: { type: ['string', 'null'] },
  },
  ['id', 'action', 'username', 'details', 'requestedBy', 'requestedAt', 'status', 'decidedBy', 'decidedAt'],
);

/** A new integration and its API key (given once). */
export const API_CLIENT_CREATED = closedObject({ client: API_CLIENT, key: { type: 'string' } }, ['client', 'key']);

/** Every account. */
export const USER_LIST = closedObject({ users: { type: 'array', items: USER_ACCOUNT } }, ['users']);

/** Integrations and kiosks. */
export const API_CLIENT_LIST = closedObject({ clients: { type: 'array', items: API_CLIENT } }, ['clients']);

/** Account changes awaiting or past approval. */
export const ACCOUNT_REQUEST_LIST = closedObject({ requests: { type: 'array', items: ACCOUNT_REQUEST } }, ['requests']);

/** A new kiosk and its one-time pairing link. */
export const KIOSK_REGISTERED = closedObject(
  {
    kiosk: API_CLIENT,
    pairingCode: { type: 'string' },
    pairingPath: { type: 'string', description: "The kiosk's pairing page relative to this server's address, the code in the fragment (never sent in a URL)" },
  },
  ['kiosk', 'pairingCode', 'pairingPath'],
);

/** 202 with the request when a second administrator must approve (access/approvals.ts), else `doneCode` with the result. */
function answer<T>(reply: FastifyReply, change: AccountChange<T>, doneCode = 200) {
  return 'request' in change ? reply.code(202).send({ request: change.request }) : reply.code(doneCode).send(change.done);
}
export const REQUESTED = closedObject({ request: ACCOUNT_REQUEST }, ['request']);
/** A new account, with its first password and TOTP enrolment when generated (given once). */
export const USER_CREATED = closedObject({ user: USER_ACCOUNT, password: { type: 'string' }, totpUri: { type: 'string' } }, ['user']);
const REQUEST_PARAMS = closedObject({ requestId: UUID }, ['requestId']);

/**
 * Accounts and integrations. Each access function authorises the caller itself (`user.read`, `user.manage`,
 * `apiclient.manage`); generated passwords, TOTP enrolments and API keys are in the response once.
 */
export const adminRoutes: RoutePlugin = async (app, { deployment, reportsDir }) => {
  const { access, medface } = deployment;
  const signedIn = { access: 'signed-in' as const };

  app.get(
    '/users',
    {
      config: signedIn,
      schema: {
        tags: ['admin'],
        summary: 'Every account',
        querystring: NO_QUERY,
        response: { 200: USER_LIST },
      },
    },
    async (request) => ({ users: await listUsers(access, callerOf(request)) }),
  );

  app.post(
    '/users',
    {
      config: signedIn,
      schema: {
        tags: ['admin'],
        summary:
          'Create an account: staff (first password generated unless given; TOTP on request) or a patient account; clinician, emergency and admin accounts are requested (202) for another administrator to approve',
        querystring: NO_QUERY,
        body: closedObject(
          {
            username: { type: 'string', minLength: 2, maxLength: 64 },
            displayName: { type: 'string', maxLength: 200 },
            roles: { type: 'array', minItems: 1, maxItems: ROLES.length, items: { type: 'string', enum: ROLES } },
            patientId: UUID,
            password: { type: 'string', minLength: 1, maxLength: 1024 },
            pin: { type: 'string', pattern: '^[0-9]{6,12}$' },
            totp: { type: 'boolean' },
          },
          ['username', 'roles'],
        ),
        response: {
          201: USER_CREATED,
          202: REQUESTED,
        },
      },
    },
    async (request, reply) => answer(reply, await createOrRequestUser(access, callerOf(request), request.body), 201),
  );

  const ACCOUNT_ACTION = { params: USERNAME_PARAMS, querystring: NO_QUERY };
  app.post(
    '/users/:username/disable',
    {
      config: signedIn,
      schema: {
        tags: ['admin'],
        summary: 'Disable an account and end its sessions',
        ...ACCOUNT_ACTION,
        response: { 200: closedObject({ user: USER_ACCOUNT, sessionsEnded: { type: 'integer' } }, ['user', 'sessionsEnded']) },
      },
    },
    async (request) => disableUser(access, callerOf(request), request.params.username),
  );

  app.post('/users/:username/enable', { config: signedIn, schema: { tags: ['admin'], summary: 'Enable a disabled account', ...ACCOUNT_ACTION, response: { 200: USER_ACCOUNT } } }, async (request) =>
    enableUser(access, callerOf(request), request.params.username),
  );

  app.post(
    '/users/:username/unlock',
    { config: signedIn, schema: { tags: ['admin'], summary: "Lift an account's sign-in delay or lockout", ...ACCOUNT_ACTION, response: { 200: USER_ACCOUNT } } },
    async (request) => unlockUser(access, callerOf(request), request.params.username),
  );

  app.post(
    '/users/:username/totp',
    {
      config: signedIn,
      schema: {
        tags: ['admin'],
        summary:
          "Enrol (or replace) one's own TOTP, the otpauth URI returned once; for another account, a request (202) another administrator approves (a temporary password, and the user enrols their own TOTP)",
        ...ACCOUNT_ACTION,
        response: {
          200: closedObject({ user: USER_ACCOUNT, totpUri: { type: 'string' } }, ['user', 'totpUri']),
          202: REQUESTED,
        },
      },
    },
    async (request, reply) => answer(reply, await enrolOrRequestTotp(access, callerOf(request), request.params.username)),
  );

  app.post(
    '/users/:username/reset-password',
    {
      config: signedIn,
      schema: {
        tags: ['admin'],
        summary:
          'Set a new first password (generated unless given) that the user replaces at the next sign-in; for another account, a request (202) another administrator approves (generated password, the TOTP removed)',
        params: USERNAME_PARAMS,
        querystring: NO_QUERY,
        body: closedObject({ password: { type: 'string', minLength: 1, maxLength: 1024 } }),
        response: {
          200: closedObject({ user: USER_ACCOUNT, password: { type: 'string' }, sessionsEnded: { type: 'integer' } }, ['user', 'sessionsEnded']),
          202: REQUESTED,
        },
      },
    },
    async (request, reply) => answer(reply, await resetOrRequestPassword(access, callerOf(request), request.params.username, request.body?.password)),
  );

  app.get(
    '/account-requests',
    {
      config: signedIn,
      schema: {
        tags: ['admin'],
        summary: 'Account requests awaiting a second administrator',
        querystring: NO_QUERY,
        response: { 200: ACCOUNT_REQUEST_LIST },
      },
    },
    async (request) => ({ requests: await listAccountRequests(access, callerOf(request)) }),
  );

  app.post(
    '/account-requests/:requestId/approve',
    {
      config: signedIn,
      schema: {
        tags: ['admin'],
        summary: "Approve another administrator's request and carry it out; the one-time password is returned once, to hand to the user",
        params: REQUEST_PARAMS,
        querystring: NO_QUERY,
        response: {
          200: closedObject({ request: ACCOUNT_REQUEST, user: USER_ACCOUNT, password: { type: 'string' }, sessionsEnded: { type: 'integer' } }, ['request', 'user', 'password', 'sessionsEnded']),
        },
      },
    },
    async (request) => approveAccountRequest(access, callerOf(request), request.params.requestId),
  );

  app.post(
    '/account-requests/:requestId/reject',
    {
      config: signedIn,
      schema: { tags: ['admin'], summary: 'Reject (or, its requester, withdraw) a pending account request', params: REQUEST_PARAMS, querystring: NO_QUERY, response: { 200: ACCOUNT_REQUEST } },
    },
    async (request) => rejectAccountRequest(access, callerOf(request), request.params.requestId),
  );

  app.get(
    '/api-clients',
    {
      config: signedIn,
      schema: {
        tags: ['admin'],
        summary: 'Integrations and their scopes',
        querystring: NO_QUERY,
        response: { 200: API_CLIENT_LIST },
      },
    },
    async (request) => ({ clients: await listApiClients(access, callerOf(request)) }),
  );

  app.post(
    '/api-clients',
    {
      config: signedIn,
      schema: {
        tags: ['admin'],
        summary: 'Create an integration; its API key (Authorization: Bearer) is returned once',
        querystring: NO_QUERY,
        body: closedObject({ name: { type: 'string', minLength: 1, maxLength: 64 }, scopes: { type: 'array', minItems: 1, items: { type: 'string', enum: SCOPES } } }, ['name', 'scopes']),
        response: { 201: API_CLIENT_CREATED },
      },
    },
    async (request, reply) => reply.code(201).send(await createApiClient(access, callerOf(request), request.body)),
  );

  app.post(
    '/kiosks',
    {
      config: signedIn,
      schema: {
        tags: ['admin'],
        summary: `Register a kiosk: a device that may only check patients in. Open the returned pairing link on the kiosk within ${PAIRING_HOURS} h (it works once); revoke it as an API client`,
        querystring: NO_QUERY,
        body: closedObject({ name: { type: 'string', minLength: 1, maxLength: 64 } }, ['name']),
        response: { 201: KIOSK_REGISTERED },
      },
    },
    async (request, reply) => {
      const registered = await registerKiosk(access, callerOf(request), request.body);
      return reply.code(201).send({ ...registered, pairingPath: `/kiosk/pair#${registered.pairingCode}` });
    },
  );

  app.delete(
    '/api-clients/:clientId',
    {
      config: signedIn,
      schema: {
        tags: ['admin'],
        summary: 'Revoke an integration or a kiosk: its key or device cookie is refused from now on',
        params: closedObject({ clientId: { type: 'string', minLength: 1, maxLength: 64 } }, ['clientId']),
        querystring: NO_QUERY,
        response: { 200: API_CLIENT },
      },
    },
    async (request) => revokeApiClient(access, callerOf(request), request.params.clientId),
  );

  app.get(
    '/admin/thresholds',
    {
      config: signedIn,
      schema: {
        tags: ['admin'],
        summary:
          'The calibrated thresholds and grade cut-offs with their provenance — verification (1:1), and identification (1:N) at the gallery’s current size — and the newest evaluation report (figures at /admin/evaluation/figures/:figure)',
        querystring: NO_QUERY,
        response: { 200: THRESHOLDS_STATUS },
      },
    },
    async (request) => thresholdsStatus(medface, access, callerOf(request), reportsDir),
  );

  app.get(
    '/admin/evaluation/figures/:figure',
    {
      config: signedIn,
      schema: {
        tags: ['admin'],
        summary: "A figure of the newest evaluation report (ROC, DET, score distributions) as the report's own SVG",
        params: closedObject({ figure: { type: 'string', enum: REPORT_FIGURES } }, ['figure']),
        querystring: NO_QUERY,
        response: { 200: { type: 'string', description: 'image/svg+xml' } },
      },
    },
    async (request, reply) => {
      const svg = await evaluationFigure(access, callerOf(request), reportsDir, request.params.figure);
      return reply.type('image/svg+xml; charset=utf-8').header('cache-control', 'no-store').send(svg);
    },
  );

  app.get(
    '/admin/keys',
    {
      config: signedIn,
      schema: { tags: ['admin'], summary: 'Key status: ids, dates and records per key (never key material)', querystring: NO_QUERY, response: { 200: KEY_STATUS } },
    },
    async (request) => keyStatus(medface, access, callerOf(request)),
  );

  app.get(
    '/admin/templates',
    {
      config: signedIn,
      schema: {
        tags: ['admin'],
        summary: 'Templates and patients per recogniser: which is current, what waits to be migrated, what cannot be searched',
        querystring: NO_QUERY,
        response: { 200: TEMPLATE_STATUS },
      },
    },
    async (request) => readTemplateStatus(medface, access, callerOf(request)),
  );
};
