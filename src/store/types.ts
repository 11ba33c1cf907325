/**
 * The one storage interface medface uses, whichever engine is underneath (SQLite or PostgreSQL).
 *
 * The store knows tables, not meaning: FHIR resources are opaque JSON objects with a few indexed columns
 * computed by src/records/, templates and photos are opaque encrypted bytes protected by src/identity/,
 * audit entries are hashed by src/audit/. All times are ISO-8601 UTC strings (`Date#toISOString()`).
 */

/** A FHIR resource as stored: validated and shaped by src/records/, opaque here. */
export type ResourceJson = object;

export interface ResourceRow {
  id: string;
  /** Incremented on every update; the optimistic-concurrency token. */
  versionId: number;
  lastUpdated: string;
  resource: ResourceJson;
}

/** Search terms records derives from a Patient so the store can find it without reading JSON. */
export interface PatientIndexTerms {
  /** Normalised (lower-case, accent-free) name words, searched by prefix. */
  nameTokens: string[];
  /** Normalised "family given" used to order search results. */
  sortName: string;
  birthDate: string | null;
  gender: string | null;
  /** `system` null for identifiers without a system; (system, value) is unique across patients. */
  identifiers: { system: string | null; value: string }[];
}

export interface PatientQuery {
  /** Every token must be a prefix of one of the patient's name tokens. */
  namePrefixes?: string[];
  /** A full or partial FHIR date (YYYY, YYYY-MM, YYYY-MM-DD); partial dates match every date inside them. */
  birthDate?: string;
  /** `system` undefined: any system; null: identifiers without a system. */
  identifier?: { system?: string | null; value: string };
  gender?: string;
  limit: number;
}

export interface ConsentRow extends ResourceRow {
  patientId: string;
  status: string;
  scope: string;
  category: string;
}

/** A clinical FHIR resource (Encounter, Observation, …) of one patient; records/clinical.ts gives it meaning. */
export interface ClinicalResourceRow extends ResourceRow {
  resourceType: string;
  patientId: string;
}

export type BreakGlassReviewStatus = 'pending' | 'reviewed';

/** Emergency access by one user to one patient's record until `expiresAt`, queued for privacy-officer review. */
export interface BreakGlassGrantRow {
  id: string;
  userId: string;
  patientId: string;
  /** Free text the user gave: may be PHI, so it is kept here and never copied into the audit trail. */
  reason: string;
  client: string | null;
  grantedAt: string;
  expiresAt: string;
  reviewStatus: BreakGlassReviewStatus;
  reviewedBy: string | null;
  reviewedAt: string | null;
  reviewNote: string | null;
}

/**
 * The output of template protection (src/identity/protection.ts): an envelope-encrypted blob. Any
 * Uint8Array is accepted; what the store reads back are Buffers (which are Uint8Arrays).
 */
export interface ProtectedBlob {
  /** The key-encryption key that wrapped `wrappedKey`. */
  keyId: string;
  wrappedKey: Uint8Array;
  iv: Uint8Array;
  ciphertext: Uint8Array;
  tag: Uint8Array;
}

export type TemplateSource = 'enrol' | 'refresh';

export interface NewTemplate extends ProtectedBlob {
  patientId: string;
  /** The embedder that produced the embedding; templates of different models never compare. */
  modelId: string;
  /** The secret feature transform applied before encryption (renewable independently of keys). */
  transformId: string;
  /** Quality measures of the source face (numbers and reason codes only). */
  quality: Record<string, unknown>;
  source: TemplateSource;
}

export interface StoredTemplate extends NewTemplate {
  id: string;
  createdAt: string;
}

export interface NewPhoto extends ProtectedBlob {
  patientId: string;
  /** The template enrolled from this photo; the photo goes when its template goes. */
  templateId: string | null;
  mediaType: string;
}

export interface StoredPhoto extends NewPhoto {
  id: string;
  createdAt: string;
}

/** A staff member's own face for signing in (password + face): never part of patient identification. */
export interface NewStaffTemplate extends ProtectedBlob {
  userId: string;
  modelId: string;
  transformId: string;
  quality: Record<string, unknown>;
  /** The notice the staff member consented to when enrolling (biometric data needs consent, staff too). */
  consentNotice: string;
}

