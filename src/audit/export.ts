import { isIP } from 'node:net';
import { MedfaceError, statusOfCode } from '../errors.js';
import type { AuditEventRow, AuditOutcome, Repository } from '../store/types.js';
import { entryHash, GENESIS_HASH } from './trail.js';

/**
 * The audit trail as FHIR R4: each entry an `AuditEvent` coded with the DICOM and FHIR audit vocabularies,
 * a time range exported as a `Bundle`. Every event also carries what its chain hash covers that FHIR has no
 * element for (medface's outcome, the details text, the previous hash) and the hash itself, so an exported
 * bundle can be re-hashed on its own and compared entry by entry with the log.
 */

interface Coding {
  system: string;
  code: string;
  display?: string;
}

interface Identifier {
  system: string;
  value: string;
}

type ChainField = { url: 'outcome'; valueCode: AuditOutcome } | { url: 'details' | 'prevHash' | 'hash'; valueString: string };

export interface FhirAuditEvent {
  resourceType: 'AuditEvent';
  /** The entry's sequence number in the log. */
  id: string;
  extension: [{ url: typeof CHAIN_EXTENSION; extension: ChainField[] }];
  type: Coding;
  subtype: Coding[];
  action: 'C' | 'R' | 'U' | 'D' | 'E';
  recorded: string;
  outcome: '0' | '4' | '8' | '12';
  outcomeDesc?: string;
  purposeOfEvent?: { coding: Coding[] }[];
  agent: { who: { identifier: Identifier }; requestor: true; network?: { address: string; type: '1' | '2' } }[];
  source: { observer: { display: string }; type: Coding[] };
  entity?: { what: { identifier: Identifier }; type: Coding; role: Coding }[];
}

export interface AuditBundle {
  resourceType: 'Bundle';
  type: 'collection';
  timestamp: string;
  total?: number;
  link?: { relation: string; url: string }[];
  entry: { fullUrl: string; resource: FhirAuditEvent }[];
}

/** The complex extension holding what the chain hash covers beyond the standard elements. */
export const CHAIN_EXTENSION = 'urn:medface:fhir:audit-chain';
/** medface's own action name (`patient.read`), kept as a subtype next to the standard codes. */
export const ACTION_SYSTEM = 'urn:medface:audit-action';
export const ACTOR_SYSTEM = 'urn:medface:actor';
/** Patients appear only as the trail's keyed pseudonyms (AuditTrail.patientRef). */
export const PATIENT_PSEUDONYM_SYSTEM = 'urn:medface:audit-patient-pseudonym';

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const REST = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
const INTERACTION = 'http://hl7.org/fhir/restful-interaction';
const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';

/** A code of DICOM's controlled terminology, as the standard AuditEvent types and subtypes use. */
const dcm = (code: string, display: string): Coding => ({ system: DCM, code, display });

const TYPE = {
  rest: { system: REST, code: 'rest', display: 'Restful Operation' },
  applicationActivity: dcm('110100', 'Application Activity'),
  export: dcm('110106', 'Export'),
  securityAlert: dcm('110113', 'Security Alert'),
  userAuthentication: dcm('110114', 'User Authentication'),
} satisfies Record<string, Coding>;

const SUBTYPE = {
  login: dcm('110122', 'Login'),
  logout: dcm('110123', 'Logout'),
  emergencyOverrideStarted: dcm('110127', 'Emergency Override Started'),
  securityConfiguration: dcm('110129', 'Security Configuration'),
  securityRolesChanged: dcm('110136', 'Security Roles Changed'),
  userSecurityAttributesChanged: dcm('110137', 'User Security Attributes Changed'),
} satisfies Record<string, Coding>;

const BREAK_THE_GLASS = { system: ACT_REASON, code: 'BTG', display: 'break the glass' };

/**
 * What a verb (the last part of an action) does to its object: a FHIR RESTful interaction where the verb
 * reads or changes a record, and the AuditEvent action code. Verbs not listed are executions (E).
 */
const VERB_GROUPS: [interaction: string | undefined, action: FhirAuditEvent['action'], verbs: string[]][] = [
  ['read', 'R', ['read', 'read-demographics']],
  ['search-type', 'E', ['list', 'search']],
  ['create', 'C', ['create', 'grant', 'enrol', 'open']],
  ['update', 'U', ['update', 'write', 'withdraw', 'review', 'template-refresh']],
  ['delete', 'D', ['erase', 'delete']],
  // biometric identification and verification: operations on patients, like FHIR's Patient/$match
  ['operation', 'E', ['identify', 'verify']],
  [undefined, 'R', ['export']],
];
const VERBS: Record<string, { interaction?: string; action: FhirAuditEvent['action'] }> = Object.fromEntries(
  VERB_GROUPS.flatMap(([interaction, action, verbs]) => verbs.map((verb) => [verb, interaction === undefined ? { action } : { interaction, action }])),
);

