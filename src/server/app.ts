import { AjvCompiler, type ValidatorFactory } from '@fastify/ajv-compiler';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions, type RouteOptions } from 'fastify';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MedfaceError } from '../errors.js';
import type { Deployment } from '../services/operations/deployment.js';
import { Admission } from './admission.js';
import { TelemedicineChecks } from '../services/visits/telemedicine.js';
import { registerAccessControl } from './access.js';
import { DEFAULT_RATE_LIMITS, type RateLimits, type ServerContext } from './context.js';
import { answerClientError, ERROR_SCHEMA, sendError } from './errors.js';
import { loggerOptions, logRequests, type LogOptions } from './logging.js';
import { registerMetrics } from './metrics.js';
import { sharedRateLimitStore } from './rate-limit-store.js';
import { accountRoutes } from './routes/account.js';
import { adminRoutes } from './routes/admin.js';
import { auditRoutes } from './routes/audit.js';
import { authRoutes } from './routes/auth.js';
import { biometricRoutes } from './routes/biometrics.js';
import { breakGlassRoutes } from './routes/break-glass.js';
import { consentRoutes } from './routes/consent.js';
import { FHIR_JSON, fhirRoutes, OPERATION_OUTCOME, operationOutcome } from './routes/fhir.js';
import { healthRoutes } from './routes/health.js';
import { kioskRoutes } from './routes/kiosk.js';
import { livenessRoutes } from './routes/liveness.js';
import { patientRoutes } from './routes/patients.js';
import { portalRoutes } from './routes/portal.js';
import { recordRoutes } from './routes/records.js';
import { cookieNames, CSRF_HEADER, registerSecurityHeaders } from './security.js';
import { refuseUnstorableText } from './text.js';
import { registerWebApp, WEB_DIST } from './web-app.js';
import { placeImages } from './images.js';
import { registerJsonBodies } from './json-body.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** JSON bodies of routes without images: FHIR resources and forms are small. */
const DEFAULT_BODY_LIMIT = 1024 * 1024;

export interface ServerOptions {
  deployment: Deployment;
  /** PEM certificate and key: serve HTTPS (and mark cookies Secure). */
  tls?: { cert: Buffer; key: Buffer };
  trustProxy?: boolean | string[];
  log?: LogOptions;
  rateLimits?: Partial<RateLimits>;
  /** The built web application's directory (default web/dist); null serves none. */
  webRoot?: string | null;
  /** Where `medface evaluate --out` reports are (default ./reports): the admin pages show the newest one's curves. */
  reportsDir?: string;
  /** Base of absolute links (config.ts `publicUrl`); unset, links are relative. */
  publicUrl?: string;
  /** Requests with images in flight at once (default: twice the face workers plus the pool's queue). */
  maxImageRequests?: number;
}

/**
 * The HTTP server: REST under /api/v1, FHIR R4 under /fhir, OpenAPI at /docs, health at /health and
 * /ready, the web application at /. It does not own the deployment: closing the server waits for requests
 * in flight; the caller then closes the deployment (see lifecycle.ts).
 */
