import { AsyncLocalStorage } from 'node:async_hooks';
import { SqlRepository } from './repository.js';
import type { SqlExecutor, SqlValue } from './sql.js';
import type {
  AccountRequestRow,
  AccountRequestStatus,
  ApiClientRow,
  AuditEventRow,
  AuditQuery,
  BreakGlassGrantRow,
  BreakGlassReviewStatus,
  ClinicalResourceRow,
  ConsentRow,
  CredentialKind,
  CredentialRow,
  KeyMetadata,
  LivenessChallengeRow,
  NewPhoto,
  NewStaffTemplate,
  NewTemplate,
  PatientIndexTerms,
  PatientLinkRow,
  PatientNoticeRow,
  PatientLinkStatus,
  PatientQuery,
  ProtectedBlob,
  ProtectedRecordCount,
  Repository,
  ResourceRow,
  RewrapPhoto,
  RewrapStaffTemplate,
  RewrapTemplate,
  SessionRow,
  SignInThrottleRow,
  Store,
  StoreChange,
  StoreWatch,
  StoredPhoto,
  StoredStaffTemplate,
  StoredTemplate,
  TemplateModelCount,
  TemplateRef,
  TotpRow,
  UserRow,
} from './types.js';

const DEFAULT_BATCH = 500;

/** Which store's transaction the current async call chain is inside, to refuse calls that would escape it. */
const insideTransaction = new AsyncLocalStorage<TransactionalStore>();

/**
 * What both engines share: transactions handed out as repositories bound to one connection, every plain
 * store call run as its own transaction, paged iteration and batched re-protection. An engine supplies
 * `runInTransaction`: give `fn` a connection inside BEGIN … COMMIT, roll back if `fn` throws.
 */
export abstract class TransactionalStore implements Store {
  abstract readonly engine: 'sqlite' | 'postgres';

  protected abstract runInTransaction<T>(fn: (sql: SqlExecutor) => Promise<T>): Promise<T>;
  abstract close(): Promise<void>;
  abstract watch(listener: (change: StoreChange) => void): StoreWatch;
  abstract scrubDeleted(): Promise<boolean>;

  async transaction<T>(fn: (tx: Repository) => Promise<T>): Promise<T> {
    if (insideTransaction.getStore() === this) {
      // In SQLite this would wait for itself forever; in PostgreSQL it would silently leave the transaction.
      throw new Error('store called inside its own transaction: use the tx passed to transaction()');
    }
    return this.runInTransaction(async (sql) => {
      const scoped = new ScopedExecutor(sql);
      try {
        return await insideTransaction.run(this, () => fn(new SqlRepository(scoped)));
      } finally {
        scoped.closed = true;
      }
    });
  }

  async *iterateTemplates(batchSize = DEFAULT_BATCH): AsyncIterable<StoredTemplate> {
    let after: string | null = null;
    for (;;) {
      const page: StoredTemplate[] = await this.listTemplatesPage(after, batchSize);
      yield* page;
      if (page.length < batchSize) return;
      after = (page[page.length - 1] as StoredTemplate).id;
    }
  }

  rewrapTemplates(fn: RewrapTemplate, batchSize = DEFAULT_BATCH): Promise<number> {
    return this.rewrap(
      (tx, after) => tx.listTemplatesPage(after, batchSize),
      fn,
      (tx, id, blob) => tx.updateTemplateProtection(id, blob),
      batchSize,
    );
  }

  rewrapPhotos(fn: RewrapPhoto, batchSize = DEFAULT_BATCH): Promise<number> {
    return this.rewrap(
      (tx, after) => tx.listPhotosPage(after, batchSize),
      fn,
      (tx, id, blob) => tx.updatePhotoProtection(id, blob),
      batchSize,
    );
  }

  rewrapStaffTemplates(fn: RewrapStaffTemplate, batchSize = DEFAULT_BATCH): Promise<number> {
    return this.rewrap(
      (tx, after) => tx.listStaffTemplatesPage(after, batchSize),
      fn,
      (tx, id, blob) => tx.updateStaffTemplateProtection(id, blob),
      batchSize,
    );
  }

