import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { verifyChain, type ChainVerification } from '../../audit/trail.js';
import type { Config } from '../../config.js';
import { isMedfaceError, MedfaceError } from '../../errors.js';
import { KEY_FILE_NAME } from '../../identity/keys.js';
import { restoreLines, snapshotLines, type BackupHeader, type BackupLine } from '../../store/backup.js';
import { openStore } from '../../store/index.js';
import type { Actor } from '../auditing.js';
import { openAuditContext } from './audit.js';
import { openMedface } from '../context.js';
import { pseudonymKeyPath } from './pseudonym-key.js';

/**
 * `medface backup` and `medface restore`: a consistent copy of the whole store while the server runs, as one
 * gzip-compressed file any engine can restore (see store/backup.ts), and its restore into an empty database.
 * The key file and the audit pseudonym key are NOT in the copy — templates and photos stay encrypted under
 * them, TOTP secrets are sealed under the pseudonym key — so they are backed up separately, apart.
 */

type Deployment = Pick<Config, 'dataDir' | 'databaseUrl' | 'keyFile'>;

export interface KeyFiles {
  keyFile: string;
  auditKeyFile: string;
}

export function keyFilesOf(config: Deployment): KeyFiles {
  const keyFile = config.keyFile ?? path.join(config.dataDir, KEY_FILE_NAME);
  return { keyFile, auditKeyFile: pseudonymKeyPath(keyFile) };
}

export interface BackupSummary {
  file: string;
  engine: 'sqlite' | 'postgres';
  schema: number[];
  createdAt: string;
  rows: Record<string, number>;
  /** The audit log as copied: its head, to compare with a restore's. */
  audit: { entries: number; headHash: string | null };
  /** Never in the backup; the restore needs them. */
  keyFilesNotIncluded: KeyFiles;
}

/**
 * Writes one snapshot of every table to `file` (gzip JSON lines, mode 0600, written beside it and renamed
 * into place, so a failed run leaves no partial backup) and records the backup in the audit trail.
 */
export async function backupStore(config: Deployment, file: string, who: Actor): Promise<BackupSummary> {
  const out = path.resolve(file);
  const partial = `${out}.${randomBytes(6).toString('hex')}.partial`;
  let header: BackupHeader | undefined;
  let rows: Record<string, number> = {};
  const audit = { entries: 0, headHash: null as string | null };
  async function* text(): AsyncGenerator<string> {
    let table = '';
    let seqColumn = -1;
    let hashColumn = -1;
    let headSeq = 0;
    for await (const line of snapshotLines({ dataDir: config.dataDir, databaseUrl: config.databaseUrl })) {
      if (!Array.isArray(line)) {
        if ('format' in line) header = line;
        if ('table' in line) {
          table = line.table;
          seqColumn = line.columns.indexOf('seq');
          hashColumn = line.columns.indexOf('hash');
        }
        if ('end' in line) rows = line.rows;
      } else if (table === 'audit_events') {
        audit.entries++;
        const seq = Number(line[seqColumn]);
        if (seq > headSeq) {
          headSeq = seq;
          audit.headHash = String(line[hashColumn]);
        }
      }
      yield JSON.stringify(line) + '\n';
    }
  }
  try {
    await pipeline(Readable.from(text()), createGzip(), createWriteStream(partial, { mode: 0o600, flags: 'wx' }));
    await rename(partial, out);
  } catch (e) {
    await rm(partial, { force: true });
    throw e;
  }
  const { format: _format, version: _version, ...taken } = header!;
  const summary: BackupSummary = { file: out, ...taken, rows, audit, keyFilesNotIncluded: keyFilesOf(config) };
  await recordInTrail(config, who, 'store.backup', { rows: total(rows), auditEntries: audit.entries });
  return summary;
}

