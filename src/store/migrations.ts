import { MedfaceError } from '../errors.js';
import type { SqlExecutor } from './sql.js';

/**
 * Numbered schema migrations. Each is written once per engine with the same logical schema; the only
 * differences are types (TEXT/BLOB/REAL in SQLite STRICT tables; timestamptz/bytea/jsonb in PostgreSQL)
 * and trigger syntax. Applied migrations are never edited: a change is a new number.
 */
export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'records, biometric templates, duplicate links, keys, audit trail',
    sqlite: `
CREATE TABLE patients (
  id TEXT PRIMARY KEY,
  version_id INTEGER NOT NULL,
  last_updated TEXT NOT NULL,
  sort_name TEXT NOT NULL,
  birth_date TEXT,
  gender TEXT,
  resource TEXT NOT NULL
) STRICT;
CREATE INDEX patients_birth_date ON patients (birth_date);
CREATE INDEX patients_sort_name ON patients (sort_name, id);

CREATE TABLE patient_identifiers (
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  system TEXT,
  value TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX patient_identifiers_unique ON patient_identifiers (system, value) WHERE system IS NOT NULL;
CREATE INDEX patient_identifiers_value ON patient_identifiers (value);
CREATE INDEX patient_identifiers_patient ON patient_identifiers (patient_id);

CREATE TABLE patient_name_tokens (
  token TEXT NOT NULL,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  PRIMARY KEY (token, patient_id)
) STRICT;
CREATE INDEX patient_name_tokens_patient ON patient_name_tokens (patient_id);

CREATE TABLE consents (
  id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  status TEXT NOT NULL,
  scope TEXT NOT NULL,
  category TEXT NOT NULL,
  version_id INTEGER NOT NULL,
  last_updated TEXT NOT NULL,
  resource TEXT NOT NULL
) STRICT;
CREATE INDEX consents_patient ON consents (patient_id);
CREATE UNIQUE INDEX consents_one_active ON consents (patient_id, category) WHERE status = 'active';

CREATE TABLE templates (
  id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  model_id TEXT NOT NULL,
  transform_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  wrapped_key BLOB NOT NULL,
  iv BLOB NOT NULL,
  ciphertext BLOB NOT NULL,
  tag BLOB NOT NULL,
  quality TEXT NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('enrol', 'refresh')),
  created_at TEXT NOT NULL
) STRICT;
CREATE INDEX templates_patient ON templates (patient_id, created_at);

CREATE TABLE photos (
  id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  template_id TEXT REFERENCES templates (id) ON DELETE CASCADE,
  media_type TEXT NOT NULL,
  key_id TEXT NOT NULL,
  wrapped_key BLOB NOT NULL,
  iv BLOB NOT NULL,
  ciphertext BLOB NOT NULL,
  tag BLOB NOT NULL,
  created_at TEXT NOT NULL
) STRICT;
CREATE INDEX photos_patient ON photos (patient_id);
CREATE INDEX photos_template ON photos (template_id);

CREATE TABLE patient_links (
  id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  other_patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  grade TEXT NOT NULL,
  score REAL NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'rejected', 'overridden')),
  reason TEXT,
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  reviewed_by TEXT,
  reviewed_at TEXT,
  CHECK (patient_id <> other_patient_id),
  UNIQUE (patient_id, other_patient_id)
) STRICT;
CREATE INDEX patient_links_other ON patient_links (other_patient_id);
CREATE INDEX patient_links_status ON patient_links (status);

CREATE TABLE key_metadata (
  id TEXT PRIMARY KEY,
  purpose TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  check_value TEXT NOT NULL,
  created_at TEXT NOT NULL,
  retired_at TEXT
) STRICT;

CREATE TABLE audit_events (
  seq INTEGER PRIMARY KEY,
  time TEXT NOT NULL,
  actor TEXT NOT NULL,
  client TEXT,
  action TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
  patient_ref TEXT,
  details TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
) STRICT;
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_patient ON audit_events (patient_ref);
CREATE INDEX audit_events_actor ON audit_events (actor);
CREATE INDEX audit_events_action ON audit_events (action);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
  BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
  BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
`,
    postgres: `
CREATE TABLE patients (
  id TEXT PRIMARY KEY,
  version_id INTEGER NOT NULL,
  last_updated TIMESTAMPTZ NOT NULL,
  sort_name TEXT COLLATE "C" NOT NULL,
  birth_date TEXT COLLATE "C",
  gender TEXT,
  resource JSONB NOT NULL
);
CREATE INDEX patients_birth_date ON patients (birth_date);
CREATE INDEX patients_sort_name ON patients (sort_name, id);

CREATE TABLE patient_identifiers (
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  system TEXT,
  value TEXT NOT NULL
);
CREATE UNIQUE INDEX patient_identifiers_unique ON patient_identifiers (system, value) WHERE system IS NOT NULL;
CREATE INDEX patient_identifiers_value ON patient_identifiers (value);
CREATE INDEX patient_identifiers_patient ON patient_identifiers (patient_id);

CREATE TABLE patient_name_tokens (
  token TEXT COLLATE "C" NOT NULL,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  PRIMARY KEY (token, patient_id)
);
CREATE INDEX patient_name_tokens_patient ON patient_name_tokens (patient_id);

CREATE TABLE consents (
  id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  status TEXT NOT NULL,
  scope TEXT NOT NULL,
  category TEXT NOT NULL,
  version_id INTEGER NOT NULL,
  last_updated TIMESTAMPTZ NOT NULL,
  resource JSONB NOT NULL
);
CREATE INDEX consents_patient ON consents (patient_id);
CREATE UNIQUE INDEX consents_one_active ON consents (patient_id, category) WHERE status = 'active';

CREATE TABLE templates (
  id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  model_id TEXT NOT NULL,
  transform_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  wrapped_key BYTEA NOT NULL,
  iv BYTEA NOT NULL,
  ciphertext BYTEA NOT NULL,
  tag BYTEA NOT NULL,
  quality JSONB NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('enrol', 'refresh')),
  created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX templates_patient ON templates (patient_id, created_at);

CREATE TABLE photos (
  id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  template_id TEXT REFERENCES templates (id) ON DELETE CASCADE,
  media_type TEXT NOT NULL,
  key_id TEXT NOT NULL,
  wrapped_key BYTEA NOT NULL,
  iv BYTEA NOT NULL,
  ciphertext BYTEA NOT NULL,
  tag BYTEA NOT NULL,
  created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX photos_patient ON photos (patient_id);
CREATE INDEX photos_template ON photos (template_id);

CREATE TABLE patient_links (
  id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  other_patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  grade TEXT NOT NULL,
  score DOUBLE PRECISION NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'rejected', 'overridden')),
  reason TEXT,
  created_by TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  reviewed_by TEXT,
  reviewed_at TIMESTAMPTZ,
  CHECK (patient_id <> other_patient_id),
  UNIQUE (patient_id, other_patient_id)
);
CREATE INDEX patient_links_other ON patient_links (other_patient_id);
CREATE INDEX patient_links_status ON patient_links (status);

CREATE TABLE key_metadata (
  id TEXT PRIMARY KEY,
  purpose TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  check_value TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  retired_at TIMESTAMPTZ
);

CREATE TABLE audit_events (
  seq BIGINT PRIMARY KEY,
  time TIMESTAMPTZ NOT NULL,
  actor TEXT NOT NULL,
  client TEXT,
  action TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
  patient_ref TEXT,
  details TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_patient ON audit_events (patient_ref);
CREATE INDEX audit_events_actor ON audit_events (actor);
CREATE INDEX audit_events_action ON audit_events (action);
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
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
  {
    version: 2,
    name: 'people, credentials, TOTP, sessions, sign-in throttling, API clients',
    sqlite: `
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  display_name TEXT,
  roles TEXT NOT NULL,
  patient_id TEXT UNIQUE REFERENCES patients (id) ON DELETE CASCADE,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  disabled_at TEXT
) STRICT;

