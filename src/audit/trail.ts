import { createHash, createHmac } from 'node:crypto';
import { MedfaceError } from '../errors.js';
import type { AuditEventRow, AuditOutcome, Repository, Store } from '../store/types.js';
import { canonicalJson } from './canonical.js';
import { CheckpointFile, type KnownHead } from './checkpoints.js';

/** The `prevHash` of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

const ACTION = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/;
const MAX_TEXT = 200;
const MAX_DETAIL_STRING = 256;
const MAX_DETAIL_ARRAY = 64;
const MAX_DETAIL_DEPTH = 4;
const MAX_DETAILS = 4096;

export interface AuditEntry {
  /** A user id, an API client id, or 'system'. */
  actor: string;
  /** Where the request came from (address, kiosk id), when known. */
  client?: string | null;
  /** Dotted verb, e.g. 'patient.read', 'biometric.identify', 'consent.withdraw', 'biometric.erase'. */
  action: string;
  outcome: AuditOutcome;
  /** Stored only as a keyed pseudonym (see AuditTrail.patientRef). */
  patientId?: string | null;
  /**
   * Machine-readable facts: scores, grades, reason codes, counts. Never images, embeddings or PHI text —
   * long strings, long arrays and binary values are refused to keep them out. Refer to other patients
   * with `patientRef` too.
   */
  details?: Record<string, unknown>;
}

export interface AuditEvent extends Omit<AuditEventRow, 'details'> {
  details: Record<string, unknown>;
}

/**
 * The hash-chained, append-only audit log. Each entry's hash is SHA-256 over the canonical JSON of its
 * fields and the previous entry's hash, so changing, removing or reordering any entry breaks the chain
 * from that point on (verifyChain). Patients appear only as HMAC pseudonyms under a deployment secret:
 * the log never has to be rewritten when a patient's data is erased, and a privacy officer who knows a
 * patient id can still find that patient's entries.
 */
export class AuditTrail {
  readonly #listeners = new Set<(event: AuditEvent) => void>();

  constructor(private readonly pseudonymKey: Buffer) {
    if (pseudonymKey.length < 32) throw new MedfaceError('KEY_INVALID', 'the audit pseudonym key must be at least 32 bytes');
  }

  /** The checkpoint file at `file`, its MACs under a key derived from the pseudonym key (checkpoints.ts). */
  checkpointFile(file: string): CheckpointFile {
    return new CheckpointFile(file, this.pseudonymKey);
  }

  /** The pseudonym under which a patient appears in the audit log. */
  patientRef(patientId: string): string {
    return createHmac('sha256', this.pseudonymKey).update(patientId, 'utf8').digest('hex');
  }

