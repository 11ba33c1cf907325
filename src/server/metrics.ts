import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AuditEvent } from '../audit/trail.js';
import type { Deployment } from '../services/operations/deployment.js';
import { NO_QUERY } from './schemas.js';

/**
 * Monitoring in Prometheus' text format at `GET /metrics`: request latency and errors per route, the face
 * engine's workers, queue and timings, identification and check outcomes, the gallery's size. Counts and
 * timings only — no patient, no user, no image: the labels are routes, status codes, actions and error codes.
 * Readable by administrators and by API clients holding the `metrics:read` scope (a Prometheus scrape sends
 * `Authorization: Bearer <key>`).
 */

/** The audit actions whose outcomes a clinic watches: identification (emergency too), verification, check-in, liveness, sign-in. */
const WATCHED_ACTIONS = /^(biometric\.|liveness\.|encounter\.check-in$|breakglass\.identify$|portal\.|telemedicine\.|auth\.)/;

export function registerMetrics(app: FastifyInstance, deployment: Deployment): void {
  const registry = new Registry();

  const requests = new Histogram({
    name: 'medface_http_request_duration_seconds',
    help: 'HTTP requests by route template, method and status code, and how long they took',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    // a URL that matched no route is counted under one label, never its own (unbounded) path
    const route = request.routeOptions.url ?? 'unmatched';
    requests.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  const faceWork = new Histogram({
    name: 'medface_face_analysis_seconds',
    help: "Face analyses (embed: one photo; observe: one liveness frame; analyze: a capture's feedback), queue wait included, by outcome",
    labelNames: ['kind', 'outcome'],
    buckets: [0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 30],
    registers: [registry],
  });
  const stopFaceWork = deployment.onFaceWork((work) => faceWork.observe({ kind: work.kind, outcome: work.outcome }, work.seconds));

  const poolGauge = (name: string, help: string, read: (stats: ReturnType<Deployment['faceStats']>) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(deployment.faceStats()));
      },
    });
  poolGauge('medface_face_workers', 'Face engine workers warm and serving', (s) => s.workers);
  poolGauge('medface_face_workers_expected', 'Face engine workers this node should have', (s) => s.expected);
  poolGauge('medface_face_workers_busy', 'Face engine workers running an analysis now', (s) => s.busy);
  poolGauge('medface_face_queue', 'Face analyses waiting for a worker (a full queue answers ENGINE_BUSY)', (s) => s.queued);

  new Gauge({
    name: 'medface_gallery_templates',
    help: "Templates in this node's gallery (the identification search space)",
    registers: [registry],
    collect() {
      this.set(deployment.medface.templates.gallery.size);
    },
  });

  const outcomes = new Counter({
    name: 'medface_outcomes_total',
    help: 'Audited identification, verification, check-in, liveness and sign-in attempts by outcome; code: the refusal (NO_MATCH, a quality or liveness reason, an error code), empty on success',
    labelNames: ['action', 'outcome', 'code'],
    registers: [registry],
  });
  const stopAudit = deployment.medface.audit.onAppend((event) => {
    if (WATCHED_ACTIONS.test(event.action)) outcomes.inc({ action: event.action, outcome: event.outcome, code: outcomeCode(event) });
  });

  app.addHook('onClose', async () => {
    stopFaceWork();
    stopAudit();
  });

  app.get(
    '/metrics',
    {
      config: { access: { operation: 'metrics.read' } },
      schema: {
        tags: ['health'],
        summary: 'Monitoring in Prometheus text format (administrators, or an API key with the metrics:read scope)',
        querystring: NO_QUERY,
        produces: ['text/plain'],
        response: { 200: { type: 'string' } },
      },
    },
    async (_request, reply) => {
      reply.type(registry.contentType);
      return registry.metrics();
    },
  );
}

/** Why an attempt did not succeed, as one bounded label value. */
function outcomeCode(event: AuditEvent): string {
  const d = event.details;
  if (typeof d.code === 'string') return d.code;
  if (Array.isArray(d.reasons) && typeof d.reasons[0] === 'string') return d.reasons[0];
  if (typeof d.reason === 'string') return d.reason;
  if (d.match === false) return 'NO_MATCH';
  return '';
}
