import path from 'node:path';
import { exportAuditBundle, type AuditBundle, type TimeRange } from '../audit/export.js';
import { AuditTrail, verifyChain, type AuditEvent, type ChainVerification } from '../audit/trail.js';
import type { Config } from '../config.js';
import { MedfaceError } from '../errors.js';
import { KEY_FILE_NAME } from '../identity/keys.js';
import { openStore } from '../store/index.js';
import type { AuditOutcome, Repository, Store } from '../store/types.js';
import type { Actor } from './auditing.js';
import { loadPseudonymKey, pseudonymKeyPath } from './pseudonym-key.js';

/**
 * The privacy officer's use cases on the audit trail: verify the chain, export a period as FHIR, search.
 * They need the store and the trail's pseudonym key only — never the template keys or the gallery — so
 * the log can be checked and read even when the biometric side cannot start.
 */

/** What the audit use cases work with; a started Medface is one. */
export interface AuditContext {
  store: Store;
  audit: AuditTrail;
}

/** Opens the configured database with the audit trail's pseudonym key, for commands that need nothing else. */
export async function openAuditContext(config: Pick<Config, 'dataDir' | 'databaseUrl' | 'keyFile'>): Promise<AuditContext> {
  const store = await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl });
  try {
    const keyFile = config.keyFile ?? path.join(config.dataDir, KEY_FILE_NAME);
    const hasEntries = (await store.listAuditEvents({ limit: 1 })).length > 0;
    const { key } = await loadPseudonymKey(pseudonymKeyPath(keyFile), hasEntries);
    return { store, audit: new AuditTrail(key) };
  } catch (e) {
    await store.close();
    throw e;
  }
}

/**
 * Walks the whole chain: intact with its head (to be recorded outside the database), or the first missing
 * or altered entry. Reads no patient data and writes nothing, so it can run on a suspect log.
 */
export function verifyAuditLog(repo: Repository): Promise<ChainVerification> {
  return verifyChain(repo);
}

/** Exports [from, to) as a FHIR Bundle of AuditEvents; the export itself is recorded after it is read. */
export async function exportAuditLog(ctx: AuditContext, range: TimeRange, who: Actor): Promise<AuditBundle> {
  const bundle = await exportAuditBundle(ctx.store, range);
  await ctx.store.transaction((tx) =>
    ctx.audit.append(tx, {
      ...who,
      action: 'audit.export',
      outcome: 'success',
      details: { from: range.from.toISOString(), to: range.to.toISOString(), entries: bundle.entry.length },
    }),
  );
  return bundle;
}

export interface AuditSearch {
  /** A patient id: found through its pseudonym, the only form in which the log holds it. */
  patientId?: string;
  actor?: string;
  action?: string;
  outcome?: AuditOutcome;
  from?: Date;
  to?: Date;
  limit?: number;
}

const SEARCH_LIMIT_MAX = 1000;

/** Entries matching every criterion, in log order; the search is recorded with which criteria were used. */
export async function searchAuditLog(ctx: AuditContext, search: AuditSearch, who: Actor): Promise<AuditEvent[]> {
  const limit = search.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > SEARCH_LIMIT_MAX) {
    throw new MedfaceError('INVALID_ARGUMENT', `limit must be an integer from 1 to ${SEARCH_LIMIT_MAX}`);
  }
  if (search.outcome !== undefined && !['success', 'failure', 'denied'].includes(search.outcome)) {
    throw new MedfaceError('INVALID_ARGUMENT', 'outcome must be success, failure or denied');
  }
  const events = await ctx.audit.search(ctx.store, { ...search, limit });
  const criteria = (['patientId', 'actor', 'action', 'outcome', 'from', 'to'] as const).filter((k) => search[k] !== undefined);
  await ctx.store.transaction((tx) =>
    ctx.audit.append(tx, {
      ...who,
      action: 'audit.search',
      outcome: 'success',
      patientId: search.patientId ?? null,
      details: { criteria, results: events.length },
    }),
  );
  return events;
}