  private async rewrap<R extends { id: string }, B>(
    page: (tx: Repository, after: string | null) => Promise<R[]>,
    fn: (row: R) => B | null | Promise<B | null>,
    write: (tx: Repository, id: string, blob: B) => Promise<boolean>,
    batchSize: number,
  ): Promise<number> {
    let after: string | null = null;
    let rewritten = 0;
    for (;;) {
      const { count, last, full } = await this.transaction(async (tx) => {
        const rows = await page(tx, after);
        let count = 0;
        for (const row of rows) {
          const next = await fn(row);
          if (next !== null && (await write(tx, row.id, next))) count++;
        }
        return { count, last: rows[rows.length - 1]?.id ?? null, full: rows.length === batchSize };
      });
      rewritten += count;
      if (!full || last === null) return rewritten;
      after = last;
    }
  }

  // Every Repository method on the store itself is one transaction of its own.

  insertPatient(row: ResourceRow, terms: PatientIndexTerms): Promise<void> {
    return this.transaction((tx) => tx.insertPatient(row, terms));
  }
  updatePatient(row: ResourceRow, terms: PatientIndexTerms, expectedVersionId: number): Promise<boolean> {
    return this.transaction((tx) => tx.updatePatient(row, terms, expectedVersionId));
  }
  getPatient(id: string): Promise<ResourceRow | null> {
    return this.transaction((tx) => tx.getPatient(id));
  }
  getPatients(ids: readonly string[]): Promise<ResourceRow[]> {
    return this.transaction((tx) => tx.getPatients(ids));
  }
  searchPatients(query: PatientQuery): Promise<ResourceRow[]> {
    return this.transaction((tx) => tx.searchPatients(query));
  }
  lockPatient(id: string): Promise<boolean> {
    return this.transaction((tx) => tx.lockPatient(id));
  }
  insertConsent(row: ConsentRow): Promise<void> {
    return this.transaction((tx) => tx.insertConsent(row));
  }
  updateConsent(row: ConsentRow, expectedVersionId: number): Promise<boolean> {
    return this.transaction((tx) => tx.updateConsent(row, expectedVersionId));
  }
  getConsent(id: string): Promise<ConsentRow | null> {
    return this.transaction((tx) => tx.getConsent(id));
  }
  getActiveConsent(patientId: string, category: string): Promise<ConsentRow | null> {
    return this.transaction((tx) => tx.getActiveConsent(patientId, category));
  }
  listConsents(patientId: string): Promise<ConsentRow[]> {
    return this.transaction((tx) => tx.listConsents(patientId));
  }
  insertClinicalResource(row: ClinicalResourceRow): Promise<void> {
    return this.transaction((tx) => tx.insertClinicalResource(row));
  }
  updateClinicalResource(row: ClinicalResourceRow, expectedVersionId: number): Promise<boolean> {
    return this.transaction((tx) => tx.updateClinicalResource(row, expectedVersionId));
  }
  getClinicalResource(resourceType: string, id: string): Promise<ClinicalResourceRow | null> {
    return this.transaction((tx) => tx.getClinicalResource(resourceType, id));
  }
  listClinicalResources(patientId: string, resourceTypes?: readonly string[]): Promise<ClinicalResourceRow[]> {
    return this.transaction((tx) => tx.listClinicalResources(patientId, resourceTypes));
  }
  insertBreakGlassGrant(row: BreakGlassGrantRow): Promise<void> {
    return this.transaction((tx) => tx.insertBreakGlassGrant(row));
  }
  getBreakGlassGrant(id: string): Promise<BreakGlassGrantRow | null> {
    return this.transaction((tx) => tx.getBreakGlassGrant(id));
  }
  findActiveBreakGlassGrant(userId: string, patientId: string, at: string): Promise<BreakGlassGrantRow | null> {
    return this.transaction((tx) => tx.findActiveBreakGlassGrant(userId, patientId, at));
  }
  listBreakGlassGrants(filter: { reviewStatus?: BreakGlassReviewStatus; userId?: string; patientId?: string }): Promise<BreakGlassGrantRow[]> {
    return this.transaction((tx) => tx.listBreakGlassGrants(filter));
  }
  reviewBreakGlassGrant(id: string, review: { reviewedBy: string; reviewedAt: string; note: string }): Promise<boolean> {
    return this.transaction((tx) => tx.reviewBreakGlassGrant(id, review));
  }
  insertTemplate(t: NewTemplate): Promise<StoredTemplate> {
    return this.transaction((tx) => tx.insertTemplate(t));
  }
  listTemplates(patientId: string): Promise<StoredTemplate[]> {
    return this.transaction((tx) => tx.listTemplates(patientId));
  }
  countTemplates(patientId?: string): Promise<number> {
    return this.transaction((tx) => tx.countTemplates(patientId));
  }
  deleteTemplatesOfPatient(patientId: string): Promise<string[]> {
    return this.transaction((tx) => tx.deleteTemplatesOfPatient(patientId));
  }
  replaceOldestTemplate(t: NewTemplate): Promise<{ inserted: StoredTemplate; replacedId: string | null }> {
    return this.transaction((tx) => tx.replaceOldestTemplate(t));
  }
  listTemplatesPage(afterId: string | null, limit: number): Promise<StoredTemplate[]> {
    return this.transaction((tx) => tx.listTemplatesPage(afterId, limit));
  }
  listTemplateRefsPage(afterId: string | null, limit: number): Promise<TemplateRef[]> {
    return this.transaction((tx) => tx.listTemplateRefsPage(afterId, limit));
  }
  updateTemplateProtection(id: string, blob: ProtectedBlob & { transformId: string }): Promise<boolean> {
    return this.transaction((tx) => tx.updateTemplateProtection(id, blob));
  }
  deleteTemplate(id: string): Promise<boolean> {
    return this.transaction((tx) => tx.deleteTemplate(id));
  }
  listTemplatesNotOfModelPage(model: string, afterId: string | null, limit: number): Promise<StoredTemplate[]> {
    return this.transaction((tx) => tx.listTemplatesNotOfModelPage(model, afterId, limit));
  }
  countTemplatesByModel(): Promise<TemplateModelCount[]> {
    return this.transaction((tx) => tx.countTemplatesByModel());
  }
  insertPhoto(p: NewPhoto): Promise<StoredPhoto> {
    return this.transaction((tx) => tx.insertPhoto(p));
  }
  listPhotos(patientId: string): Promise<StoredPhoto[]> {
    return this.transaction((tx) => tx.listPhotos(patientId));
  }
  deletePhotosOfPatient(patientId: string): Promise<number> {
    return this.transaction((tx) => tx.deletePhotosOfPatient(patientId));
  }
  listPhotosPage(afterId: string | null, limit: number): Promise<StoredPhoto[]> {
    return this.transaction((tx) => tx.listPhotosPage(afterId, limit));
  }
  updatePhotoProtection(id: string, blob: ProtectedBlob): Promise<boolean> {
    return this.transaction((tx) => tx.updatePhotoProtection(id, blob));
  }
  moveTemplatePhotos(fromTemplateId: string, toTemplateId: string): Promise<number> {
    return this.transaction((tx) => tx.moveTemplatePhotos(fromTemplateId, toTemplateId));
  }
  insertStaffTemplate(t: NewStaffTemplate): Promise<StoredStaffTemplate> {
    return this.transaction((tx) => tx.insertStaffTemplate(t));
  }
  listStaffTemplates(userId: string): Promise<StoredStaffTemplate[]> {
    return this.transaction((tx) => tx.listStaffTemplates(userId));
  }
  deleteStaffTemplate(id: string): Promise<boolean> {
    return this.transaction((tx) => tx.deleteStaffTemplate(id));
  }
  deleteStaffTemplatesOfUser(userId: string): Promise<number> {
    return this.transaction((tx) => tx.deleteStaffTemplatesOfUser(userId));
  }
  listStaffTemplatesPage(afterId: string | null, limit: number): Promise<StoredStaffTemplate[]> {
    return this.transaction((tx) => tx.listStaffTemplatesPage(afterId, limit));
  }
  updateStaffTemplateProtection(id: string, blob: ProtectedBlob & { transformId: string }): Promise<boolean> {
    return this.transaction((tx) => tx.updateStaffTemplateProtection(id, blob));
  }
  insertPatientNotice(row: PatientNoticeRow): Promise<void> {
    return this.transaction((tx) => tx.insertPatientNotice(row));
  }
  listPatientNotices(patientId: string): Promise<PatientNoticeRow[]> {
    return this.transaction((tx) => tx.listPatientNotices(patientId));
  }
  markPatientNoticesShown(patientId: string, channel: 'portal' | 'visit', at: string): Promise<PatientNoticeRow[]> {
    return this.transaction((tx) => tx.markPatientNoticesShown(patientId, channel, at));
  }
  countProtectedRecordsByKey(): Promise<ProtectedRecordCount[]> {
    return this.transaction((tx) => tx.countProtectedRecordsByKey());
  }
  insertPatientLink(row: PatientLinkRow): Promise<void> {
    return this.transaction((tx) => tx.insertPatientLink(row));
  }
  getPatientLink(id: string): Promise<PatientLinkRow | null> {
    return this.transaction((tx) => tx.getPatientLink(id));
  }
  listPatientLinks(filter: { patientId?: string; status?: PatientLinkStatus }): Promise<PatientLinkRow[]> {
    return this.transaction((tx) => tx.listPatientLinks(filter));
  }
  updatePatientLink(row: PatientLinkRow): Promise<void> {
    return this.transaction((tx) => tx.updatePatientLink(row));
  }
  insertKey(k: KeyMetadata): Promise<void> {
    return this.transaction((tx) => tx.insertKey(k));
  }
  getKey(id: string): Promise<KeyMetadata | null> {
    return this.transaction((tx) => tx.getKey(id));
  }
  listKeys(purpose?: string): Promise<KeyMetadata[]> {
    return this.transaction((tx) => tx.listKeys(purpose));
  }
  retireKey(id: string, at: string): Promise<void> {
    return this.transaction((tx) => tx.retireKey(id, at));
  }
  insertUser(row: UserRow): Promise<void> {
    return this.transaction((tx) => tx.insertUser(row));
  }
  updateUser(row: UserRow): Promise<boolean> {
    return this.transaction((tx) => tx.updateUser(row));
  }
  getUser(id: string): Promise<UserRow | null> {
    return this.transaction((tx) => tx.getUser(id));
  }
  getUsers(ids: readonly string[]): Promise<UserRow[]> {
    return this.transaction((tx) => tx.getUsers(ids));
  }
  searchUsersByUsername(prefix: string, limit: number): Promise<UserRow[]> {
    return this.transaction((tx) => tx.searchUsersByUsername(prefix, limit));
  }
  getUserByUsername(username: string): Promise<UserRow | null> {
    return this.transaction((tx) => tx.getUserByUsername(username));
  }
  getUserByPatientId(patientId: string): Promise<UserRow | null> {
    return this.transaction((tx) => tx.getUserByPatientId(patientId));
  }
  listUsers(): Promise<UserRow[]> {
    return this.transaction((tx) => tx.listUsers());
  }
  setCredential(row: CredentialRow): Promise<void> {
    return this.transaction((tx) => tx.setCredential(row));
  }
  getCredential(userId: string, kind: CredentialKind): Promise<CredentialRow | null> {
    return this.transaction((tx) => tx.getCredential(userId, kind));
  }
  setTotp(row: TotpRow): Promise<void> {
    return this.transaction((tx) => tx.setTotp(row));
  }
  getTotp(userId: string): Promise<TotpRow | null> {
    return this.transaction((tx) => tx.getTotp(userId));
  }
  deleteTotp(userId: string): Promise<boolean> {
    return this.transaction((tx) => tx.deleteTotp(userId));
  }
  insertAccountRequest(row: AccountRequestRow): Promise<void> {
    return this.transaction((tx) => tx.insertAccountRequest(row));
  }
  getAccountRequest(id: string): Promise<AccountRequestRow | null> {
    return this.transaction((tx) => tx.getAccountRequest(id));
  }
  listAccountRequests(status: AccountRequestStatus): Promise<AccountRequestRow[]> {
    return this.transaction((tx) => tx.listAccountRequests(status));
  }
  decideAccountRequest(id: string, status: Exclude<AccountRequestStatus, 'pending'>, decidedBy: string, decidedAt: string): Promise<boolean> {
    return this.transaction((tx) => tx.decideAccountRequest(id, status, decidedBy, decidedAt));
  }
  useTotpStep(userId: string, step: number): Promise<boolean> {
    return this.transaction((tx) => tx.useTotpStep(userId, step));
  }
  insertSession(row: SessionRow): Promise<void> {
    return this.transaction((tx) => tx.insertSession(row));
  }
  getSessionByTokenHash(tokenHash: string): Promise<SessionRow | null> {
    return this.transaction((tx) => tx.getSessionByTokenHash(tokenHash));
  }
  touchSession(id: string, lastSeenAt: string, idleExpiresAt: string): Promise<boolean> {
    return this.transaction((tx) => tx.touchSession(id, lastSeenAt, idleExpiresAt));
  }
  deleteSession(id: string): Promise<boolean> {
    return this.transaction((tx) => tx.deleteSession(id));
  }
  deleteSessionsOfUser(userId: string): Promise<number> {
    return this.transaction((tx) => tx.deleteSessionsOfUser(userId));
  }
  deleteExpiredSessions(now: string): Promise<number> {
    return this.transaction((tx) => tx.deleteExpiredSessions(now));
  }
  recordSignInFailure(subject: string, at: string, forgetBefore: string): Promise<number> {
    return this.transaction((tx) => tx.recordSignInFailure(subject, at, forgetBefore));
  }
  blockSignIn(subject: string, until: string): Promise<void> {
    return this.transaction((tx) => tx.blockSignIn(subject, until));
  }
  getSignInThrottle(subjects: readonly string[]): Promise<SignInThrottleRow[]> {
    return this.transaction((tx) => tx.getSignInThrottle(subjects));
  }
  clearSignInFailures(subject: string): Promise<void> {
    return this.transaction((tx) => tx.clearSignInFailures(subject));
  }
  insertApiClient(row: ApiClientRow): Promise<void> {
    return this.transaction((tx) => tx.insertApiClient(row));
  }
  getApiClient(id: string): Promise<ApiClientRow | null> {
    return this.transaction((tx) => tx.getApiClient(id));
  }
  getApiClientByKeyHash(keyHash: string): Promise<ApiClientRow | null> {
    return this.transaction((tx) => tx.getApiClientByKeyHash(keyHash));
  }
  listApiClients(): Promise<ApiClientRow[]> {
    return this.transaction((tx) => tx.listApiClients());
  }
  revokeApiClient(id: string, at: string): Promise<boolean> {
    return this.transaction((tx) => tx.revokeApiClient(id, at));
  }
  pairApiClient(id: string, pairingHash: string, deviceHash: string, at: string): Promise<boolean> {
    return this.transaction((tx) => tx.pairApiClient(id, pairingHash, deviceHash, at));
  }
  countRateLimitHit(key: string, now: string, windowEndsAt: string): Promise<{ hits: number; windowEndsAt: string }> {
    return this.transaction((tx) => tx.countRateLimitHit(key, now, windowEndsAt));
  }
  deleteRateLimitCountersBefore(before: string): Promise<number> {
    return this.transaction((tx) => tx.deleteRateLimitCountersBefore(before));
  }
  insertLivenessChallenge(row: LivenessChallengeRow): Promise<void> {
    return this.transaction((tx) => tx.insertLivenessChallenge(row));
  }
  getLivenessChallenge(id: string): Promise<LivenessChallengeRow | null> {
    return this.transaction((tx) => tx.getLivenessChallenge(id));
  }
  consumeLivenessChallenge(id: string, at: string): Promise<boolean> {
    return this.transaction((tx) => tx.consumeLivenessChallenge(id, at));
  }
  deleteLivenessChallengesBefore(before: string): Promise<number> {
    return this.transaction((tx) => tx.deleteLivenessChallengesBefore(before));
  }
  lockAuditHead(): Promise<{ seq: number; hash: string } | null> {
    return this.transaction((tx) => tx.lockAuditHead());
  }
  insertAuditEvent(e: AuditEventRow): Promise<void> {
    return this.transaction((tx) => tx.insertAuditEvent(e));
  }
  listAuditEvents(query: AuditQuery): Promise<AuditEventRow[]> {
    return this.transaction((tx) => tx.listAuditEvents(query));
  }
}

/** A transaction's connection that refuses use after the transaction ended (a leaked `tx`). */
class ScopedExecutor implements SqlExecutor {
  closed = false;
  readonly engine: 'sqlite' | 'postgres';

  constructor(private readonly inner: SqlExecutor) {
    this.engine = inner.engine;
  }

  private check(): void {
    if (this.closed) throw new Error('transaction already finished: a tx cannot be used after transaction() returns');
  }
  all<R>(sql: string, params?: readonly SqlValue[]): Promise<R[]> {
    this.check();
    return this.inner.all<R>(sql, params);
  }
  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    this.check();
    return this.inner.run(sql, params);
  }
  exec(sql: string): Promise<void> {
    this.check();
    return this.inner.exec(sql);
  }
}