const SIGN_IN = /^(sign-in|login|authenticate)/;
const SIGN_OUT = /^(sign-out|logout)/;

/** The standard type and subtype codes, action code and purpose of a medface action. */
export function classifyAction(action: string, details: Record<string, unknown> = {}): Pick<FhirAuditEvent, 'type' | 'subtype' | 'action' | 'purposeOfEvent'> {
  const [noun = '', ...rest] = action.split('.');
  const verb = rest[rest.length - 1] ?? '';
  const own: Coding = { system: ACTION_SYSTEM, code: action };
  const known = VERBS[verb];
  const breakGlass = noun === 'breakglass' || typeof details.breakGlassGrantId === 'string';
  const purpose = breakGlass ? { purposeOfEvent: [{ coding: [BREAK_THE_GLASS] }] } : {};
  let type: Coding;
  const subtype: Coding[] = [];
  let code: FhirAuditEvent['action'] = known?.action ?? 'E';
  if (SIGN_IN.test(verb) || SIGN_OUT.test(verb)) {
    type = TYPE.userAuthentication;
    subtype.push(SIGN_IN.test(verb) ? SUBTYPE.login : SUBTYPE.logout);
    code = 'E';
  } else if (noun === 'breakglass' && verb === 'open') {
    type = TYPE.securityAlert;
    subtype.push(SUBTYPE.emergencyOverrideStarted);
  } else if (noun === 'keys') {
    type = TYPE.securityAlert;
    subtype.push(SUBTYPE.securityConfiguration);
  } else if (noun === 'user' || noun === 'apiclient') {
    type = TYPE.securityAlert;
    subtype.push(/role/.test(verb) ? SUBTYPE.securityRolesChanged : SUBTYPE.userSecurityAttributesChanged);
  } else if (verb === 'export') {
    type = TYPE.export;
  } else if (known?.interaction !== undefined) {
    type = TYPE.rest;
    subtype.push({ system: INTERACTION, code: known.interaction });
  } else {
    type = TYPE.applicationActivity;
  }
  return { type, subtype: [...subtype, own], action: code, ...purpose };
}

/** DICOM outcome: 0 success, 4 minor failure (refused, a request's own fault), 8 serious failure (the system's). */
function outcomeCode(outcome: AuditOutcome, details: Record<string, unknown>): FhirAuditEvent['outcome'] {
  if (outcome === 'success') return '0';
  if (outcome === 'denied') return '4';
  const status = typeof details.code === 'string' ? statusOfCode(details.code) : undefined;
  return status !== undefined && status < 500 ? '4' : '8';
}

/** One audit log entry as a FHIR R4 AuditEvent. */
export function toFhirAuditEvent(row: AuditEventRow): FhirAuditEvent {
  const details = JSON.parse(row.details) as Record<string, unknown>;
  const event: FhirAuditEvent = {
    resourceType: 'AuditEvent',
    id: String(row.seq),
    extension: [
      {
        url: CHAIN_EXTENSION,
        extension: [
          { url: 'outcome', valueCode: row.outcome },
          { url: 'details', valueString: row.details },
          { url: 'prevHash', valueString: row.prevHash },
          { url: 'hash', valueString: row.hash },
        ],
      },
    ],
    ...classifyAction(row.action, details),
    recorded: row.time,
    outcome: outcomeCode(row.outcome, details),
    ...(row.outcome !== 'success' && typeof details.code === 'string' && { outcomeDesc: details.code }),
    agent: [
      {
        who: { identifier: { system: ACTOR_SYSTEM, value: row.actor } },
        requestor: true,
        // network type 2 is an IP address, 1 a machine name (a kiosk id)
        ...(row.client !== null && { network: { address: row.client, type: isIP(row.client) ? '2' : '1' } }),
      },
    ],
    source: {
      observer: { display: 'medface' },
      type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }],
    },
  };
  if (row.patientRef !== null) {
    event.entity = [
      {
        what: { identifier: { system: PATIENT_PSEUDONYM_SYSTEM, value: row.patientRef } },
        type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
        role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
      },
    ];
  }
  return event;
}

function malformed(seq: string, element: string): never {
  throw new MedfaceError('INVALID_ARGUMENT', `AuditEvent/${seq} has no usable ${element}`, { id: seq, element });
}

