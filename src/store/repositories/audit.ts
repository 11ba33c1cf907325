import type { SqlExecutor, SqlValue } from '../sql.js';
import { isoTime } from '../sql.js';

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
      const rows = await sql.all<{ seq: number | string; hash: string }>(
        'SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1',
      );
      return rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash } : null;
    },
    async insertAuditEvent(e: AuditEventRow): Promise<void> {
      await sql.run(
        `INSERT INTO audit_events (seq, time, actor, client, action, outcome, patient_ref, details, prev_hash, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [e.seq, e.time, e.actor, e.client, e.action, e.outcome, e.patientRef, e.details, e.prevHash, e.hash],
      );
    },
    async listAuditEvents(q: AuditQuery): Promise<AuditEventRow[]> {
      const where: string[] = [];
      const params: SqlValue[] = [];
      const filters: [string, SqlValue | undefined][] = [
        ['seq > ?', q.afterSeq],
        ['time >= ?', q.from],
        ['time < ?', q.to],
        ['actor = ?', q.actor],
        ['action = ?', q.action],
        ['outcome = ?', q.outcome],
        ['patient_ref = ?', q.patientRef],
      ];
      for (const [clause, value] of filters) {
        if (value === undefined) continue;
        where.push(clause);
        params.push(value);
      }
      params.push(q.limit);
      const rows = await sql.all<AuditDbRow>(
        `SELECT seq, time, actor, client, action, outcome, patient_ref, details, prev_hash, hash FROM audit_events
         ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq LIMIT ?`,
        params,
      );
      return rows.map(auditRow);
    },
  };
}

interface AuditDbRow {
  seq: number | string;
  time: unknown;
  actor: string;
  client: string | null;
  action: string;
  outcome: string;
  patient_ref: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

function auditRow(r: AuditDbRow): AuditEventRow {
  return {
    seq: Number(r.seq),
    time: isoTime(r.time),
    actor: r.actor,
    client: r.client,
    action: r.action,
    outcome: r.outcome as AuditOutcome,
    patientRef: r.patient_ref,
    details: r.details,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}
