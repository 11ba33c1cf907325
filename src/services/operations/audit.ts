import path from 'node:path';
import { exportAuditBundle, type AuditBundle, type TimeRange } from '../../audit/export.js';
import { checkpointPath, type Checkpoint, type CheckpointFile, type KnownHead } from '../../audit/checkpoints.js';
import { AuditTrail, verifyChain, type AuditEvent, type ChainBreak } from '../../audit/trail.js';
import type { Config } from '../../config.js';
import { MedfaceError } from '../../errors.js';
import { KEY_FILE_NAME } from '../../identity/keys.js';
import { openStore } from '../../store/index.js';
import type { AuditOutcome, Store } from '../../store/types.js';
import { normaliseUsername } from '../../access/users.js';
import { searchPatients } from '../../records/patient.js';
import type { Actor } from '../auditing.js';
import { lookUpPeople, NO_NAMES, type NameRights, type PatientLabel, type UserLabel } from '../patients/people.js';
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
  /** Where the keyed checkpoints of the audit head are kept (beside the key file). */
  settings: { readonly checkpoints: CheckpointFile };
}

/** Opens the configured database with the audit trail's pseudonym key, for commands that need nothing else. */
export async function openAuditContext(config: Pick<Config, 'dataDir' | 'databaseUrl' | 'keyFile'>): Promise<AuditContext> {
  const store = await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl });
  try {
    const keyFile = config.keyFile ?? path.join(config.dataDir, KEY_FILE_NAME);
    const hasEntries = (await store.listAuditEvents({ limit: 1 })).length > 0;
    const { key } = await loadPseudonymKey(pseudonymKeyPath(keyFile), hasEntries);
    const audit = new AuditTrail(key);
    return { store, audit, settings: { checkpoints: audit.checkpointFile(checkpointPath(keyFile)) } };
  } catch (e) {
    await store.close();
    throw e;
  }
}

/** A verification of the log against its chain, the keyed checkpoints and a recorded head. */
export interface AuditVerification {
  /** The chain verifies, matches every checkpoint and the expected head, and the checkpoint file is clean. */
  ok: boolean;
  /** Entries verified intact before the first break (all of them when there is none). */
  count: number;
  /** The last entry as stored: record it outside the database. */
  head: KnownHead | null;
  /** The first break, when there is one. */
  firstBadSeq?: number;
  problem?: ChainBreak['problem'];
  /** Every break in log order (the first 100; `breakCount` counts all). */
  breaks: ChainBreak[];
  breakCount: number;
  checkpoints: {
    file: string;
    /** Checkpoints with a valid MAC, each compared with the log. */
    checked: number;
    /** The newest of them. */
    latest: Checkpoint | null;
    /** Line numbers that are not a valid checkpoint (edited, forged or another deployment's): not ok. */
    invalidLines: number[];
  };
  /** The head given to check (`--expect-head`), when one was. */
  expectedHead?: KnownHead;
}

/**
 * Walks the whole chain and reports every break (audit/trail.ts), comparing the log with every valid keyed
 * checkpoint and with `expectedHead` (a head the privacy officer recorded): a log rewritten and re-chained
 * by someone holding only the database fails there. Reads no patient data and writes nothing, so it can
 * run on a suspect log.
 */
export async function verifyAuditLog(ctx: AuditContext, expectedHead?: KnownHead): Promise<AuditVerification> {
  const read = await ctx.settings.checkpoints.read();
  const chain = await verifyChain(ctx.store, undefined, [...read.valid, ...(expectedHead ? [expectedHead] : [])]);
  return {
    ok: chain.ok && read.invalidLines.length === 0,
    count: chain.count,
    head: chain.head,
    ...(!chain.ok && { firstBadSeq: chain.firstBadSeq, problem: chain.problem }),
    breaks: chain.ok ? [] : chain.breaks,
    breakCount: chain.ok ? 0 : chain.breakCount,
    checkpoints: { file: read.file, checked: read.valid.length, latest: read.valid.at(-1) ?? null, invalidLines: read.invalidLines },
    ...(expectedHead && { expectedHead }),
  };
}

/**
 * Appends a keyed checkpoint of the head, after verifying the log against the checkpoints so far: a log
 * that does not verify is not anchored (the answer says why). Nothing is written for an empty log, or when
 * the newest checkpoint already names this head.
 */
export async function checkpointAuditLog(ctx: AuditContext): Promise<{ written: Checkpoint | null; verification: AuditVerification }> {
  const verification = await verifyAuditLog(ctx);
  if (!verification.ok || verification.head === null) return { written: null, verification };
  const latest = verification.checkpoints.latest;
  if (latest?.seq === verification.head.seq && latest.hash === verification.head.hash) return { written: null, verification };
  return { written: await ctx.settings.checkpoints.append(verification.head), verification };
}