  /**
   * Appends an entry inside the caller's transaction, so it commits or rolls back with the change it
   * records. Make it the transaction's last step: on PostgreSQL it takes the log's lock until commit.
   */
  async append(tx: Repository, entry: AuditEntry): Promise<AuditEvent> {
    const details = checkEntry(entry);
    const head = await tx.lockAuditHead();
    const unhashed: Omit<AuditEventRow, 'hash'> = {
      seq: (head?.seq ?? 0) + 1,
      time: new Date().toISOString(),
      actor: entry.actor,
      // an empty client says nothing; kept as unknown (FHIR, which exports it, has no empty strings)
      client: entry.client || null,
      action: entry.action,
      outcome: entry.outcome,
      patientRef: entry.patientId === undefined || entry.patientId === null ? null : this.patientRef(entry.patientId),
      details,
      prevHash: head?.hash ?? GENESIS_HASH,
    };
    const row: AuditEventRow = { ...unhashed, hash: entryHash(unhashed) };
    await tx.insertAuditEvent(row);
    const event = toEvent(row);
    for (const listener of this.#listeners) listener(event);
    return event;
  }

  /** Appends an entry in a transaction of its own: what is recorded on its own (a read, a refusal), beside no change. */
  record(store: Store, entry: AuditEntry): Promise<AuditEvent> {
    return store.transaction((tx) => this.append(tx, entry));
  }

  /**
   * Calls `listener` with every entry appended from now on (monitoring counts outcomes from them). It runs
   * inside the entry's transaction, before the commit, and must not throw. Returns the unsubscribe.
   */
  onAppend(listener: (event: AuditEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Entries matching every given filter, in log order; `to` is exclusive. */
  async search(
    repo: Repository,
    q: {
      patientId?: string;
      /** Any of these patients (an empty list matches nothing). */
      patientIds?: readonly string[];
      actor?: string;
      /** Any of these actors (an empty list matches nothing). */
      actors?: readonly string[];
      action?: string;
      outcome?: AuditOutcome;
      from?: Date;
      to?: Date;
      afterSeq?: number;
      limit?: number;
    },
  ): Promise<AuditEvent[]> {
    const rows = await repo.listAuditEvents({
      ...(q.afterSeq !== undefined && { afterSeq: q.afterSeq }),
      ...(q.from !== undefined && { from: q.from.toISOString() }),
      ...(q.to !== undefined && { to: q.to.toISOString() }),
      ...(q.actor !== undefined && { actor: q.actor }),
      ...(q.action !== undefined && { action: q.action }),
      ...(q.outcome !== undefined && { outcome: q.outcome }),
      ...(q.patientId !== undefined && { patientRef: this.patientRef(q.patientId) }),
      ...(q.actors !== undefined && { actors: q.actors }),
      ...(q.patientIds !== undefined && { patientRefs: q.patientIds.map((id) => this.patientRef(id)) }),
      limit: q.limit ?? 100,
    });
    return rows.map(toEvent);
  }
}

/** SHA-256 over the canonical JSON of every field but the hash itself (details as their stored text). */
export function entryHash(e: Omit<AuditEventRow, 'hash'>): string {
  const fields = {
    seq: e.seq,
    time: e.time,
    actor: e.actor,
    client: e.client,
    action: e.action,
    outcome: e.outcome,
    patientRef: e.patientRef,
    details: e.details,
    prevHash: e.prevHash,
  };
  return createHash('sha256').update(canonicalJson(fields), 'utf8').digest('hex');
}

/** Where and how the log differs from an intact chain. */
export interface ChainBreak {
  seq: number;
  /**
   * missing: entries absent from here on (to the next present one); altered: the entry does not match its
   * hash; broken-link: it does not name the previous entry's hash; rewritten: its hash differs from a head
   * recorded outside the database (a checkpoint, or one the privacy officer wrote down); cut-short: the log
   * ends before a recorded head.
   */
  problem: 'missing' | 'altered' | 'broken-link' | 'rewritten' | 'cut-short';
}

/** At most this many breaks are listed (`breakCount` counts them all). */
const MAX_BREAKS = 100;

export type ChainVerification =
  | { ok: true; count: number; head: { seq: number; hash: string } | null }
  | {
      ok: false;
      /** Entries verified intact before the first break. */
      count: number;
      /** The first break (as in `breaks[0]`). */
      firstBadSeq: number;
      problem: ChainBreak['problem'];
      /** Every break in log order (the first MAX_BREAKS). */
      breaks: ChainBreak[];
      breakCount: number;
      /** The last entry as stored, whatever the breaks before it. */
      head: { seq: number; hash: string } | null;
    };

/**
 * Walks the whole log in order and reports every missing or altered entry: after a break the walk goes on
 * from the entry as stored, so one edit is one break and a second edit further on is found too. A chain
 * recomputed from an edit onwards verifies by itself — whoever holds the database can do that — so `known`
 * heads, recorded outside the database (keyed checkpoints, a head the privacy officer wrote down), are
 * compared with the entries at their positions: a different hash is a rewrite, a log ending before one was
 * cut short.
 */
export async function verifyChain(repo: Repository, pageSize = 1000, known: readonly KnownHead[] = []): Promise<ChainVerification> {
  const expected = new Map<number, string[]>();
  for (const k of known) expected.set(k.seq, [...(expected.get(k.seq) ?? []), k.hash]);
  const breaks: ChainBreak[] = [];
  let breakCount = 0;
  const broke = (seq: number, problem: ChainBreak['problem']) => {
    breakCount++;
    if (breaks.length < MAX_BREAKS) breaks.push({ seq, problem });
  };
  let firstBreakCount: number | null = null;
  let nextSeq = 1;
  let prevHash = GENESIS_HASH;
  let intact = 0;
  for (;;) {
    const page = await repo.listAuditEvents({ afterSeq: nextSeq - 1, limit: pageSize });
    for (const e of page) {
      const before = breakCount;
      if (e.seq !== nextSeq) broke(nextSeq, 'missing');
      else if (e.prevHash !== prevHash) broke(e.seq, 'broken-link');
      const { hash, ...unhashed } = e;
      if (entryHash(unhashed) !== hash) broke(e.seq, 'altered');
      if ((expected.get(e.seq) ?? []).some((h) => h !== hash)) broke(e.seq, 'rewritten');
      if (breakCount === before && firstBreakCount === null) intact = e.seq;
      else firstBreakCount ??= intact;
      prevHash = hash;
      nextSeq = e.seq + 1;
    }
    if (page.length < pageSize) break;
  }
  const last = nextSeq - 1;
  const head = last === 0 ? null : { seq: last, hash: prevHash };
  const beyond = known.filter((k) => k.seq > last).map((k) => k.seq);
  if (beyond.length > 0) {
    firstBreakCount ??= intact;
    broke(last + 1, 'cut-short');
  }
  if (breakCount === 0) return { ok: true, count: last, head };
  const first = breaks[0] as ChainBreak;
  return { ok: false, count: firstBreakCount ?? intact, firstBadSeq: first.seq, problem: first.problem, breaks, breakCount, head };
}

function toEvent(row: AuditEventRow): AuditEvent {
  return { ...row, details: JSON.parse(row.details) as Record<string, unknown> };
}

/** Validates an entry and returns its details as canonical JSON text. */
function checkEntry(entry: AuditEntry): string {
  const fail = (path: string, message: string): never => {
    throw new MedfaceError('INVALID_ARGUMENT', `audit entry ${path} ${message}`, { path });
  };
  if (typeof entry.actor !== 'string' || entry.actor === '' || entry.actor.length > MAX_TEXT) fail('actor', `must be 1-${MAX_TEXT} characters`);
  if (entry.client !== undefined && entry.client !== null && (typeof entry.client !== 'string' || entry.client.length > MAX_TEXT)) {
    fail('client', `must be at most ${MAX_TEXT} characters`);
  }
  if (typeof entry.action !== 'string' || !ACTION.test(entry.action) || entry.action.length > MAX_TEXT) {
    fail('action', 'must be a dotted lower-case verb such as patient.read');
  }
  if (!['success', 'failure', 'denied'].includes(entry.outcome)) fail('outcome', 'must be success, failure or denied');
  const visit = (v: unknown, path: string, depth: number): void => {
    if (v === null || typeof v === 'boolean') return;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) fail(path, 'must be a finite number');
      return;
    }
    if (typeof v === 'string') {
      if (v.length > MAX_DETAIL_STRING) fail(path, `must be at most ${MAX_DETAIL_STRING} characters (no free text or images)`);
      return;
    }
    if (depth >= MAX_DETAIL_DEPTH) fail(path, `nests deeper than ${MAX_DETAIL_DEPTH} levels`);
    if (Array.isArray(v)) {
      if (v.length > MAX_DETAIL_ARRAY) fail(path, `must have at most ${MAX_DETAIL_ARRAY} entries (no embeddings)`);
      v.forEach((x, i) => visit(x, `${path}[${i}]`, depth + 1));
      return;
    }
    if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (x !== undefined) visit(x, `${path}.${k}`, depth + 1);
      return;
    }
    fail(path, 'must be plain JSON (no binary data)');
  };
  visit(entry.details ?? {}, 'details', 0);
  const text = canonicalJson(entry.details ?? {});
  if (text.length > MAX_DETAILS) fail('details', `must encode to at most ${MAX_DETAILS} characters`);
  return text;
}
