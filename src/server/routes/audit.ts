import { MedfaceError } from '../../errors.js';
import { parseHead } from '../../audit/checkpoints.js';
import { exportAuditLog, searchAuditLog, verifyAuditLog, type AuditSearch } from '../../services/operations/audit.js';
import { checkIntegrity } from '../../services/operations/integrity.js';
import { actorOf } from '../../services/patients/records.js';
import { callerOf, listReaderOf } from '../access.js';
import type { RoutePlugin } from '../context.js';
import { FHIR_JSON } from './fhir.js';
import { closedObject, DATE_TIME, NO_QUERY, PATIENT_LABEL, USER_LABEL } from '../schemas.js';

const AUDIT_EVENT = closedObject(
  {
    seq: { type: 'integer' },
    time: DATE_TIME,
    actor: { type: 'string' },
    client: { type: ['string', 'null'] },
    action: { type: 'string' },
    outcome: { type: 'string', enum: ['success', 'failure', 'denied'] },
    patientRef: { type: ['string', 'null'], description: 'The patient as a keyed pseudonym' },
    details: { type: 'object', additionalProperties: true },
    prevHash: { type: 'string' },
    hash: { type: 'string' },
    user: USER_LABEL,
    patient: { ...PATIENT_LABEL, description: 'Given when the search named the patient (by id or name): the log keeps patients as pseudonyms only' },
  },
  ['seq', 'time', 'actor', 'action', 'outcome'],
);

/** The audit entries a search found. */
export const AUDIT_EVENTS = closedObject({ events: { type: 'array', items: AUDIT_EVENT } }, ['events']);

const TIME = { type: 'string', format: 'date-time' } as const;

/** The privacy officer's audit trail: search, chain verification, export of a period as FHIR AuditEvents. */
const HEAD = closedObject({ seq: { type: 'integer' }, hash: { type: 'string' } }, ['seq', 'hash']);

/** services/operations/audit.ts AuditVerification. */
export const AUDIT_VERIFICATION = closedObject(
  {
    ok: { type: 'boolean' },
    count: { type: 'integer' },
    head: { anyOf: [HEAD, { type: 'null' }] },
    firstBadSeq: { type: 'integer' },
    problem: { type: 'string' },
    breaks: {
      type: 'array',
      items: closedObject({ seq: { type: 'integer' }, problem: { type: 'string' } }, ['seq', 'problem']),
    },
    breakCount: { type: 'integer' },
    checkpoints: closedObject(
      {
        file: { type: 'string' },
        checked: { type: 'integer' },
        latest: {
          anyOf: [closedObject({ seq: { type: 'integer' }, hash: { type: 'string' }, time: { type: 'string' } }, ['seq', 'hash', 'time']), { type: 'null' }],
        },
        invalidLines: { type: 'array', items: { type: 'integer' } },
      },
      ['file', 'checked', 'latest', 'invalidLines'],
    ),
    expectedHead: HEAD,
  },
  ['ok', 'count', 'head', 'breaks', 'breakCount', 'checkpoints'],
);

export const auditRoutes: RoutePlugin = async (app, { deployment }) => {
  const { medface } = deployment;

  app.get(
    '/audit/events',
    {
      config: { access: { operation: 'audit.read' } },
      schema: {
        tags: ['audit'],
        summary: 'Search the audit trail by patient (id or name), actor (id or username), action, outcome and time (from inclusive, to exclusive); entries name the user and the patient searched for',
        querystring: closedObject({
          patientId: { type: 'string', minLength: 1, maxLength: 200 },
          patientName: { type: 'string', minLength: 1, maxLength: 200, description: 'Words of a patient’s name: the entries about any patient found' },
          actor: { type: 'string', minLength: 1, maxLength: 200 },
          userName: { type: 'string', minLength: 1, maxLength: 64, description: 'The start of a username: the entries by any user found' },
          action: { type: 'string', minLength: 1, maxLength: 200 },
          outcome: { type: 'string', enum: ['success', 'failure', 'denied'] },
          from: TIME,
          to: TIME,
          limit: { type: 'integer', minimum: 1, maximum: 1000 },
        }),
        response: { 200: AUDIT_EVENTS },
      },
    },
    async (request) => {
      const q = request.query;
      const search: AuditSearch = {
        ...q,
        from: q.from === undefined ? undefined : new Date(q.from),
        to: q.to === undefined ? undefined : new Date(q.to),
      };
      const { actor, rights } = await listReaderOf(request);
      return { events: await searchAuditLog(medface, search, actor, rights) };
    },
  );

  app.get(
    '/audit/verify',
    {
      config: { access: { operation: 'audit.verify' } },
      schema: {
        tags: ['audit'],
        summary: 'Verify the hash chain against the keyed checkpoints (and a recorded head): ok with its head (record it elsewhere), or every missing, altered or rewritten entry',
        querystring: closedObject({ expectHead: { type: 'string', pattern: '^[0-9]{1,15}:[0-9a-f]{64}$', description: 'a head recorded earlier, SEQ:HASH' } }),
        response: {
          200: AUDIT_VERIFICATION,
        },
      },
    },
    async (request) => {
      const { expectHead } = request.query;
      return verifyAuditLog(medface, expectHead === undefined ? undefined : parseHead(expectHead));
    },
  );

  app.get(
    '/integrity',
    {
      config: { access: { operation: 'audit.verify' } },
      schema: {
        tags: ['admin'],
        summary: "Consistency check: every stored template opens with the keys, has an active consent and is in this node's gallery, which holds nothing else; the audit chain verifies",
        querystring: NO_QUERY,
        response: {
          200: closedObject(
            {
              ok: { type: 'boolean' },
              stored: { type: 'integer' },
              indexed: { type: 'integer' },
              problems: {
                type: 'array',
                items: closedObject({ kind: { type: 'string' }, templateId: { type: 'string' } }, ['kind', 'templateId']),
              },
              audit: AUDIT_VERIFICATION,
            },
            ['ok', 'stored', 'indexed', 'problems', 'audit'],
          ),
        },
      },
    },
    async () => checkIntegrity(medface),
  );

  app.get(
    '/audit/export',
    {
      config: { access: { operation: 'audit.export' } },
      schema: {
        tags: ['audit'],
        summary: 'Every entry recorded in [from, to) as a FHIR Bundle of AuditEvents (application/fhir+json)',
        querystring: closedObject({ from: TIME, to: TIME }, ['from', 'to']),
        response: { 200: { type: 'object', additionalProperties: true, properties: { resourceType: { type: 'string', const: 'Bundle' } } } },
      },
    },
    async (request, reply) => {
      const { from, to } = request.query;
      if (Date.parse(from) >= Date.parse(to)) {
        throw new MedfaceError('VALIDATION_FAILED', 'from must be before to', { issues: [{ path: 'querystring.from', message: 'must be before to' }] });
      }
      const bundle = await exportAuditLog(medface, { from: new Date(from), to: new Date(to) }, actorOf(callerOf(request)));
      return reply.type(FHIR_JSON).send(bundle);
    },
  );
};