export interface StoredStaffTemplate extends NewStaffTemplate {
  id: string;
  createdAt: string;
}

/** Something the clinic did to a patient's biometric data that the patient is told of, in the portal and at a visit. */
export interface PatientNoticeRow {
  id: string;
  patientId: string;
  kind: 'face-added';
  createdAt: string;
  /** When the portal showed it to the patient; null until then. */
  portalShownAt: string | null;
  /** When a check-in told the patient; null until then. */
  visitShownAt: string | null;
}

/** One embedder model's share of the templates. */
export interface TemplateModelCount {
  model: string;
  templates: number;
  /** Patients with at least one template of this model. */
  patients: number;
  /** Templates of this model with their capture kept (re-derivable with another model). */
  withPhoto: number;
  /** Patients of whom no template of this model has a kept capture. */
  patientsWithoutPhoto: number;
}

/** How many protected records one key (and transform) protects, per kind of record. */
export interface ProtectedRecordCount {
  kind: 'template' | 'staff-template' | 'photo';
  keyId: string;
  /** Null for photos (bytes are not transformed). */
  transformId: string | null;
  count: number;
}

export type PatientLinkStatus = 'pending' | 'confirmed' | 'rejected' | 'overridden';

export interface PatientLinkRow {
  id: string;
  patientId: string;
  otherPatientId: string;
  grade: string;
  score: number;
  status: PatientLinkStatus;
  reason: string | null;
  createdBy: string;
  createdAt: string;
  reviewedBy: string | null;
  reviewedAt: string | null;
}

export interface KeyMetadata {
  id: string;
  /** What the key protects, e.g. 'kek' or 'transform'. */
  purpose: string;
  algorithm: string;
  /** A value derived from the key that proves a loaded key is the right one (never the key itself). */
  checkValue: string;
  createdAt: string;
  retiredAt: string | null;
}

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

export interface SessionRow {
  id: string;
  /** SHA-256 of the session token; the token itself is never stored. */
  tokenHash: string;
  userId: string;
  /** Also the time identity was established. */
  createdAt: string;
  lastSeenAt: string;
  idleTimeoutSeconds: number;
  /** lastSeenAt + idle timeout, capped at expiresAt. */
  idleExpiresAt: string;
  /** The absolute end of the session, however active. */
  expiresAt: string;
  client: string | null;
  /** How identity was established, e.g. 'password+totp', 'face+pin'. */
  authMethod: string;
  /** The face match grade and score when a face was one of the factors. */
  matchGrade: string | null;
  matchScore: number | null;
}

/** Failed sign-ins counted against one subject (an account or a client address), shared by every node. */
export interface SignInThrottleRow {
  subject: string;
  failures: number;
  lastFailureAt: string;
  blockedUntil: string | null;
}

/** An active liveness challenge as issued (src/services/liveness.ts gives it meaning); used at most once. */
export interface LivenessChallengeRow {
  id: string;
  nonce: string;
  /** The actions asked for, in order. */
  actions: string[];
  /** The flow it was issued for (check-in, portal sign-in, verify, telemedicine). */
  purpose: string;
  /** What it was issued for within that flow (a patient to verify), when the flow names one. */
  subject: string | null;
  issuedAt: string;
  deadline: string;
  consumedAt: string | null;
}

/**
 * An integration (e.g. a telemedicine platform) calling with an API key limited to scopes, or a kiosk
 * device, whose credential is a cookie set when it is paired.
 */
export interface ApiClientRow {
  id: string;
  name: string;
  kind: 'integration' | 'kiosk';
  /** SHA-256 of the key (a kiosk's: of its pairing code until paired, then of its device token); neither is stored. */
  keyHash: string;
  scopes: string[];
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
  /** When a kiosk's pairing code was exchanged for its device token; null for an integration. */
  pairedAt: string | null;
}

export type AccountRequestAction = 'user.create' | 'user.password-reset' | 'user.totp-reset';
export type AccountRequestStatus = 'pending' | 'approved' | 'rejected';