export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const tls = options.tls !== undefined;
  const serverOptions: FastifyServerOptions & { https?: { cert: Buffer; key: Buffer } } = {
    logger: loggerOptions(options.log ?? {}),
    // one line per request, written by logging.ts; Fastify's own lines would carry URLs and addresses
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    trustProxy: options.trustProxy ?? false,
    bodyLimit: DEFAULT_BODY_LIMIT,
    // a telemedicine check id is a sealed token of a few hundred characters
    routerOptions: { maxParamLength: 512 },
    // errors the router raises before any route (an unparsable URL) leave in the same shape as the rest (FHIR's: OperationOutcome)
    frameworkErrors: (error, request, reply) => (request.url.startsWith('/fhir') ? sendError(request, reply.type(FHIR_JSON), error, operationOutcome) : sendError(request, reply, error)),
    return503OnClosing: true,
    clientErrorHandler: answerClientError,
    forceCloseConnections: 'idle',
    ...(options.tls && { https: { cert: options.tls.cert, key: options.tls.key } }),
    ajv: {
      // refuse what a schema does not name (Fastify would silently drop it), and accept OpenAPI's binary format
      customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false, formats: { binary: true } },
    },
    schemaController: { compilersFactory: { buildValidator: bodiesAsSent } },
  };
  // typed as the plain HTTP server: with `https` Fastify serves TLS, and requests and replies are the same to the routes
  const app = Fastify(serverOptions as FastifyServerOptions);

  app.setErrorHandler((error, request, reply) => sendError(request, reply, error));
  app.addSchema(ERROR_SCHEMA);
  // JSON (and FHIR JSON) or, where images are uploaded, multipart: text/plain is not a body any route takes
  app.removeContentTypeParser('text/plain');
  // JSON is UTF-8 (RFC 8259); images in JSON are decoded while the body streams
  registerJsonBodies(app, DEFAULT_BODY_LIMIT);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onRoute', (route) => requireSchemas(route));
  // a body declared larger than the route takes is refused before a byte of it is read, whatever its type (Fastify holds JSON to
  // bodyLimit as it reads; a multipart upload is held to the same limits by images.ts while it streams)
  app.addHook('onRequest', async (request, reply) => {
    const declared = Number(request.headers['content-length']);
    if (declared > request.routeOptions.bodyLimit) {
      reply.header('connection', 'close');
      throw new MedfaceError('BODY_TOO_LARGE', `the request body is larger than this route accepts (${request.routeOptions.bodyLimit} bytes)`, { limit: request.routeOptions.bodyLimit });
    }
  });
  // after validation (and the multipart reading of image routes), before any handler stores what was sent; then the images' bytes
  // take the place of their placeholders (images.ts)
  app.addHook('preHandler', async (request) => {
    refuseUnstorableText(request.body);
    placeImages(request);
  });
  logRequests(app);

  await registerSecurityHeaders(app, tls);
  await app.register(multipart, { throwFileSizeLimit: true });
  const { store } = options.deployment.medface;
  await app.register(rateLimit, {
    global: false,
    // on PostgreSQL several nodes may serve: they count in the database; SQLite has one server, counting in memory
    ...(store.engine === 'postgres' && { store: sharedRateLimitStore(store) }),
    errorResponseBuilder: (_request, context) =>
      new MedfaceError('RATE_LIMITED', `too many requests; try again in ${Math.ceil(context.ttl / 1000)} s`, {
        retryAfterSeconds: Math.ceil(context.ttl / 1000),
      }),
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'medface',
        version: pkg.version,
        description:
          'Self-hosted face recognition for medical records. Browsers authenticate with the session cookie set at sign-in and send ' +
          `the CSRF token from GET /api/v1/auth/csrf as ${CSRF_HEADER} with every state-changing request; integrations send ` +
          '"Authorization: Bearer <API key>". Errors are {error: {code, message}} (FHIR: OperationOutcome).',
      },
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: cookieNames(tls).session },
          apiKey: { type: 'http', scheme: 'bearer' },
        },
      },
      security: [{ session: [] }, { apiKey: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true, transformStaticCSP: (header) => (tls ? header : header.replace(/upgrade-insecure-requests;?/, '')) });

  const { deployment } = options;
  registerAccessControl(app, deployment.access, tls);
  registerMetrics(app, deployment);
  // what the face pool can hold, plus one request per worker between its upload and its analysis: more uploads are refused unread
  const faces = deployment.faceCapacity();
  const imageRequests = options.maxImageRequests ?? 2 * faces.workers + faces.queueLimit;
  app.decorate('imageIntake', new Admission(imageRequests, () => new MedfaceError('ENGINE_BUSY', 'the server is analysing as many images as it can; try again shortly')));
  const context: ServerContext = {
    deployment,
    telemedicine: await TelemedicineChecks.forMedface(deployment.medface, () => deployment.access.now()),
    tls,
    rateLimits: { ...DEFAULT_RATE_LIMITS, ...options.rateLimits },
    reportsDir: options.reportsDir ?? path.resolve('reports'),
    publicUrl: options.publicUrl,
  };
  await app.register(healthRoutes, context);
  await app.register(authRoutes, { ...context, prefix: '/api/v1/auth' });
  for (const routes of [patientRoutes, consentRoutes, biometricRoutes, livenessRoutes, kioskRoutes, recordRoutes, breakGlassRoutes, auditRoutes, adminRoutes]) {
    await app.register(routes, { ...context, prefix: '/api/v1' });
  }
  await app.register(accountRoutes, { ...context, prefix: '/api/v1' });
  await app.register(portalRoutes, { ...context, prefix: '/api/v1/portal' });
  await app.register(fhirRoutes, { ...context, prefix: '/fhir' });

  const webApp = options.webRoot === null ? null : await registerWebApp(app, options.webRoot ?? WEB_DIST);
  app.setNotFoundHandler((request, reply) => {
    const api = request.url.startsWith('/api/') || request.url.startsWith('/fhir');
    if (!api && webApp?.(request, reply)) return;
    sendError(request, reply, new MedfaceError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));
  });
  return app;
}

/**
 * Validators: path and query strings are text, so their values are coerced to the schema's types; a JSON
 * body is taken as sent (`{"top": "3"}` is refused, not read as 3). Multipart fields are typed in images.ts.
 */
const bodiesAsSent: ValidatorFactory = (externalSchemas, options) => {
  const coercing = AjvCompiler()(externalSchemas, options);
  const exact = AjvCompiler()(externalSchemas, { ...options, customOptions: { ...options?.customOptions, coerceTypes: false } } as Parameters<ValidatorFactory>[1]);
  return (route) => (route.httpPart === 'body' ? exact : coercing)(route);
};

/**
 * Every API and FHIR route validates its path, query and (where it takes one) body, and names its
 * responses: refused at start-up otherwise. Error responses are added here, one schema for all.
 */
function requireSchemas(route: RouteOptions): void {
  const fhir = route.url.startsWith('/fhir');
  if (!route.url.startsWith('/api/') && !fhir && !['/health', '/ready', '/metrics'].includes(route.url)) return;
  const schema = route.schema;
  const where = `${String(route.method)} ${route.url}`;
  if (!schema?.querystring) throw new Error(`${where} has no querystring schema`);
  if (route.url.includes(':') && !schema.params) throw new Error(`${where} has no params schema`);
  const response = (schema.response ?? {}) as Record<string, unknown>;
  if (!Object.keys(response).some((status) => status.startsWith('2'))) throw new Error(`${where} has no success response schema`);
  // OpenAPI: a public route needs neither the session cookie nor an API key
  if ((route.config as { access?: unknown } | undefined)?.access === 'public') schema.security ??= [];
  const error = fhir ? OPERATION_OUTCOME : { $ref: 'medface-error#' };
  response['4xx'] ??= error;
  response['5xx'] ??= error;
  schema.response = response;
}