CREATE TABLE credentials (
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('password', 'pin')),
  hash TEXT NOT NULL,
  must_change INTEGER NOT NULL CHECK (must_change IN (0, 1)),
  updated_at TEXT NOT NULL,
  PRIMARY KEY (user_id, kind)
) STRICT;

CREATE TABLE totp_secrets (
  user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  sealed_secret BLOB NOT NULL,
  algorithm TEXT NOT NULL,
  digits INTEGER NOT NULL,
  period INTEGER NOT NULL,
  last_step INTEGER,
  created_at TEXT NOT NULL
) STRICT;

CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at TEXT NOT NULL,
  last_seen_at TEXT NOT NULL,
  idle_timeout_seconds INTEGER NOT NULL,
  idle_expires_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  client TEXT,
  auth_method TEXT NOT NULL,
  match_grade TEXT,
  match_score REAL
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_idle_expires ON sessions (idle_expires_at);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE sign_in_throttle (
  subject TEXT PRIMARY KEY,
  failures INTEGER NOT NULL,
  last_failure_at TEXT NOT NULL,
  blocked_until TEXT
) STRICT;

CREATE TABLE api_clients (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  key_hash TEXT NOT NULL UNIQUE,
  scopes TEXT NOT NULL,
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL,
  revoked_at TEXT
) STRICT;
`,
    postgres: `
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  username TEXT COLLATE "C" NOT NULL UNIQUE,
  display_name TEXT,
  roles JSONB NOT NULL,
  patient_id TEXT UNIQUE REFERENCES patients (id) ON DELETE CASCADE,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  disabled_at TIMESTAMPTZ
);

