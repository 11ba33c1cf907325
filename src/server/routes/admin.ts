import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { createApiClient, listApiClients, revokeApiClient } from '../../access/api-clients.js';
import { ROLES, SCOPES } from '../../access/policy.js';
import { createUser, disableUser, enableUser, enrolTotp, listUsers, resetPassword, unlockUser } from '../../access/users.js';
import { evaluationFigure, REPORT_FIGURES, thresholdsStatus, type ReportFigure } from '../../services/evaluation-report.js';
import { keyStatus } from '../../services/keys.js';
import { callerOf } from '../access.js';
import type { ServerContext } from '../context.js';
import { DATE_TIME, NO_QUERY, USER_ACCOUNT, UUID } from '../schemas.js';

const USERNAME_PARAMS = {
  type: 'object',
  additionalProperties: false,
  required: ['username'],
  properties: { username: { type: 'string', minLength: 2, maxLength: 64 } },
} as const;

const API_CLIENT = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'scopes', 'createdAt', 'revokedAt'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    scopes: { type: 'array', items: { type: 'string', enum: SCOPES } },
    createdAt: DATE_TIME,
    createdBy: { type: 'string' },
    revokedAt: { type: ['string', 'null'] },
  },
} as const;

const CUTOFF = { type: 'object', additionalProperties: false, required: ['minScore', 'fmr'], properties: { minScore: { type: 'number' }, fmr: { type: 'number' } } } as const;
const NUMBERS_BY_RATE = { type: 'object', additionalProperties: { type: 'number' } } as const;
const IDENTIFICATION_CUTOFF = {
  type: 'object',
  additionalProperties: false,
  required: ['minScore', 'fpir', 'fmr', 'extrapolated'],
  properties: { minScore: { type: 'number' }, fpir: { type: 'number' }, fmr: { type: 'number' }, extrapolated: { type: 'boolean' } },
} as const;

/** 1:N decisions, apart from the 1:1 ones: null for a model calibrated before identification was. */
const IDENTIFICATION_STATUS = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['fpir', 'galleryPatients', 'match', 'grades', 'projected', 'impostorPairs', 'lowestMeasuredFmr'],
  properties: {
    fpir: { type: 'number' },
    galleryPatients: { type: 'integer' },
    match: { type: 'number' },
    grades: {
      type: 'object',
      additionalProperties: false,
      required: ['certain', 'probable', 'possible'],
      properties: { certain: IDENTIFICATION_CUTOFF, probable: IDENTIFICATION_CUTOFF, possible: IDENTIFICATION_CUTOFF },
    },
    projected: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['galleryPatients', 'match', 'extrapolated'],
        properties: { galleryPatients: { type: 'integer' }, match: { type: 'number' }, extrapolated: { type: 'boolean' } },
      },
    },
    impostorPairs: { type: 'integer' },
    lowestMeasuredFmr: { type: 'number' },
  },
} as const;

const THRESHOLDS_STATUS = {
  type: 'object',
  additionalProperties: false,
  required: ['models', 'evaluation'],
  properties: {
    models: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['model', 'match', 'fmr', 'thresholdsAtFmr', 'grades', 'identification', 'calibration'],
        properties: {
          model: { type: 'string' },
          match: { type: 'number' },
          fmr: { type: 'number' },
          thresholdsAtFmr: NUMBERS_BY_RATE,
          grades: { type: 'object', additionalProperties: false, required: ['certain', 'probable', 'possible'], properties: { certain: CUTOFF, probable: CUTOFF, possible: CUTOFF } },
          identification: IDENTIFICATION_STATUS,
          calibration: {
            type: 'object',
            additionalProperties: false,
            properties: {
              sets: { type: 'array', items: { type: 'string' } },
              impostorPairs: { type: 'integer' },
              genuinePairs: { type: 'integer' },
              failuresToAcquire: { type: 'integer' },
              date: { type: 'string' },
              command: { type: 'string' },
              minFalseMatches: { type: 'integer' },
              tarAtFmr: NUMBERS_BY_RATE,
            },
          },
        },
      },
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
          items: { type: 'object', additionalProperties: false, required: ['id', 'caption'], properties: { id: { type: 'string', enum: REPORT_FIGURES }, caption: { type: 'string' } } },
        },
      },
    },
  },
} as const;

const RECORD_COUNTS = {
  type: 'object',
  additionalProperties: false,
  required: ['templates', 'staffTemplates', 'photos'],
  properties: { templates: { type: 'integer' }, staffTemplates: { type: 'integer' }, photos: { type: 'integer' } },
} as const;

const KEY_STATUS = {
  type: 'object',
  additionalProperties: false,
  required: ['keys', 'lastRotation', 'lastTransformRenewal'],
  properties: {
    keys: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'purpose', 'algorithm', 'createdAt', 'retiredAt', 'current', 'records'],
        properties: {
          id: { type: 'string' },
          purpose: { type: 'string' },
          algorithm: { type: 'string' },
          createdAt: DATE_TIME,
          retiredAt: { type: ['string', 'null'] },
          current: { type: 'boolean' },
          records: RECORD_COUNTS,
        },
      },
    },
    lastRotation: { type: ['string', 'null'] },
    lastTransformRenewal: { type: ['string', 'null'] },
  },
} as const;

const usernameOf = (r: FastifyRequest) => (r.params as { username: string }).username;