export interface RestoreSummary {
  file: string;
  /** Where the backup came from. */
  from: { engine: 'sqlite' | 'postgres'; schema: number[]; createdAt: string };
  engine: 'sqlite' | 'postgres';
  rows: Record<string, number>;
  /** The restored audit chain, verified before the restore committed. */
  audit: ChainVerification;
  /**
   * Whether this deployment's key files open the restored templates (a started medface would). When not,
   * the data is restored but no template can be used until the key file from the same deployment is in place.
   */
  keys: { ok: true; templates: number } | { ok: false; code: string; message: string };
}

/**
 * Restores a backup into the configured database in one transaction: refused when the database holds any
 * row unless `force`, and rolled back when the restored audit chain does not verify (INVALID_ARGUMENT).
 * Stop every server on the database first: a running one keeps its gallery of what was there before.
 */
export async function restoreStore(config: Deployment, file: string, options: { force?: boolean } = {}): Promise<RestoreSummary> {
  const source = path.resolve(file);
  // created and brought to this version's schema first, the way every command opens it
  await (await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl })).close();
  let audit: ChainVerification | undefined;
  const { header, rows } = await restoreLines({ dataDir: config.dataDir, databaseUrl: config.databaseUrl }, readLines(source), {
    ...(options.force !== undefined && { force: options.force }),
    beforeCommit: async (repo) => {
      audit = await verifyChain(repo);
      if (!audit.ok) {
        throw new MedfaceError('INVALID_ARGUMENT', `not a usable medface backup: its audit trail does not verify (entry ${audit.firstBadSeq}: ${audit.problem}); nothing was restored`, {
          firstBadSeq: audit.firstBadSeq,
          problem: audit.problem,
        });
      }
    },
  });
  return {
    file: source,
    from: { engine: header.engine, schema: header.schema, createdAt: header.createdAt },
    engine: config.databaseUrl ? 'postgres' : 'sqlite',
    rows,
    audit: audit!,
    keys: await checkKeys(config),
  };
}

/** Opens medface as a server would: every template is opened with the key file, or the reason it cannot be. */
async function checkKeys(config: Deployment): Promise<RestoreSummary['keys']> {
  try {
    const medface = await openMedface(config);
    try {
      return { ok: true, templates: medface.templates.gallery.size };
    } finally {
      await medface.close();
    }
  } catch (e) {
    if (isMedfaceError(e) && (e.code === 'KEY_MISSING' || e.code === 'KEY_INVALID')) return { ok: false, code: e.code, message: e.message };
    throw e;
  }
}

async function* readLines(file: string): AsyncGenerator<BackupLine> {
  const input = createReadStream(file);
  await new Promise<void>((resolve, reject) => {
    input.once('open', () => resolve());
    input.once('error', (e: NodeJS.ErrnoException) => reject(new MedfaceError('NOT_FOUND', `cannot read the backup ${file}`, { reason: e.code })));
  });
  const gunzip = input.pipe(createGunzip());
  const lines = createInterface({ input: gunzip, crlfDelay: Infinity });
  let damaged = false;
  gunzip.once('error', () => {
    damaged = true;
    lines.close();
  });
  try {
    for await (const text of lines) {
      if (damaged) break;
      if (text === '') continue;
      try {
        yield JSON.parse(text) as BackupLine;
      } catch {
        throw new MedfaceError('INVALID_ARGUMENT', `not a usable medface backup: ${file} holds a line that is not JSON`);
      }
    }
    if (damaged) throw new MedfaceError('INVALID_ARGUMENT', `not a usable medface backup: ${file} is not gzip-compressed, or is damaged`);
  } finally {
    input.destroy();
  }
}

async function recordInTrail(config: Deployment, who: Actor, action: string, details: Record<string, unknown>): Promise<void> {
  const ctx = await openAuditContext(config);
  try {
    await ctx.audit.record(ctx.store, { ...who, action, outcome: 'success', details });
  } finally {
    await ctx.store.close();
  }
}

function total(rows: Record<string, number>): number {
  return Object.values(rows).reduce((a, b) => a + b, 0);
}