CREATE TABLE credentials (
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('password', 'pin')),
  hash TEXT NOT NULL,
  must_change INTEGER NOT NULL CHECK (must_change IN (0, 1)),
  updated_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (user_id, kind)
);

CREATE TABLE totp_secrets (
  user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  sealed_secret BYTEA NOT NULL,
  algorithm TEXT NOT NULL,
  digits INTEGER NOT NULL,
  period INTEGER NOT NULL,
  last_step BIGINT,
  created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at TIMESTAMPTZ NOT NULL,
  last_seen_at TIMESTAMPTZ NOT NULL,
  idle_timeout_seconds INTEGER NOT NULL,
  idle_expires_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  client TEXT,
  auth_method TEXT NOT NULL,
  match_grade TEXT,
  match_score DOUBLE PRECISION
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_idle_expires ON sessions (idle_expires_at);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE sign_in_throttle (
  subject TEXT PRIMARY KEY,
  failures INTEGER NOT NULL,
  last_failure_at TIMESTAMPTZ NOT NULL,
  blocked_until TIMESTAMPTZ
);

CREATE TABLE api_clients (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  key_hash TEXT NOT NULL UNIQUE,
  scopes JSONB NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  created_by TEXT NOT NULL,
  revoked_at TIMESTAMPTZ
);
`,
  },
  {
    version: 3,
    name: 'clinical resources, break-glass grants',
    // Break-glass grants keep their patient (no cascade): a review item must not vanish with the record.
    sqlite: `
CREATE TABLE clinical_resources (
  id TEXT PRIMARY KEY,
  resource_type TEXT NOT NULL,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  version_id INTEGER NOT NULL,
  last_updated TEXT NOT NULL,
  resource TEXT NOT NULL
) STRICT;
CREATE INDEX clinical_resources_patient ON clinical_resources (patient_id, resource_type, last_updated);

CREATE TABLE break_glass_grants (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  patient_id TEXT NOT NULL REFERENCES patients (id),
  reason TEXT NOT NULL,
  client TEXT,
  granted_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  review_status TEXT NOT NULL CHECK (review_status IN ('pending', 'reviewed')),
  reviewed_by TEXT,
  reviewed_at TEXT,
  review_note TEXT,
  CHECK (expires_at > granted_at)
) STRICT;
CREATE INDEX break_glass_grants_access ON break_glass_grants (user_id, patient_id, expires_at);
CREATE INDEX break_glass_grants_review ON break_glass_grants (review_status, granted_at);
`,
    postgres: `
CREATE TABLE clinical_resources (
  id TEXT PRIMARY KEY,
  resource_type TEXT NOT NULL,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  version_id INTEGER NOT NULL,
  last_updated TIMESTAMPTZ NOT NULL,
  resource JSONB NOT NULL
);
CREATE INDEX clinical_resources_patient ON clinical_resources (patient_id, resource_type, last_updated);

CREATE TABLE break_glass_grants (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  patient_id TEXT NOT NULL REFERENCES patients (id),
  reason TEXT NOT NULL,
  client TEXT,
  granted_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  review_status TEXT NOT NULL CHECK (review_status IN ('pending', 'reviewed')),
  reviewed_by TEXT,
  reviewed_at TIMESTAMPTZ,
  review_note TEXT,
  CHECK (expires_at > granted_at)
);
CREATE INDEX break_glass_grants_access ON break_glass_grants (user_id, patient_id, expires_at);
CREATE INDEX break_glass_grants_review ON break_glass_grants (review_status, granted_at);
`,
  },
  {
    version: 4,
    name: 'staff face templates',
    // Not `templates`: the gallery, 1:N identification and duplicate checks read only patients' templates.
    sqlite: `
CREATE TABLE staff_templates (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  model_id TEXT NOT NULL,
  transform_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  wrapped_key BLOB NOT NULL,
  iv BLOB NOT NULL,
  ciphertext BLOB NOT NULL,
  tag BLOB NOT NULL,
  quality TEXT NOT NULL,
  consent_notice TEXT NOT NULL,
  created_at TEXT NOT NULL
) STRICT;
CREATE INDEX staff_templates_user ON staff_templates (user_id, created_at);
`,
    postgres: `
CREATE TABLE staff_templates (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  model_id TEXT NOT NULL,
  transform_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  wrapped_key BYTEA NOT NULL,
  iv BYTEA NOT NULL,
  ciphertext BYTEA NOT NULL,
  tag BYTEA NOT NULL,
  quality JSONB NOT NULL,
  consent_notice TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX staff_templates_user ON staff_templates (user_id, created_at);
`,
  },
  {
    version: 5,
    name: 'liveness challenges',
    // Single-use: consumption sets consumed_at once (UPDATE … WHERE consumed_at IS NULL). Rows are short-lived
    // and purged after their deadline; `subject` is what the challenge was issued for (a patient to verify).
    sqlite: `
CREATE TABLE liveness_challenges (
  id TEXT PRIMARY KEY,
  nonce TEXT NOT NULL,
  actions TEXT NOT NULL,
  purpose TEXT NOT NULL,
  subject TEXT,
  issued_at TEXT NOT NULL,
  deadline TEXT NOT NULL,
  consumed_at TEXT,
  CHECK (deadline > issued_at)
) STRICT;
CREATE INDEX liveness_challenges_deadline ON liveness_challenges (deadline);
`,
    postgres: `
CREATE TABLE liveness_challenges (
  id TEXT PRIMARY KEY,
  nonce TEXT NOT NULL,
  actions JSONB NOT NULL,
  purpose TEXT NOT NULL,
  subject TEXT,
  issued_at TIMESTAMPTZ NOT NULL,
  deadline TIMESTAMPTZ NOT NULL,
  consumed_at TIMESTAMPTZ,
  CHECK (deadline > issued_at)
);
CREATE INDEX liveness_challenges_deadline ON liveness_challenges (deadline);
`,
  },
  {
    version: 6,
    name: 'shared rate-limit counters, change notifications for the nodes',
    // A counter per limited route and caller, shared by every node; expired windows are purged.
    // PostgreSQL: a committed change to templates or key metadata is announced on the channel
    // 'medface:<schema>' (payload 'templates <patient id>' or 'keys', never a vector), sent by the trigger
    // inside the writing transaction, so only on commit; every node's gallery follows (services/gallery-sync.ts).
    sqlite: `
CREATE TABLE rate_limit_counters (
  key TEXT PRIMARY KEY,
  hits INTEGER NOT NULL,
  window_ends_at TEXT NOT NULL
) STRICT;
CREATE INDEX rate_limit_counters_window ON rate_limit_counters (window_ends_at);
`,
    postgres: `
CREATE TABLE rate_limit_counters (
  key TEXT PRIMARY KEY,
  hits INTEGER NOT NULL,
  window_ends_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX rate_limit_counters_window ON rate_limit_counters (window_ends_at);

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
  {
    version: 7,
    name: 'account requests awaiting a second administrator',
    // Granting a clinical or administrator role, or resetting another account's password or TOTP, through the
    // server is a request another administrator approves (access/approvals.ts). No secret is stored: the
    // password is generated at approval and shown to the approver once. A decision is made once
    // (UPDATE … WHERE status = 'pending').
    sqlite: `
CREATE TABLE account_requests (
  id TEXT PRIMARY KEY,
  action TEXT NOT NULL CHECK (action IN ('user.create', 'user.password-reset', 'user.totp-reset')),
  username TEXT NOT NULL,
  details TEXT NOT NULL,
  requested_by TEXT NOT NULL,
  requested_at TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
  decided_by TEXT,
  decided_at TEXT
) STRICT;
CREATE INDEX account_requests_status ON account_requests (status, requested_at);
`,
    postgres: `
CREATE TABLE account_requests (
  id TEXT PRIMARY KEY,
  action TEXT NOT NULL CHECK (action IN ('user.create', 'user.password-reset', 'user.totp-reset')),
  username TEXT NOT NULL,
  details JSONB NOT NULL,
  requested_by TEXT NOT NULL,
  requested_at TIMESTAMPTZ NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
  decided_by TEXT,
  decided_at TIMESTAMPTZ
);
CREATE INDEX account_requests_status ON account_requests (status, requested_at);
`,
  },
  {
    version: 8,
    name: 'patient notices',
    // What the clinic did to a patient's biometric data that the patient must be told of (a face added),
    // kept until told in the portal and at a visit: each channel marks the notice once it has shown it.
    sqlite: `
CREATE TABLE patient_notices (
  id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  created_at TEXT NOT NULL,
  portal_shown_at TEXT,
  visit_shown_at TEXT
) STRICT;
CREATE INDEX patient_notices_patient ON patient_notices (patient_id, created_at);
`,
    postgres: `
CREATE TABLE patient_notices (
  id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  portal_shown_at TIMESTAMPTZ,
  visit_shown_at TIMESTAMPTZ
);
CREATE INDEX patient_notices_patient ON patient_notices (patient_id, created_at);
`,
  },
  {
    version: 9,
    name: 'kiosk devices',
    // A kiosk is an API client of kind 'kiosk' whose credential is a device cookie: its row is created with
    // the hash of a one-time pairing code, which pairing replaces with the device token's (paired_at set once).
    sqlite: `
ALTER TABLE api_clients ADD COLUMN kind TEXT NOT NULL DEFAULT 'integration';
ALTER TABLE api_clients ADD COLUMN paired_at TEXT;
`,
    postgres: `
ALTER TABLE api_clients ADD COLUMN kind TEXT NOT NULL DEFAULT 'integration';
ALTER TABLE api_clients ADD COLUMN paired_at TIMESTAMPTZ;
`,
  },
];

/**
 * Brings the schema up to the newest migration. `begin` must start a transaction that excludes other
 * migrators (BEGIN IMMEDIATE in SQLite, an advisory lock in PostgreSQL), so two processes starting at
 * once apply each migration exactly once.
 */
export async function migrate(
  sql: SqlExecutor,
  begin: () => Promise<void>,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number[]> {
  const latest = migrations.reduce((max, m) => Math.max(max, m.version), 0);
  const applied: number[] = [];
  for (const m of migrations) {
    await begin();
    try {
      await sql.exec(
        sql.engine === 'sqlite'
          ? 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT'
          : 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)',
      );
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
        await sql.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
          m.version,
          m.name,
          new Date().toISOString(),
        ]);
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