/** A change to accounts that waits for a second administrator (access/approvals.ts). */
export interface AccountRequestRow {
  id: string;
  action: AccountRequestAction;
  /** The account it creates or changes. */
  username: string;
  /** What to do: for a creation, the roles and display name (never a secret). */
  details: Record<string, unknown>;
  requestedBy: string;
  requestedAt: string;
  status: AccountRequestStatus;
  decidedBy: string | null;
  decidedAt: string | null;
}

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

/** Every read and write medface makes; callable on a `Store` (one implicit transaction each) or on a `tx`. */
export interface Repository {
  // Patients
  insertPatient(row: ResourceRow, terms: PatientIndexTerms): Promise<void>;
  /** Writes `row` if the stored version is `expectedVersionId`; false when another write came first. */
  updatePatient(row: ResourceRow, terms: PatientIndexTerms, expectedVersionId: number): Promise<boolean>;
  getPatient(id: string): Promise<ResourceRow | null>;
  /** The patients of these ids that exist (any order). */
  getPatients(ids: readonly string[]): Promise<ResourceRow[]>;
  searchPatients(query: PatientQuery): Promise<ResourceRow[]>;
  /** Serialises concurrent changes to one patient until the transaction ends; false if no such patient. */
  lockPatient(id: string): Promise<boolean>;

  // Consents
  insertConsent(row: ConsentRow): Promise<void>;
  updateConsent(row: ConsentRow, expectedVersionId: number): Promise<boolean>;
  getConsent(id: string): Promise<ConsentRow | null>;
  getActiveConsent(patientId: string, category: string): Promise<ConsentRow | null>;
  listConsents(patientId: string): Promise<ConsentRow[]>;

  // Clinical resources (Encounter, Condition, AllergyIntolerance, MedicationStatement, Observation, DocumentReference)
  insertClinicalResource(row: ClinicalResourceRow): Promise<void>;
  /** Writes `row` if the stored resource of that type and patient is at `expectedVersionId`; false otherwise. */
  updateClinicalResource(row: ClinicalResourceRow, expectedVersionId: number): Promise<boolean>;
  getClinicalResource(resourceType: string, id: string): Promise<ClinicalResourceRow | null>;
  /** A patient's resources, of the given types when `resourceTypes` is set, by type then oldest first. */
  listClinicalResources(patientId: string, resourceTypes?: readonly string[]): Promise<ClinicalResourceRow[]>;

  // Break-glass grants
  insertBreakGlassGrant(row: BreakGlassGrantRow): Promise<void>;
  getBreakGlassGrant(id: string): Promise<BreakGlassGrantRow | null>;
  /** The grant of that user to that patient in force at `at` (granted at or before, expiring after) that ends last. */
  findActiveBreakGlassGrant(userId: string, patientId: string, at: string): Promise<BreakGlassGrantRow | null>;
  /** Grants oldest first, optionally only those of one review status, user or patient. */
  listBreakGlassGrants(filter: { reviewStatus?: BreakGlassReviewStatus; userId?: string; patientId?: string }): Promise<BreakGlassGrantRow[]>;
  /** Marks a pending grant reviewed; false when there is no such grant or it was reviewed already. */
  reviewBreakGlassGrant(id: string, review: { reviewedBy: string; reviewedAt: string; note: string }): Promise<boolean>;

  // Templates (opaque protected blobs)
  insertTemplate(t: NewTemplate): Promise<StoredTemplate>;
  listTemplates(patientId: string): Promise<StoredTemplate[]>;
  countTemplates(patientId?: string): Promise<number>;
  /** Returns the ids removed, so the caller can drop them from the in-memory index. */
  deleteTemplatesOfPatient(patientId: string): Promise<string[]>;
  /** Removes the patient's oldest template (if any) and inserts `t`. */
  replaceOldestTemplate(t: NewTemplate): Promise<{ inserted: StoredTemplate; replacedId: string | null }>;
  /** Templates in id order after `afterId`; the page primitive behind `Store.iterateTemplates`. */
  listTemplatesPage(afterId: string | null, limit: number): Promise<StoredTemplate[]>;
  /** Template ids and their patients in id order after `afterId`, without the blobs (gallery resync). */
  listTemplateRefsPage(afterId: string | null, limit: number): Promise<TemplateRef[]>;
  updateTemplateProtection(id: string, blob: ProtectedBlob & { transformId: string }): Promise<boolean>;
  /** Deletes one template (its photo goes with it unless moved first); false when it was gone already. */
  deleteTemplate(id: string): Promise<boolean>;
  /** Templates of any model but `model`, in id order after `afterId` (what a model migration has left to do). */
  listTemplatesNotOfModelPage(model: string, afterId: string | null, limit: number): Promise<StoredTemplate[]>;
  /** Templates, their patients and the photos kept with them, per model. */
  countTemplatesByModel(): Promise<TemplateModelCount[]>;

