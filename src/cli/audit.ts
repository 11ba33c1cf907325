import type { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import type { AuditEvent, ChainVerification } from '../audit/trail.js';
import { loadConfig } from '../config.js';
import { MedfaceError } from '../errors.js';
import type { AuditOutcome } from '../store/types.js';
import { action, print } from './output.js';

/** `medface audit verify` exits with this when the log is not intact (1 means the check itself failed). */
export const EXIT_AUDIT_BROKEN = 2;

interface JsonFlag {
  json?: boolean;
}

/** An ISO-8601 time or date (a date alone is midnight UTC). */
function parseTime(value: string, option: string): Date {
  const time = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(value) ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(time.getTime())) {
    throw new MedfaceError('INVALID_ARGUMENT', `${option} must be an ISO-8601 date or date and time with a zone, e.g. 2024-05-01 or 2024-05-01T08:00:00Z`);
  }
  return time;
}

/** The console operator as the audit trail records them (as the other console commands do, see session.ts). */
async function operator(): Promise<{ actor: string; client: string }> {
  const { consoleOperator } = await import('../services/access.js');
  return { actor: consoleOperator().id, client: `cli@${os.hostname()}` };
}

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('Check, export and search the tamper-evident audit trail');

  audit
    .command('verify')
    .description(`Verify the hash chain: exit 0 when intact (printing the head to record elsewhere), ${EXIT_AUDIT_BROKEN} at the first missing or altered entry`)
    .option('--json', 'machine-readable output')
    .action(
      action(async (opts: JsonFlag) => {
        const { verifyAuditLog } = await import('../services/audit.js');
        const { openStore } = await import('../store/index.js');
        const store = await openStore(loadConfig());
        try {
          const result = await verifyAuditLog(store);
          print(result, opts, renderVerification);
          if (!result.ok) process.exitCode = EXIT_AUDIT_BROKEN;
        } finally {
          await store.close();
        }
      }),
    );

  audit
    .command('export')
    .description('Export the entries recorded from --from (inclusive) to --to (exclusive) as a FHIR R4 Bundle of AuditEvents')
    .requiredOption('--from <time>', 'start, ISO-8601 (e.g. 2024-05-01 or 2024-05-01T08:00:00Z)')
    .requiredOption('--to <time>', 'end, ISO-8601, exclusive')
    .option('--out <file>', 'write the Bundle here (mode 0600) instead of standard output')
    .option('--json', 'machine-readable summary when writing to --out')
    .action(
      action(async (opts: { from: string; to: string; out?: string } & JsonFlag) => {
        const range = { from: parseTime(opts.from, '--from'), to: parseTime(opts.to, '--to') };
        const { exportAuditLog, openAuditContext } = await import('../services/audit.js');
        const ctx = await openAuditContext(loadConfig());
        try {
          const bundle = await exportAuditLog(ctx, range, await operator());
          const text = JSON.stringify(bundle, null, 2) + '\n';
          if (opts.out === undefined) {
            process.stdout.write(text);
            return;
          }
          await writeFile(opts.out, text, { mode: 0o600 });
          const summary = { file: opts.out, entries: bundle.entry.length, from: range.from.toISOString(), to: range.to.toISOString() };
          print(summary, opts, (s) => `exported ${s.entries} audit entries from ${s.from} to ${s.to} into ${s.file}`);
        } finally {
          await ctx.store.close();
        }
      }),
    );

  audit
    .command('search')
    .description('Search entries by patient (found through its pseudonym), actor, action, outcome and time')
    .option('--patient <id>', 'patient id')
    .option('--actor <id>', 'user, API client or cli:<user>')
    .option('--action <action>', 'e.g. patient.read, biometric.identify, breakglass.open')
    .option('--outcome <outcome>', 'success, failure or denied')
    .option('--from <time>', 'recorded at or after, ISO-8601')
    .option('--to <time>', 'recorded before, ISO-8601')
    .option('--limit <n>', 'most entries returned (1-1000)', '100')
    .option('--json', 'machine-readable output')
    .action(
      action(
        async (
          opts: { patient?: string; actor?: string; action?: string; outcome?: string; from?: string; to?: string; limit: string } & JsonFlag,
        ) => {
          const limit = Number(opts.limit);
          const { searchAuditLog, openAuditContext } = await import('../services/audit.js');
          const ctx = await openAuditContext(loadConfig());
          try {
            const events = await searchAuditLog(
              ctx,
              {
                ...(opts.patient !== undefined && { patientId: opts.patient }),
                ...(opts.actor !== undefined && { actor: opts.actor }),
                ...(opts.action !== undefined && { action: opts.action }),
                ...(opts.outcome !== undefined && { outcome: opts.outcome as AuditOutcome }),
                ...(opts.from !== undefined && { from: parseTime(opts.from, '--from') }),
                ...(opts.to !== undefined && { to: parseTime(opts.to, '--to') }),
                limit,
              },
              await operator(),
            );
            print(events, opts, renderEvents);
          } finally {
            await ctx.store.close();
          }
        },
      ),
    );
}

function renderVerification(r: ChainVerification): string {
  if (r.ok) {
    return r.head === null
      ? 'audit trail intact: no entries yet'
      : `audit trail intact: ${r.count} entries, head seq ${r.head.seq} hash ${r.head.hash}\nRecord the head outside this database: a later verify that does not reach it means entries were cut off.`;
  }
  return `audit trail BROKEN at entry ${r.firstBadSeq} (${r.problem}); the ${r.count} entries before it verify`;
}

function renderEvents(events: AuditEvent[]): string {
  if (events.length === 0) return 'no matching audit entries';
  return events
    .map((e) => [e.seq, e.time, e.actor, e.client ?? '-', e.action, e.outcome, e.patientRef?.slice(0, 12) ?? '-', JSON.stringify(e.details)].join('  '))
    .join('\n');
}