/** The log entry an exported AuditEvent stands for, exactly as it was hashed. */
export function fromFhirAuditEvent(event: FhirAuditEvent): AuditEventRow {
  const id = String(event?.id);
  const chain = event.extension?.find((e) => e.url === CHAIN_EXTENSION)?.extension ?? [];
  const text = (url: string): string => {
    const field = chain.find((f) => f.url === url) as { valueString?: unknown } | undefined;
    return typeof field?.valueString === 'string' ? field.valueString : malformed(id, `chain ${url}`);
  };
  const outcome = (chain.find((f) => f.url === 'outcome') as { valueCode?: AuditOutcome } | undefined)?.valueCode;
  if (outcome !== 'success' && outcome !== 'failure' && outcome !== 'denied') malformed(id, 'chain outcome');
  const action = event.subtype?.find((c) => c.system === ACTION_SYSTEM)?.code ?? malformed(id, 'action subtype');
  const agent = event.agent?.[0] ?? malformed(id, 'agent');
  const seq = Number(id);
  if (!Number.isSafeInteger(seq) || seq < 1) malformed(id, 'id (sequence number)');
  return {
    seq,
    time: typeof event.recorded === 'string' ? event.recorded : malformed(id, 'recorded'),
    actor: agent.who?.identifier?.value ?? malformed(id, 'agent.who'),
    client: agent.network?.address ?? null,
    action,
    outcome,
    patientRef: event.entity?.find((e) => e.what?.identifier?.system === PATIENT_PSEUDONYM_SYSTEM)?.what.identifier.value ?? null,
    details: text('details'),
    prevHash: text('prevHash'),
    hash: text('hash'),
  };
}

export interface TimeRange {
  /** Inclusive. */
  from: Date;
  /** Exclusive. */
  to: Date;
}

const PAGE = 1000;

function checkRange(range: TimeRange): void {
  if (!(range.from instanceof Date) || !(range.to instanceof Date) || Number.isNaN(range.from.getTime()) || Number.isNaN(range.to.getTime())) {
    throw new MedfaceError('INVALID_ARGUMENT', 'an export needs a valid from and to time');
  }
  if (range.from.getTime() >= range.to.getTime()) throw new MedfaceError('INVALID_ARGUMENT', 'from must be before to');
}

/**
 * Every log entry recorded in [from, to) as a FHIR `collection` Bundle, in log order. The range is the
 * Bundle's self link. Held in memory: export long periods in pieces.
 */
export async function exportAuditBundle(repo: Repository, range: TimeRange, now: Date = new Date()): Promise<AuditBundle> {
  checkRange(range);
  const from = range.from.toISOString();
  const to = range.to.toISOString();
  const rows: AuditEventRow[] = [];
  for (;;) {
    const page = await repo.listAuditEvents({ from, to, afterSeq: rows[rows.length - 1]?.seq ?? 0, limit: PAGE });
    rows.push(...page);
    if (page.length < PAGE) break;
  }
  return {
    resourceType: 'Bundle',
    type: 'collection',
    timestamp: now.toISOString(),
    link: [{ relation: 'self', url: `urn:medface:audit-export?from=${from}&to=${to}` }],
    entry: rows.map((row) => ({ fullUrl: `urn:medface:audit-event:${row.seq}`, resource: toFhirAuditEvent(row) })),
  };
}

export type BundleVerification = { ok: true; count: number } | { ok: false; count: number; firstBadSeq: number; problem: 'altered' | 'broken-link' | 'out-of-order' };

/**
 * Checks an exported bundle by itself: every event's hash is recomputed from its contents, and where two
 * events are consecutive in the log the later one must point at the earlier one's hash. (Whether the log
 * still holds these entries is a comparison of hashes with it: `fromFhirAuditEvent` gives the rows.)
 */
export function verifyAuditBundle(bundle: AuditBundle): BundleVerification {
  let previous: AuditEventRow | null = null;
  let count = 0;
  for (const entry of bundle.entry ?? []) {
    const row = fromFhirAuditEvent(entry.resource);
    if (previous !== null && row.seq <= previous.seq) return { ok: false, count, firstBadSeq: row.seq, problem: 'out-of-order' };
    const { hash, ...unhashed } = row;
    if (entryHash(unhashed) !== hash) return { ok: false, count, firstBadSeq: row.seq, problem: 'altered' };
    const expectedPrev = previous !== null && row.seq === previous.seq + 1 ? previous.hash : row.seq === 1 ? GENESIS_HASH : null;
    if (expectedPrev !== null && row.prevHash !== expectedPrev) return { ok: false, count, firstBadSeq: row.seq, problem: 'broken-link' };
    previous = row;
    count++;
  }
  return { ok: true, count };
}