  // Photos (opaque protected blobs, kept only when configured)
  insertPhoto(p: NewPhoto): Promise<StoredPhoto>;
  listPhotos(patientId: string): Promise<StoredPhoto[]>;
  deletePhotosOfPatient(patientId: string): Promise<number>;
  listPhotosPage(afterId: string | null, limit: number): Promise<StoredPhoto[]>;
  updatePhotoProtection(id: string, blob: ProtectedBlob): Promise<boolean>;
  /** Moves the photos of one template to another (a template re-derived from its photo); returns how many. */
  moveTemplatePhotos(fromTemplateId: string, toTemplateId: string): Promise<number>;

  // Staff face templates (opaque protected blobs; deleted with their account)
  insertStaffTemplate(t: NewStaffTemplate): Promise<StoredStaffTemplate>;
  listStaffTemplates(userId: string): Promise<StoredStaffTemplate[]>;
  deleteStaffTemplate(id: string): Promise<boolean>;
  deleteStaffTemplatesOfUser(userId: string): Promise<number>;
  listStaffTemplatesPage(afterId: string | null, limit: number): Promise<StoredStaffTemplate[]>;
  updateStaffTemplateProtection(id: string, blob: ProtectedBlob & { transformId: string }): Promise<boolean>;
  // Notices to patients (a face added to their record)
  insertPatientNotice(row: PatientNoticeRow): Promise<void>;
  /** The patient's notices, oldest first. */
  listPatientNotices(patientId: string): Promise<PatientNoticeRow[]>;
  /** Marks the patient's notices not yet shown on `channel` as shown at `at`; returns those it marked. */
  markPatientNoticesShown(patientId: string, channel: 'portal' | 'visit', at: string): Promise<PatientNoticeRow[]>;
  /** Templates, staff templates and photos counted per key (key status; no key material). */
  countProtectedRecordsByKey(): Promise<ProtectedRecordCount[]>;

  // Duplicate review (Patient.link seealso)
  insertPatientLink(row: PatientLinkRow): Promise<void>;
  getPatientLink(id: string): Promise<PatientLinkRow | null>;
  /** Links where the patient is on either side, optionally of one status; oldest first. */
  listPatientLinks(filter: { patientId?: string; status?: PatientLinkStatus }): Promise<PatientLinkRow[]>;
  updatePatientLink(row: PatientLinkRow): Promise<void>;

  // Key metadata (never key material)
  insertKey(k: KeyMetadata): Promise<void>;
  getKey(id: string): Promise<KeyMetadata | null>;
  listKeys(purpose?: string): Promise<KeyMetadata[]>;
  retireKey(id: string, at: string): Promise<void>;

  // People, credentials, sessions, sign-in throttling, API clients (src/access/)
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