/**
 * Accounts and integrations. Each access function authorises the caller itself (`user.read`, `user.manage`,
 * `apiclient.manage`); generated passwords, TOTP enrolments and API keys are in the response once.
 */
export const adminRoutes: FastifyPluginAsync<ServerContext> = async (app, { deployment, reportsDir }) => {
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
        response: { 200: { type: 'object', additionalProperties: false, required: ['users'], properties: { users: { type: 'array', items: USER_ACCOUNT } } } },
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
        summary: 'Create an account: staff (first password generated unless given; TOTP on request) or a patient account',
        querystring: NO_QUERY,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['username', 'roles'],
          properties: {
            username: { type: 'string', minLength: 2, maxLength: 64 },
            displayName: { type: 'string', maxLength: 200 },
            roles: { type: 'array', minItems: 1, maxItems: ROLES.length, items: { type: 'string', enum: ROLES } },
            patientId: UUID,
            password: { type: 'string', minLength: 1, maxLength: 1024 },
            pin: { type: 'string', pattern: '^[0-9]{6,12}$' },
            totp: { type: 'boolean' },
          },
        },
        response: {
          201: {
            type: 'object',
            additionalProperties: false,
            required: ['user'],
            properties: { user: USER_ACCOUNT, password: { type: 'string' }, totpUri: { type: 'string' } },
          },
        },
      },
    },
    async (request, reply) => reply.code(201).send(await createUser(access, callerOf(request), request.body as Parameters<typeof createUser>[2])),
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
        response: { 200: { type: 'object', additionalProperties: false, required: ['user', 'sessionsEnded'], properties: { user: USER_ACCOUNT, sessionsEnded: { type: 'integer' } } } },
      },
    },
    async (request) => disableUser(access, callerOf(request), usernameOf(request)),
  );

  app.post(
    '/users/:username/enable',
    { config: signedIn, schema: { tags: ['admin'], summary: 'Enable a disabled account', ...ACCOUNT_ACTION, response: { 200: USER_ACCOUNT } } },
    async (request) => enableUser(access, callerOf(request), usernameOf(request)),
  );

  app.post(
    '/users/:username/unlock',
    { config: signedIn, schema: { tags: ['admin'], summary: "Lift an account's sign-in delay or lockout", ...ACCOUNT_ACTION, response: { 200: USER_ACCOUNT } } },
    async (request) => unlockUser(access, callerOf(request), usernameOf(request)),
  );

  app.post(
    '/users/:username/totp',
    {
      config: signedIn,
      schema: {
        tags: ['admin'],
        summary: "Enrol (or replace) a staff account's TOTP; the otpauth URI is returned once",
        ...ACCOUNT_ACTION,
        response: { 200: { type: 'object', additionalProperties: false, required: ['user', 'totpUri'], properties: { user: USER_ACCOUNT, totpUri: { type: 'string' } } } },
      },
    },
    async (request) => enrolTotp(access, callerOf(request), usernameOf(request)),
  );

  app.post(
    '/users/:username/reset-password',
    {
      config: signedIn,
      schema: {
        tags: ['admin'],
        summary: 'Set a new first password (generated unless given); the user replaces it at the next sign-in',
        params: USERNAME_PARAMS,
        querystring: NO_QUERY,
        body: { type: 'object', additionalProperties: false, properties: { password: { type: 'string', minLength: 1, maxLength: 1024 } } },
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            required: ['user', 'sessionsEnded'],
            properties: { user: USER_ACCOUNT, password: { type: 'string' }, sessionsEnded: { type: 'integer' } },
          },
        },
      },
    },
    async (request) => resetPassword(access, callerOf(request), usernameOf(request), (request.body as { password?: string } | undefined)?.password),
  );

  app.get(
    '/api-clients',
    {
      config: signedIn,
      schema: {
        tags: ['admin'],
        summary: 'Integrations and their scopes',
        querystring: NO_QUERY,
        response: { 200: { type: 'object', additionalProperties: false, required: ['clients'], properties: { clients: { type: 'array', items: API_CLIENT } } } },
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
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'scopes'],
          properties: { name: { type: 'string', minLength: 1, maxLength: 64 }, scopes: { type: 'array', minItems: 1, items: { type: 'string', enum: SCOPES } } },
        },
        response: { 201: { type: 'object', additionalProperties: false, required: ['client', 'key'], properties: { client: API_CLIENT, key: { type: 'string' } } } },
      },
    },
    async (request, reply) => reply.code(201).send(await createApiClient(access, callerOf(request), request.body as { name: string; scopes: string[] })),
  );

  app.delete(
    '/api-clients/:clientId',
    {
      config: signedIn,
      schema: {
        tags: ['admin'],
        summary: 'Revoke an integration: its key is refused from now on',
        params: { type: 'object', additionalProperties: false, required: ['clientId'], properties: { clientId: { type: 'string', minLength: 1, maxLength: 64 } } },
        querystring: NO_QUERY,
        response: { 200: API_CLIENT },
      },
    },
    async (request) => revokeApiClient(access, callerOf(request), (request.params as { clientId: string }).clientId),
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
        params: { type: 'object', additionalProperties: false, required: ['figure'], properties: { figure: { type: 'string', enum: REPORT_FIGURES } } },
        querystring: NO_QUERY,
        response: { 200: { type: 'string', description: 'image/svg+xml' } },
      },
    },
    async (request, reply) => {
      const svg = await evaluationFigure(access, callerOf(request), reportsDir, (request.params as { figure: ReportFigure }).figure);
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
};
