/**
 * The one storage interface medface uses, whichever engine is underneath (SQLite or PostgreSQL).
 *
 * The store knows tables, not meaning: FHIR resources are opaque JSON objects with a few indexed columns
 * computed by src/records/, templates and photos are opaque encrypted bytes protected by src/identity/,
 * audit entries are hashed by src/audit/. All times are ISO-8601 UTC strings (`Date#toISOString()`).
 */

import type { PatientRepository } from './repositories/patients.js';
import type { PatientLinkRepository } from './repositories/patient-links.js';
import type { ConsentRepository } from './repositories/consents.js';
import type { ClinicalResourceRepository } from './repositories/clinical-resources.js';
import type { BreakGlassGrantRepository } from './repositories/break-glass-grants.js';
import type { StoredPhoto, StoredTemplate, TemplateRepository } from './repositories/templates.js';
import type { StaffTemplateRepository, StoredStaffTemplate } from './repositories/staff-templates.js';
import type { KeyRepository } from './repositories/keys.js';
import type { UserRepository } from './repositories/users.js';
import type { AccountRequestRepository } from './repositories/account-requests.js';
import type { SessionRepository } from './repositories/sessions.js';
import type { ApiClientRepository } from './repositories/api-clients.js';
import type { RateLimitRepository } from './repositories/rate-limits.js';
import type { LivenessChallengeRepository } from './repositories/liveness-challenges.js';
import type { AuditRepository } from './repositories/audit.js';
import type { ProtectedBlob } from './repositories/rows.js';

export type * from './repositories/patients.js';
export type * from './repositories/patient-links.js';
export type * from './repositories/consents.js';
export type * from './repositories/clinical-resources.js';
export type * from './repositories/break-glass-grants.js';
export type * from './repositories/templates.js';
export type * from './repositories/staff-templates.js';
export type * from './repositories/keys.js';
export type * from './repositories/users.js';
export type * from './repositories/account-requests.js';
export type * from './repositories/sessions.js';
export type * from './repositories/api-clients.js';
export type * from './repositories/rate-limits.js';
export type * from './repositories/liveness-challenges.js';
export type * from './repositories/audit.js';
export type { ProtectedBlob, ResourceJson, ResourceRow } from './repositories/rows.js';

/**
 * Every read and write medface makes, one interface per aggregate (src/store/repositories/, one file each), composed
 * here; callable on a `Store` (one implicit transaction each) or on a `tx`.
 */
export interface Repository
  extends
    PatientRepository,
    PatientLinkRepository,
    ConsentRepository,
    ClinicalResourceRepository,
    BreakGlassGrantRepository,
    TemplateRepository,
    StaffTemplateRepository,
    KeyRepository,
    UserRepository,
    AccountRequestRepository,
    SessionRepository,
    ApiClientRepository,
    RateLimitRepository,
    LivenessChallengeRepository,
    AuditRepository {}

/** What `Store.rewrapTemplates` asks for each template: new protection, or null to leave it as it is. */
export type RewrapTemplate = (t: StoredTemplate) => (ProtectedBlob & { transformId: string }) | null | Promise<(ProtectedBlob & { transformId: string }) | null>;
export type RewrapPhoto = (p: StoredPhoto) => ProtectedBlob | null | Promise<ProtectedBlob | null>;
export type RewrapStaffTemplate = (t: StoredStaffTemplate) => (ProtectedBlob & { transformId: string }) | null | Promise<(ProtectedBlob & { transformId: string }) | null>;

/**
 * A change committed by another process or node, as the store hears of it (services/operations/gallery-sync.ts acts on it):
 * a patient's templates were added or removed; keys were added, retired or records re-protected under them;
 * or changes may have been missed (the listening connection was (re)established, or SQLite's file changed).
 */
export type StoreChange = { kind: 'templates'; patientId: string } | { kind: 'keys' } | { kind: 'resync' };

export interface StoreWatch {
  /** Listening now; false while the connection is lost (a `resync` follows its return). */
  readonly live: boolean;
  close(): Promise<void>;
}

export interface Store extends Repository {
  readonly engine: 'sqlite' | 'postgres';
  /**
   * Runs `fn` as one all-or-nothing transaction: committed when it resolves, rolled back when it throws.
   * Use only `tx` inside `fn` — calling the store itself there is refused (it would escape the transaction).
   * Keep `fn` short (compute embeddings and encryption before): it holds the database's write lock.
   */
  transaction<T>(fn: (tx: Repository) => Promise<T>): Promise<T>;
  /** Every template in id order, fetched in pages of `batchSize` (not a snapshot: each page is read afresh). */
  iterateTemplates(batchSize?: number): AsyncIterable<StoredTemplate>;
  /**
   * Re-protects templates in batches, each batch its own transaction, so other work proceeds between batches
   * (key rotation without downtime). `fn` returns null for a template already current, which makes a
   * rewrap safe to resume after an interruption. Returns how many were rewritten.
   */
  rewrapTemplates(fn: RewrapTemplate, batchSize?: number): Promise<number>;
  rewrapPhotos(fn: RewrapPhoto, batchSize?: number): Promise<number>;
  rewrapStaffTemplates(fn: RewrapStaffTemplate, batchSize?: number): Promise<number>;
  /**
   * Tells `listener` about changes other processes commit: PostgreSQL LISTEN on a connection of its own
   * (reconnecting with a `resync` after a loss), SQLite a cheap poll of `data_version` (a `resync` when
   * another process wrote). A `resync` is also sent once listening has started.
   */
  watch(listener: (change: StoreChange) => void): StoreWatch;
  /**
   * Makes deleted rows unrecoverable from the database's own files, after an erasure. SQLite (which zeroes
   * deleted content as it goes, `secure_delete`) copies the write-ahead log into the file and truncates it,
   * so the log no longer holds the pages written before the deletion; PostgreSQL vacuums the biometric
   * tables, so dead rows leave the indexes and their space is reused (docs/operations.md says what stays).
   * Returns false when another connection kept SQLite from truncating its log.
   */
  scrubDeleted(): Promise<boolean>;
  close(): Promise<void>;
}