  insertAccountRequest(row: AccountRequestRow): Promise<void>;
  getAccountRequest(id: string): Promise<AccountRequestRow | null>;
  listAccountRequests(status: AccountRequestStatus): Promise<AccountRequestRow[]>;
  /** Records the decision on a pending request; false when it was decided already. */
  decideAccountRequest(id: string, status: Exclude<AccountRequestStatus, 'pending'>, decidedBy: string, decidedAt: string): Promise<boolean>;
  /** Records `step` as used if it is newer than the last used one; false when it is not (a replay, or a race lost). */
  useTotpStep(userId: string, step: number): Promise<boolean>;
  insertSession(row: SessionRow): Promise<void>;
  getSessionByTokenHash(tokenHash: string): Promise<SessionRow | null>;
  /** Moves lastSeenAt and idleExpiresAt forward; false when the session is gone. */
  touchSession(id: string, lastSeenAt: string, idleExpiresAt: string): Promise<boolean>;
  deleteSession(id: string): Promise<boolean>;
  /** Returns how many sessions ended. */
  deleteSessionsOfUser(userId: string): Promise<number>;
  /** Removes sessions past their idle or absolute expiry; returns how many. */
  deleteExpiredSessions(now: string): Promise<number>;
  /**
   * Counts one more failure against `subject` in one statement (safe when nodes race), starting again from
   * one when the previous failure was before `forgetBefore`; returns the count.
   */
  recordSignInFailure(subject: string, at: string, forgetBefore: string): Promise<number>;
  /** Blocks the subject until `until` unless it is already blocked longer. */
  blockSignIn(subject: string, until: string): Promise<void>;
  getSignInThrottle(subjects: readonly string[]): Promise<SignInThrottleRow[]>;
  clearSignInFailures(subject: string): Promise<void>;
  insertApiClient(row: ApiClientRow): Promise<void>;
  getApiClient(id: string): Promise<ApiClientRow | null>;
  getApiClientByKeyHash(keyHash: string): Promise<ApiClientRow | null>;
  listApiClients(): Promise<ApiClientRow[]>;
  /** False when there is no such client or it was already revoked. */
  revokeApiClient(id: string, at: string): Promise<boolean>;
  /**
   * A kiosk's pairing: replaces the pairing code's hash by the device token's, once (false when the code was
   * already used, replaced, or the kiosk revoked).
   */
  pairApiClient(id: string, pairingHash: string, deviceHash: string, at: string): Promise<boolean>;

  // Rate limits shared by every node (src/server/rate-limit-store.ts)
  /**
   * Counts one request against `key` in one statement (safe when nodes race): a window that ended by `now`
   * starts again at one, ending at `windowEndsAt`. Returns the count and when the current window ends.
   */
  countRateLimitHit(key: string, now: string, windowEndsAt: string): Promise<{ hits: number; windowEndsAt: string }>;
  /** Deletes counters whose window ended before `before`; returns how many. */
  deleteRateLimitCountersBefore(before: string): Promise<number>;

  // Liveness challenges (single-use)
  insertLivenessChallenge(row: LivenessChallengeRow): Promise<void>;
  getLivenessChallenge(id: string): Promise<LivenessChallengeRow | null>;
  /** Marks the challenge used at `at` in one statement; false when there is no such challenge or it was used already. */
  consumeLivenessChallenge(id: string, at: string): Promise<boolean>;
  /** Deletes challenges whose deadline is before `before`; returns how many. */
  deleteLivenessChallengesBefore(before: string): Promise<number>;

  // Audit trail (append-only)
  /** Serialises appenders until the transaction ends and returns the chain head (null when empty). */
  lockAuditHead(): Promise<{ seq: number; hash: string } | null>;
  insertAuditEvent(e: AuditEventRow): Promise<void>;
  listAuditEvents(query: AuditQuery): Promise<AuditEventRow[]>;
}

/** What `Store.rewrapTemplates` asks for each template: new protection, or null to leave it as it is. */
export type RewrapTemplate = (
  t: StoredTemplate,
) => (ProtectedBlob & { transformId: string }) | null | Promise<(ProtectedBlob & { transformId: string }) | null>;
export type RewrapPhoto = (p: StoredPhoto) => ProtectedBlob | null | Promise<ProtectedBlob | null>;

export interface TemplateRef {
  id: string;
  patientId: string;
}

/**
 * A change committed by another process or node, as the store hears of it (services/gallery-sync.ts acts on it):
 * a patient's templates were added or removed; keys were added, retired or records re-protected under them;
 * or changes may have been missed (the listening connection was (re)established, or SQLite's file changed).
 */
export type StoreChange = { kind: 'templates'; patientId: string } | { kind: 'keys' } | { kind: 'resync' };

export interface StoreWatch {
  /** Listening now; false while the connection is lost (a `resync` follows its return). */
  readonly live: boolean;
  close(): Promise<void>;
}
export type RewrapStaffTemplate = (
  t: StoredStaffTemplate,
) => (ProtectedBlob & { transformId: string }) | null | Promise<(ProtectedBlob & { transformId: string }) | null>;

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
