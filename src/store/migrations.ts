import { MedfaceError } from '../errors.js';
import type { SqlExecutor } from './sql.js';

/**
 * Numbered schema migrations. Each is written once for both engines: the column types that differ are named
 * (`ColumnTypes`) and only trigger syntax is written per engine. Applied migrations are never edited: a change
 * is a new number.
 */
export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}

/** The column types whose names differ between SQLite STRICT tables and PostgreSQL. */
interface ColumnTypes {
  /** An ISO-8601 UTC time: TEXT in SQLite, timestamptz in PostgreSQL. */
  time: string;
  json: string;
  bytes: string;
  real: string;
  /** A 64-bit integer (SQLite's INTEGER is one already). */
  bigint: string;
  /** Text compared and ordered by code point (prefix searches as index ranges): SQLite's default, "C" in PostgreSQL. */
  ordered: string;
  /** After a table's closing parenthesis: SQLite tables are STRICT. */
  strict: string;
}

const SQLITE_TYPES: ColumnTypes = { time: 'TEXT', json: 'TEXT', bytes: 'BLOB', real: 'REAL', bigint: 'INTEGER', ordered: 'TEXT', strict: ' STRICT' };
const POSTGRES_TYPES: ColumnTypes = {
  time: 'TIMESTAMPTZ',
  json: 'JSONB',
  bytes: 'BYTEA',
  real: 'DOUBLE PRECISION',
  bigint: 'BIGINT',
  ordered: 'TEXT COLLATE "C"',
  strict: '',
};

