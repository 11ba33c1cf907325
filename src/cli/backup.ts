import os from 'node:os';
import type { Command } from 'commander';
import type { BackupSummary, RestoreSummary } from '../services/operations/backup.js';
import { action, print, type JsonOption } from './output.js';

/** `medface restore` exits with this when the data was restored but this deployment's key file cannot open its templates (1: nothing was restored). */
export const EXIT_KEYS_UNUSABLE = 3;

export function registerBackup(program: Command): void {
  program
    .command('backup')
    .argument('<file>', 'where to write the backup (gzip JSON lines, mode 0600)')
    .description('Copy the whole store, consistently, while the server keeps running (SQLite or PostgreSQL: MEDFACE_DATA_DIR, DATABASE_URL). The key files are NOT included')
    .option('--json', 'machine-readable output')
    .action(
      action(async (file: string, opts: JsonOption) => {
        const [{ loadConfig }, { backupStore }, { consoleOperator }] = await Promise.all([import('../config.js'), import('../services/operations/backup.js'), import('../services/access.js')]);
        const summary = await backupStore(loadConfig(), file, { actor: consoleOperator().id, client: `cli@${os.hostname()}` });
        print(summary, opts, renderBackup);
        // said on stderr as well, so it is seen even when the JSON goes to a script
        if (opts.json) process.stderr.write(`medface: ${keyWarning(summary)}\n`);
      }),
    );

  program
    .command('restore')
    .argument('<file>', 'a file written by medface backup')
    .description(
      `Restore a backup into the configured database, all or nothing: refused if the database holds anything unless --force; the audit chain must verify. Stop the server first. Exit ${EXIT_KEYS_UNUSABLE} when restored but the key file cannot open its templates`,
    )
    .option('--force', 'replace everything the database holds (its audit trail included)')
    .option('--json', 'machine-readable output')
    .action(
      action(async (file: string, opts: JsonOption & { force?: boolean }) => {
        const [{ loadConfig }, { restoreStore }] = await Promise.all([import('../config.js'), import('../services/operations/backup.js')]);
        const summary = await restoreStore(loadConfig(), file, { force: opts.force === true });
        print(summary, opts, renderRestore);
        if (!summary.keys.ok) process.exitCode = EXIT_KEYS_UNUSABLE;
      }),
    );
}

function keyWarning(s: BackupSummary): string {
  return (
    `THE KEY FILES ARE NOT IN THIS BACKUP: ${s.keyFilesNotIncluded.keyFile} and ${s.keyFilesNotIncluded.auditKeyFile}. ` +
    'Without them the face templates in it cannot be used (and patients cannot be found in the audit trail); back them up ' +
    'separately and keep them apart from this file: whoever holds both holds the biometric data.'
  );
}

function renderBackup(s: BackupSummary): string {
  const rows = Object.values(s.rows).reduce((a, b) => a + b, 0);
  return [
    `backed up ${rows} rows of ${Object.keys(s.rows).length} tables (${s.engine}, schema ${s.schema.join(',')}) into ${s.file}`,
    `audit trail: ${s.audit.entries} entries, head ${s.audit.headHash ?? '-'}`,
    '',
    keyWarning(s),
  ].join('\n');
}

function renderRestore(s: RestoreSummary): string {
  const rows = Object.values(s.rows).reduce((a, b) => a + b, 0);
  const audit = s.audit.ok ? `audit trail intact: ${s.audit.count} entries, head ${s.audit.head?.hash ?? '-'}` : 'audit trail BROKEN';
  const keys = s.keys.ok
    ? `key file opens all ${s.keys.templates} templates`
    : `TEMPLATES UNUSABLE: ${s.keys.code}: ${s.keys.message}\nPut the key file (and the audit pseudonym key) of the deployment that took the backup in place before starting medface.`;
  return [`restored ${rows} rows of ${Object.keys(s.rows).length} tables from ${s.file} (taken ${s.from.createdAt} on ${s.from.engine}) into ${s.engine}`, audit, keys].join('\n');
}
