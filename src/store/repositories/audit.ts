import type { SqlExecutor } from '../sql.js';
import { num, table, text, textOrNull, time, whereGiven } from './columns.js';

/**
 * The audit trail: append-only, hash-chained by src/audit/.
 */

export type AuditOutcome = 'success' | 'failure' | 'denied';

export interface AuditEventRow {
  seq: number;
  time: string;
  actor: string;
  client: string | null;
  action: string;
  outcome: AuditOutcome;
  /** Pseudonymous patient reference (never the patient id itself). */
  patientRef: string | null;
  /** Canonical JSON text, stored exactly as hashed. */
  details: string;
  prevHash: string;
  hash: string;
}

export interface AuditQuery {
  afterSeq?: number;
  from?: string;
  to?: string;
  actor?: string;
  action?: string;
  outcome?: AuditOutcome;
  patientRef?: string;
  /** Entries by any of these actors (an empty list matches none). */
  actors?: readonly string[];
  /** Entries about any of these patients, as pseudonyms (an empty list matches none). */
  patientRefs?: readonly string[];
  limit: number;
}

/** Any 64-bit constant works; it names the PostgreSQL advisory lock that orders audit appends. */
const AUDIT_LOCK_KEY = 4_823_117_560_231;

export interface AuditRepository {
  /** Serialises appenders until the transaction ends and returns the chain head (null when empty). */
  lockAuditHead(): Promise<{ seq: number; hash: string } | null>;
  insertAuditEvent(e: AuditEventRow): Promise<void>;
  listAuditEvents(query: AuditQuery): Promise<AuditEventRow[]>;
}

export function auditRepository(sql: SqlExecutor): AuditRepository {
  return {
    async lockAuditHead(): Promise<{ seq: number; hash: string } | null> {
      // SQLite needs no lock here: its store runs one transaction at a time.
      if (sql.engine === 'postgres') await sql.all('SELECT pg_advisory_xact_lock(?)', [AUDIT_LOCK_KEY]);
      const rows = await sql.all<{ seq: number | string; hash: string }>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
      return rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash } : null;
    },
    insertAuditEvent: (e) => AUDIT_EVENTS.insertRow(sql, e),
    async listAuditEvents(q: AuditQuery): Promise<AuditEventRow[]> {
      const { where, params } = whereGiven(
        [
          ['seq > ?', q.afterSeq],
          ['time >= ?', q.from],
          ['time < ?', q.to],
          ['actor = ?', q.actor],
          ['action = ?', q.action],
          ['outcome = ?', q.outcome],
          ['patient_ref = ?', q.patientRef],
        ],
        [
          // any of several actors or patients: the users or patients a name search found
          ['actor', q.actors],
          ['patient_ref', q.patientRefs],
        ],
      );
      return AUDIT_EVENTS.all(sql, `${where} ORDER BY seq LIMIT ?`, [...params, q.limit]);
    },
  };
}

const AUDIT_EVENTS = table<AuditEventRow>('audit_events', {
  seq: num('seq'),
  time: time('time'),
  actor: text('actor'),
  client: textOrNull('client'),
  action: text('action'),
  outcome: text<AuditOutcome>('outcome'),
  patientRef: textOrNull('patient_ref'),
  details: text('details'),
  prevHash: text('prev_hash'),
  hash: text('hash'),
});
