import type { SqlExecutor } from '../sql.js';
import { isoTime, isoTimeOrNull, jsonColumn } from '../sql.js';

/**
 * People who sign in (src/access/): accounts, their passwords and PINs, their TOTP enrolment.
 */

/** A person who signs in: staff with roles, or a patient whose account sees only their own record (src/access/). */
export interface UserRow {
  id: string;
  /** The sign-in name, normalised by src/access/; unique. */
  username: string;
  displayName: string | null;
  roles: string[];
  /** A patient account's own Patient; null for staff. */
  patientId: string | null;
  createdAt: string;
  updatedAt: string;
  disabledAt: string | null;
}

export type CredentialKind = 'password' | 'pin';

/** A secret a user knows, stored only as its password hash (an encoded argon2id string). */
export interface CredentialRow {
  userId: string;
  kind: CredentialKind;
  hash: string;
  /** Set by an administrator (e.g. a generated first password): the user must replace it at next sign-in. */
  mustChange: boolean;
  updatedAt: string;
}

/** A user's TOTP (RFC 6238) enrolment; the shared secret is sealed by src/access/ and opaque here. */
export interface TotpRow {
  userId: string;
  sealedSecret: Uint8Array;
  algorithm: string;
  digits: number;
  period: number;
  /** The newest time step accepted: codes of that step or before are refused (no replay). */
  lastStep: number | null;
  createdAt: string;
}

export interface UserRepository {
  insertUser(row: UserRow): Promise<void>;
  /** Writes display name, roles, disabledAt and updatedAt; false when there is no such user. */
  updateUser(row: UserRow): Promise<boolean>;
  getUser(id: string): Promise<UserRow | null>;
  getUserByUsername(username: string): Promise<UserRow | null>;
  getUserByPatientId(patientId: string): Promise<UserRow | null>;
  listUsers(): Promise<UserRow[]>;
  /** Inserts or replaces the user's credential of that kind. */
  setCredential(row: CredentialRow): Promise<void>;
  getCredential(userId: string, kind: CredentialKind): Promise<CredentialRow | null>;
  /** Inserts or replaces the user's TOTP enrolment. */
  setTotp(row: TotpRow): Promise<void>;
  getTotp(userId: string): Promise<TotpRow | null>;
  deleteTotp(userId: string): Promise<boolean>;
  /** Records `step` as used if it is newer than the last used one; false when it is not (a replay, or a race lost). */
  useTotpStep(userId: string, step: number): Promise<boolean>;
}