/** One schema written once in the types both engines name, plus what only one engine writes (triggers). */
function bothEngines(schema: (t: ColumnTypes) => string, only: { sqlite: string; postgres: string } = { sqlite: '', postgres: '' }): Pick<Migration, 'sqlite' | 'postgres'> {
  return { sqlite: schema(SQLITE_TYPES) + only.sqlite, postgres: schema(POSTGRES_TYPES) + only.postgres };
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'records, biometric templates, duplicate links, keys, audit trail',
    ...bothEngines(
      (t) => `
CREATE TABLE patients (
  id TEXT PRIMARY KEY,
  version_id INTEGER NOT NULL,
  last_updated ${t.time} NOT NULL,
  sort_name ${t.ordered} NOT NULL,
  birth_date ${t.ordered},
  gender TEXT,
  resource ${t.json} NOT NULL
)${t.strict};
CREATE INDEX patients_birth_date ON patients (birth_date);
CREATE INDEX patients_sort_name ON patients (sort_name, id);

CREATE TABLE patient_identifiers (
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  system TEXT,
  value TEXT NOT NULL
)${t.strict};
CREATE UNIQUE INDEX patient_identifiers_unique ON patient_identifiers (system, value) WHERE system IS NOT NULL;
CREATE INDEX patient_identifiers_value ON patient_identifiers (value);
CREATE INDEX patient_identifiers_patient ON patient_identifiers (patient_id);

CREATE TABLE patient_name_tokens (
  token ${t.ordered} NOT NULL,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  PRIMARY KEY (token, patient_id)
)${t.strict};
CREATE INDEX patient_name_tokens_patient ON patient_name_tokens (patient_id);

CREATE TABLE consents (
  id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  status TEXT NOT NULL,
  scope TEXT NOT NULL,
  category TEXT NOT NULL,
  version_id INTEGER NOT NULL,
  last_updated ${t.time} NOT NULL,
  resource ${t.json} NOT NULL
)${t.strict};
CREATE INDEX consents_patient ON consents (patient_id);
CREATE UNIQUE INDEX consents_one_active ON consents (patient_id, category) WHERE status = 'active';

CREATE TABLE templates (
  id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  model_id TEXT NOT NULL,
  transform_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  wrapped_key ${t.bytes} NOT NULL,
  iv ${t.bytes} NOT NULL,
  ciphertext ${t.bytes} NOT NULL,
  tag ${t.bytes} NOT NULL,
  quality ${t.json} NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('enrol', 'refresh')),
  created_at ${t.time} NOT NULL
)${t.strict};
CREATE INDEX templates_patient ON templates (patient_id, created_at);

CREATE TABLE photos (
  id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  template_id TEXT REFERENCES templates (id) ON DELETE CASCADE,
  media_type TEXT NOT NULL,
  key_id TEXT NOT NULL,
  wrapped_key ${t.bytes} NOT NULL,
  iv ${t.bytes} NOT NULL,
  ciphertext ${t.bytes} NOT NULL,
  tag ${t.bytes} NOT NULL,
  created_at ${t.time} NOT NULL
)${t.strict};
CREATE INDEX photos_patient ON photos (patient_id);
CREATE INDEX photos_template ON photos (template_id);

CREATE TABLE patient_links (
  id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  other_patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  grade TEXT NOT NULL,
  score ${t.real} NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'rejected', 'overridden')),
  reason TEXT,
  created_by TEXT NOT NULL,
  created_at ${t.time} NOT NULL,
  reviewed_by TEXT,
  reviewed_at ${t.time},
  CHECK (patient_id <> other_patient_id),
  UNIQUE (patient_id, other_patient_id)
)${t.strict};
CREATE INDEX patient_links_other ON patient_links (other_patient_id);
CREATE INDEX patient_links_status ON patient_links (status);

CREATE TABLE key_metadata (
  id TEXT PRIMARY KEY,
  purpose TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  check_value TEXT NOT NULL,
  created_at ${t.time} NOT NULL,
  retired_at ${t.time}
)${t.strict};

CREATE TABLE audit_events (
  seq ${t.bigint} PRIMARY KEY,
  time ${t.time} NOT NULL,
  actor TEXT NOT NULL,
  client TEXT,
  action TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
  patient_ref TEXT,
  details TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
)${t.strict};
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_patient ON audit_events (patient_ref);
CREATE INDEX audit_events_actor ON audit_events (actor);
CREATE INDEX audit_events_action ON audit_events (action);
`,
      {
        sqlite: `CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
  BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
  BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
`,
        postgres: `CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only';
END
$$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
`,
      },
    ),
  },
  {
    version: 2,
    name: 'people, credentials, TOTP, sessions, sign-in throttling, API clients',
    ...bothEngines(
      (t) => `
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  username ${t.ordered} NOT NULL UNIQUE,
  display_name TEXT,
  roles ${t.json} NOT NULL,
  patient_id TEXT UNIQUE REFERENCES patients (id) ON DELETE CASCADE,
  created_at ${t.time} NOT NULL,
  updated_at ${t.time} NOT NULL,
  disabled_at ${t.time}
)${t.strict};

CREATE TABLE credentials (
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('password', 'pin')),
  hash TEXT NOT NULL,
  must_change INTEGER NOT NULL CHECK (must_change IN (0, 1)),
  updated_at ${t.time} NOT NULL,
  PRIMARY KEY (user_id, kind)
)${t.strict};

CREATE TABLE totp_secrets (
  user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  sealed_secret ${t.bytes} NOT NULL,
  algorithm TEXT NOT NULL,
  digits INTEGER NOT NULL,
  period INTEGER NOT NULL,
  last_step ${t.bigint},
  created_at ${t.time} NOT NULL
)${t.strict};

CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at ${t.time} NOT NULL,
  last_seen_at ${t.time} NOT NULL,
  idle_timeout_seconds INTEGER NOT NULL,
  idle_expires_at ${t.time} NOT NULL,
  expires_at ${t.time} NOT NULL,
  client TEXT,
  auth_method TEXT NOT NULL,
  match_grade TEXT,
  match_score ${t.real}
)${t.strict};
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_idle_expires ON sessions (idle_expires_at);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE sign_in_throttle (
  subject TEXT PRIMARY KEY,
  failures INTEGER NOT NULL,
  last_failure_at ${t.time} NOT NULL,
  blocked_until ${t.time}
)${t.strict};

CREATE TABLE api_clients (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  key_hash TEXT NOT NULL UNIQUE,
  scopes ${t.json} NOT NULL,
  created_at ${t.time} NOT NULL,
  created_by TEXT NOT NULL,
  revoked_at ${t.time}
)${t.strict};
`,
    ),
  },
  {
    version: 3,
    name: 'clinical resources, break-glass grants',
    // Break-glass grants keep their patient (no cascade): a review item must not vanish with the record.
    ...bothEngines(
      (t) => `
CREATE TABLE clinical_resources (
  id TEXT PRIMARY KEY,
  resource_type TEXT NOT NULL,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  version_id INTEGER NOT NULL,
  last_updated ${t.time} NOT NULL,
  resource ${t.json} NOT NULL
)${t.strict};
CREATE INDEX clinical_resources_patient ON clinical_resources (patient_id, resource_type, last_updated);

CREATE TABLE break_glass_grants (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  patient_id TEXT NOT NULL REFERENCES patients (id),
  reason TEXT NOT NULL,
  client TEXT,
  granted_at ${t.time} NOT NULL,
  expires_at ${t.time} NOT NULL,
  review_status TEXT NOT NULL CHECK (review_status IN ('pending', 'reviewed')),
  reviewed_by TEXT,
  reviewed_at ${t.time},
  review_note TEXT,
  CHECK (expires_at > granted_at)
)${t.strict};
CREATE INDEX break_glass_grants_access ON break_glass_grants (user_id, patient_id, expires_at);
CREATE INDEX break_glass_grants_review ON break_glass_grants (review_status, granted_at);
`,
    ),
  },
  {
    version: 4,
    name: 'staff face templates',
    // Not `templates`: the gallery, 1:N identification and duplicate checks read only patients' templates.
    ...bothEngines(
      (t) => `
CREATE TABLE staff_templates (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  model_id TEXT NOT NULL,
  transform_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  wrapped_key ${t.bytes} NOT NULL,
  iv ${t.bytes} NOT NULL,
  ciphertext ${t.bytes} NOT NULL,
  tag ${t.bytes} NOT NULL,
  quality ${t.json} NOT NULL,
  consent_notice TEXT NOT NULL,
  created_at ${t.time} NOT NULL
)${t.strict};
CREATE INDEX staff_templates_user ON staff_templates (user_id, created_at);
`,
    ),
  },
  {
    version: 5,
    name: 'liveness challenges',
    // Single-use: consumption sets consumed_at once (UPDATE … WHERE consumed_at IS NULL). Rows are short-lived
    // and purged after their deadline; `subject` is what the challenge was issued for (a patient to verify).
    ...bothEngines(
      (t) => `
CREATE TABLE liveness_challenges (
  id TEXT PRIMARY KEY,
  nonce TEXT NOT NULL,
  actions ${t.json} NOT NULL,
  purpose TEXT NOT NULL,
  subject TEXT,
  issued_at ${t.time} NOT NULL,
  deadline ${t.time} NOT NULL,
  consumed_at ${t.time},
  CHECK (deadline > issued_at)
)${t.strict};
CREATE INDEX liveness_challenges_deadline ON liveness_challenges (deadline);
`,
    ),
  },
  {
    version: 6,
    name: 'shared rate-limit counters, change notifications for the nodes',
    // A counter per limited route and caller, shared by every node; expired windows are purged.
    // PostgreSQL: a committed change to templates or key metadata is announced on the channel
    // 'medface:<schema>' (payload 'templates <patient id>' or 'keys', never a vector), sent by the trigger
    // inside the writing transaction, so only on commit; every node's gallery follows (services/operations/gallery-sync.ts).
    ...bothEngines(
      (t) => `
CREATE TABLE rate_limit_counters (
  key TEXT PRIMARY KEY,
  hits INTEGER NOT NULL,
  window_ends_at ${t.time} NOT NULL
)${t.strict};
CREATE INDEX rate_limit_counters_window ON rate_limit_counters (window_ends_at);
`,
      {
        sqlite: ``,
        postgres: `
CREATE FUNCTION medface_announce_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'templates' AND TG_OP <> 'UPDATE' THEN
    -- one notification per patient and transaction: PostgreSQL folds identical ones
    PERFORM pg_notify(left('medface:' || TG_TABLE_SCHEMA, 63), 'templates ' || (CASE WHEN TG_OP = 'DELETE' THEN OLD.patient_id ELSE NEW.patient_id END));
  ELSE
    -- re-protection (key rotation, transform renewal) moves no vector: the nodes only need the new key ring
    PERFORM pg_notify(left('medface:' || TG_TABLE_SCHEMA, 63), 'keys');
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER templates_announce AFTER INSERT OR UPDATE OR DELETE ON templates
  FOR EACH ROW EXECUTE FUNCTION medface_announce_change();
CREATE TRIGGER key_metadata_announce AFTER INSERT OR UPDATE OR DELETE ON key_metadata
  FOR EACH STATEMENT EXECUTE FUNCTION medface_announce_change();
`,
      },
    ),
  },
  {
    version: 7,
    name: 'account requests awaiting a second administrator',
    // Granting a clinical or administrator role, or resetting another account's password or TOTP, through the
    // server is a request another administrator approves (access/approvals.ts). No secret is stored: the
    // password is generated at approval and shown to the approver once. A decision is made once
    // (UPDATE … WHERE status = 'pending').
    ...bothEngines(
      (t) => `
CREATE TABLE account_requests (
  id TEXT PRIMARY KEY,
  action TEXT NOT NULL CHECK (action IN ('user.create', 'user.password-reset', 'user.totp-reset')),
  username TEXT NOT NULL,
  details ${t.json} NOT NULL,
  requested_by TEXT NOT NULL,
  requested_at ${t.time} NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
  decided_by TEXT,
  decided_at ${t.time}
)${t.strict};
CREATE INDEX account_requests_status ON account_requests (status, requested_at);
`,
    ),
  },
  {
    version: 8,
    name: 'patient notices',
    // What the clinic did to a patient's biometric data that the patient must be told of (a face added),
    // kept until told in the portal and at a visit: each channel marks the notice once it has shown it.
    ...bothEngines(
      (t) => `
CREATE TABLE patient_notices (
  id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  created_at ${t.time} NOT NULL,
  portal_shown_at ${t.time},
  visit_shown_at ${t.time}
)${t.strict};
CREATE INDEX patient_notices_patient ON patient_notices (patient_id, created_at);
`,
    ),
  },
  {
    version: 9,
    name: 'kiosk devices',
    // A kiosk is an API client of kind 'kiosk' whose credential is a device cookie: its row is created with
    // the hash of a one-time pairing code, which pairing replaces with the device token's (paired_at set once).
    ...bothEngines(
      (t) => `
ALTER TABLE api_clients ADD COLUMN kind TEXT NOT NULL DEFAULT 'integration';
ALTER TABLE api_clients ADD COLUMN paired_at ${t.time};
`,
    ),
  },
];

