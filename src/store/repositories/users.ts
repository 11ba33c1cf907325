import type { SqlExecutor } from '../sql.js';
import { bytes, flag, json, marks, num, numOrNull, table, text, textOrNull, time, timeOrNull } from './columns.js';
import { prefixUpperBound } from './patients.js';

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
  /** The users of these ids that exist, by username. */
  getUsers(ids: readonly string[]): Promise<UserRow[]>;
  /** Users whose (normalised) username starts with `prefix`, by username. */
  searchUsersByUsername(prefix: string, limit: number): Promise<UserRow[]>;
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
    insertUser: (row) => USERS.insertRow(sql, row),
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
    getUser: (id) => USERS.byId(sql, id),
    async getUsers(ids: readonly string[]): Promise<UserRow[]> {
      if (ids.length === 0) return [];
      return USERS.all(sql, `WHERE id IN (${marks(ids)}) ORDER BY username`, ids);
    },
    async searchUsersByUsername(prefix: string, limit: number): Promise<UserRow[]> {
      return USERS.all(sql, 'WHERE username >= ? AND username < ? ORDER BY username LIMIT ?', [prefix, prefixUpperBound(prefix), limit]);
    },
    async getUserByUsername(username: string): Promise<UserRow | null> {
      return USERS.one(sql, 'WHERE username = ?', [username]);
    },
    async getUserByPatientId(patientId: string): Promise<UserRow | null> {
      return USERS.one(sql, 'WHERE patient_id = ?', [patientId]);
    },
    async listUsers(): Promise<UserRow[]> {
      return USERS.all(sql, 'ORDER BY username');
    },
    async setCredential(row: CredentialRow): Promise<void> {
      await sql.run(
        `${CREDENTIALS.insert}
         ON CONFLICT (user_id, kind) DO UPDATE SET hash = excluded.hash, must_change = excluded.must_change, updated_at = excluded.updated_at`,
        CREDENTIALS.values(row),
      );
    },
    async getCredential(userId: string, kind: CredentialKind): Promise<CredentialRow | null> {
      return CREDENTIALS.one(sql, 'WHERE user_id = ? AND kind = ?', [userId, kind]);
    },
    async setTotp(row: TotpRow): Promise<void> {
      await sql.run(
        `${TOTP_SECRETS.insert}
         ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, algorithm = excluded.algorithm,
           digits = excluded.digits, period = excluded.period, last_step = excluded.last_step, created_at = excluded.created_at`,
        TOTP_SECRETS.values(row),
      );
    },
    async getTotp(userId: string): Promise<TotpRow | null> {
      return TOTP_SECRETS.one(sql, 'WHERE user_id = ?', [userId]);
    },
    async deleteTotp(userId: string): Promise<boolean> {
      return (await sql.run('DELETE FROM totp_secrets WHERE user_id = ?', [userId])) > 0;
    },
    async useTotpStep(userId: string, step: number): Promise<boolean> {
      // One conditional UPDATE: of two nodes accepting the same code at once, only one changes the row.
      const changed = await sql.run('UPDATE totp_secrets SET last_step = ? WHERE user_id = ? AND (last_step IS NULL OR last_step < ?)', [step, userId, step]);
      return changed > 0;
    },
  };
}

const USERS = table<UserRow>('users', {
  id: text('id'),
  username: text('username'),
  displayName: textOrNull('display_name'),
  roles: json<string[]>('roles'),
  patientId: textOrNull('patient_id'),
  createdAt: time('created_at'),
  updatedAt: time('updated_at'),
  disabledAt: timeOrNull('disabled_at'),
});

const TOTP_SECRETS = table<TotpRow>('totp_secrets', {
  userId: text('user_id'),
  sealedSecret: bytes('sealed_secret'),
  algorithm: text('algorithm'),
  digits: num('digits'),
  period: num('period'),
  lastStep: numOrNull('last_step'),
  createdAt: time('created_at'),
});

const CREDENTIALS = table<CredentialRow>('credentials', {
  userId: text('user_id'),
  kind: text<CredentialKind>('kind'),
  hash: text('hash'),
  mustChange: flag('must_change'),
  updatedAt: time('updated_at'),
});