export function userRepository(sql: SqlExecutor): UserRepository {
  return {
    async insertUser(row: UserRow): Promise<void> {
      await sql.run(
        'INSERT INTO users (id, username, display_name, roles, patient_id, created_at, updated_at, disabled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [row.id, row.username, row.displayName, JSON.stringify(row.roles), row.patientId, row.createdAt, row.updatedAt, row.disabledAt],
      );
    },
    async updateUser(row: UserRow): Promise<boolean> {
      const changed = await sql.run('UPDATE users SET display_name = ?, roles = ?, updated_at = ?, disabled_at = ? WHERE id = ?', [
        row.displayName,
        JSON.stringify(row.roles),
        row.updatedAt,
        row.disabledAt,
        row.id,
      ]);
      return changed > 0;
    },
    async getUser(id: string): Promise<UserRow | null> {
      const rows = await sql.all<UserDbRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = ?`, [id]);
      return rows[0] ? userRow(rows[0]) : null;
    },
    async getUserByUsername(username: string): Promise<UserRow | null> {
      const rows = await sql.all<UserDbRow>(`SELECT ${USER_COLUMNS} FROM users WHERE username = ?`, [username]);
      return rows[0] ? userRow(rows[0]) : null;
    },
    async getUserByPatientId(patientId: string): Promise<UserRow | null> {
      const rows = await sql.all<UserDbRow>(`SELECT ${USER_COLUMNS} FROM users WHERE patient_id = ?`, [patientId]);
      return rows[0] ? userRow(rows[0]) : null;
    },
    async listUsers(): Promise<UserRow[]> {
      const rows = await sql.all<UserDbRow>(`SELECT ${USER_COLUMNS} FROM users ORDER BY username`);
      return rows.map(userRow);
    },
    async setCredential(row: CredentialRow): Promise<void> {
      await sql.run(
        `INSERT INTO credentials (user_id, kind, hash, must_change, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (user_id, kind) DO UPDATE SET hash = excluded.hash, must_change = excluded.must_change, updated_at = excluded.updated_at`,
        [row.userId, row.kind, row.hash, row.mustChange ? 1 : 0, row.updatedAt],
      );
    },
    async getCredential(userId: string, kind: CredentialKind): Promise<CredentialRow | null> {
      const rows = await sql.all<{ user_id: string; kind: string; hash: string; must_change: number; updated_at: unknown }>(
        'SELECT user_id, kind, hash, must_change, updated_at FROM credentials WHERE user_id = ? AND kind = ?',
        [userId, kind],
      );
      const r = rows[0];
      return r
        ? { userId: r.user_id, kind: r.kind as CredentialKind, hash: r.hash, mustChange: Number(r.must_change) === 1, updatedAt: isoTime(r.updated_at) }
        : null;
    },
    async setTotp(row: TotpRow): Promise<void> {
      await sql.run(
        `INSERT INTO totp_secrets (user_id, sealed_secret, algorithm, digits, period, last_step, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, algorithm = excluded.algorithm,
           digits = excluded.digits, period = excluded.period, last_step = excluded.last_step, created_at = excluded.created_at`,
        [row.userId, row.sealedSecret, row.algorithm, row.digits, row.period, row.lastStep, row.createdAt],
      );
    },
    async getTotp(userId: string): Promise<TotpRow | null> {
      const rows = await sql.all<TotpDbRow>(
        'SELECT user_id, sealed_secret, algorithm, digits, period, last_step, created_at FROM totp_secrets WHERE user_id = ?',
        [userId],
      );
      return rows[0] ? totpRow(rows[0]) : null;
    },
    async deleteTotp(userId: string): Promise<boolean> {
      return (await sql.run('DELETE FROM totp_secrets WHERE user_id = ?', [userId])) > 0;
    },
    async useTotpStep(userId: string, step: number): Promise<boolean> {
      // One conditional UPDATE: of two nodes accepting the same code at once, only one changes the row.
      const changed = await sql.run('UPDATE totp_secrets SET last_step = ? WHERE user_id = ? AND (last_step IS NULL OR last_step < ?)', [
        step,
        userId,
        step,
      ]);
      return changed > 0;
    },
  };
}

const USER_COLUMNS = 'id, username, display_name, roles, patient_id, created_at, updated_at, disabled_at';

interface UserDbRow {
  id: string;
  username: string;
  display_name: string | null;
  roles: unknown;
  patient_id: string | null;
  created_at: unknown;
  updated_at: unknown;
  disabled_at: unknown;
}

function userRow(r: UserDbRow): UserRow {
  return {
    id: r.id,
    username: r.username,
    displayName: r.display_name,
    roles: jsonColumn<string[]>(r.roles),
    patientId: r.patient_id,
    createdAt: isoTime(r.created_at),
    updatedAt: isoTime(r.updated_at),
    disabledAt: isoTimeOrNull(r.disabled_at),
  };
}

interface TotpDbRow {
  user_id: string;
  sealed_secret: Buffer;
  algorithm: string;
  digits: number;
  period: number;
  last_step: number | string | null;
  created_at: unknown;
}

function totpRow(r: TotpDbRow): TotpRow {
  return {
    userId: r.user_id,
    sealedSecret: r.sealed_secret,
    algorithm: r.algorithm,
    digits: Number(r.digits),
    period: Number(r.period),
    lastStep: r.last_step === null ? null : Number(r.last_step),
    createdAt: isoTime(r.created_at),
  };
}