/**
 * Brings the schema up to the newest migration. `begin` must start a transaction that excludes other
 * migrators (BEGIN IMMEDIATE in SQLite, an advisory lock in PostgreSQL), so two processes starting at
 * once apply each migration exactly once.
 */
export async function migrate(sql: SqlExecutor, begin: () => Promise<void>, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const latest = migrations.reduce((max, m) => Math.max(max, m.version), 0);
  const applied: number[] = [];
  for (const m of migrations) {
    await begin();
    try {
      const t = sql.engine === 'sqlite' ? SQLITE_TYPES : POSTGRES_TYPES;
      await sql.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at ${t.time} NOT NULL)${t.strict}`);
      const [newest] = await sql.all<{ version: number | null }>('SELECT MAX(version) AS version FROM schema_migrations');
      if (newest?.version !== null && newest?.version !== undefined && Number(newest.version) > latest) {
        throw new MedfaceError('STORE_UNAVAILABLE', 'the database schema is newer than this version of medface', {
          schemaVersion: Number(newest.version),
          supportedVersion: latest,
        });
      }
      const done = await sql.all<{ version: number }>('SELECT version FROM schema_migrations WHERE version = ?', [m.version]);
      if (done.length === 0) {
        await sql.exec(sql.engine === 'sqlite' ? m.sqlite : m.postgres);
        await sql.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [m.version, m.name, new Date().toISOString()]);
        applied.push(m.version);
      }
      await sql.exec('COMMIT');
    } catch (e) {
      // The original failure is what matters; a failed ROLLBACK only means there was nothing to undo.
      await sql.exec('ROLLBACK').catch(() => undefined);
      throw e;
    }
  }
  return applied;
}