/** How often a running server checkpoints the audit head (besides at start and at shutdown). */
export const CHECKPOINT_INTERVAL_MS = 60 * 60 * 1000;

/**
 * Checkpoints now and then every `intervalMs` until stopped (stopping writes a last one). A failure (an
 * unreadable file, a store away) is reported to `onError` and retried at the next tick.
 */
export function startCheckpoints(ctx: AuditContext, onError: (e: unknown) => void, intervalMs = CHECKPOINT_INTERVAL_MS): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const tick = () => {
    running = running.then(() => checkpointAuditLog(ctx)).catch(onError);
    return running;
  };
  void tick();
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await tick();
    },
  };
}

/** Exports [from, to) as a FHIR Bundle of AuditEvents; the export itself is recorded after it is read. */
export async function exportAuditLog(ctx: AuditContext, range: TimeRange, who: Actor): Promise<AuditBundle> {
  const bundle = await exportAuditBundle(ctx.store, range);
  await ctx.audit.record(ctx.store, {
    ...who,
    action: 'audit.export',
    outcome: 'success',
    details: { from: range.from.toISOString(), to: range.to.toISOString(), entries: bundle.entry.length },
  });
  return bundle;
}

export interface AuditSearch {
  /** A patient id: found through its pseudonym, the only form in which the log holds it. */
  patientId?: string;
  /** Words of a patient's name (as the patient search takes them): the entries about any patient it finds. */
  patientName?: string;
  actor?: string;
  /** The start of a username: the entries by any user it finds. */
  userName?: string;
  action?: string;
  outcome?: AuditOutcome;
  from?: Date;
  to?: Date;
  limit?: number;
}

/** An entry with the user who acted and the patient it concerns, for those who may see them (services/patients/people.ts). */
export interface LabelledAuditEvent extends AuditEvent {
  user?: UserLabel;
  /** Known when the search named the patient (by id or name): the log keeps patients only as pseudonyms. */
  patient?: PatientLabel;
}

const SEARCH_LIMIT_MAX = 1000;
/** The most users or patients a name in the search stands for; a name that finds more is too vague to search by. */
const NAME_MATCHES_MAX = 50;

/**
 * Entries matching every criterion, in log order, with usernames and (for patients the search named) names and
 * dates of birth as `rights` allow; a search by user or patient name needs the right to see those names. The
 * search is recorded with which criteria were used (never the names searched for).
 */
export async function searchAuditLog(ctx: AuditContext, search: AuditSearch, who: Actor, rights: NameRights = NO_NAMES): Promise<LabelledAuditEvent[]> {
  const limit = search.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > SEARCH_LIMIT_MAX) {
    throw new MedfaceError('INVALID_ARGUMENT', `limit must be an integer from 1 to ${SEARCH_LIMIT_MAX}`);
  }
  if (search.outcome !== undefined && !['success', 'failure', 'denied'].includes(search.outcome)) {
    throw new MedfaceError('INVALID_ARGUMENT', 'outcome must be success, failure or denied');
  }
  if ((search.userName !== undefined && !rights.users) || (search.patientName !== undefined && !rights.patients)) {
    throw new MedfaceError('FORBIDDEN', 'not permitted to search the audit trail by name', { reason: 'not-permitted' });
  }
  const actors = search.userName === undefined ? undefined : (await ctx.store.searchUsersByUsername(normaliseUsername(search.userName), NAME_MATCHES_MAX)).map((u) => u.id);
  const named = search.patientName === undefined ? [] : (await searchPatients(ctx.store, { name: search.patientName, limit: NAME_MATCHES_MAX })).map((p) => p.id as string);
  const { patientName, userName, ...exact } = search;
  const rows = await ctx.audit.search(ctx.store, {
    ...exact,
    ...(actors !== undefined && { actors }),
    ...(patientName !== undefined && { patientIds: named }),
    limit,
  });
  const criteria = (['patientId', 'patientName', 'actor', 'userName', 'action', 'outcome', 'from', 'to'] as const).filter((k) => search[k] !== undefined);
  await ctx.audit.record(ctx.store, {
    ...who,
    action: 'audit.search',
    outcome: 'success',
    patientId: search.patientId ?? null,
    details: { criteria, results: rows.length, ...(userName !== undefined && { usersFound: actors?.length ?? 0 }), ...(patientName !== undefined && { patientsFound: named.length }) },
  });
  const idOfRef = new Map([...named, ...(search.patientId === undefined ? [] : [search.patientId])].map((id) => [ctx.audit.patientRef(id), id]));
  const people = await lookUpPeople(ctx, who, rights, { patients: idOfRef.values(), users: rows.map((e) => e.actor) }, 'audit.search');
  return rows.map((e) => {
    const user = people.users.get(e.actor);
    const patient = e.patientRef === null ? undefined : people.patients.get(idOfRef.get(e.patientRef) ?? '');
    return { ...e, ...(user && { user }), ...(patient && { patient }) };
  });
}
