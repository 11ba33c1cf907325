import type { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { loadConfig } from '../config.js';
import { MedfaceError } from '../errors.js';
import type { AuditVerification, LabelledAuditEvent } from '../services/operations/audit.js';
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
    .description(
      `Verify the hash chain against the keyed checkpoints (and --expect-head): exit 0 when ok (printing the head to record elsewhere), ${EXIT_AUDIT_BROKEN} listing every missing, altered or rewritten entry`,
    )
    .option('--expect-head <seq:hash>', 'a head recorded earlier (as this command prints it): the log must still hold it')
    .option('--json', 'machine-readable output')
    .action(
      action(async (opts: { expectHead?: string } & JsonFlag) => {
        const { parseHead } = await import('../audit/checkpoints.js');
        const expected = opts.expectHead === undefined ? undefined : parseHead(opts.expectHead);
        const { verifyAuditLog, openAuditContext } = await import('../services/operations/audit.js');
        const ctx = await openAuditContext(loadConfig());
        try {
          const result = await verifyAuditLog(ctx, expected);
          print(result, opts, renderVerification);
          if (!result.ok) process.exitCode = EXIT_AUDIT_BROKEN;
        } finally {
          await ctx.store.close();
        }
      }),
    );

  audit
    .command('checkpoint')
    .description(
      `Verify, then append a keyed checkpoint of the head to the checkpoint file beside the key file (a running server does so hourly); exit ${EXIT_AUDIT_BROKEN} without one when the log does not verify`,
    )
    .option('--json', 'machine-readable output')
    .action(
      action(async (opts: JsonFlag) => {
        const { checkpointAuditLog, openAuditContext } = await import('../services/operations/audit.js');
        const ctx = await openAuditContext(loadConfig());
        try {
          const result = await checkpointAuditLog(ctx);
          print(result, opts, (r) =>
            r.verification.ok
              ? r.written
                ? `checkpoint written to ${r.verification.checkpoints.file}: head ${r.written.seq}:${r.written.hash}`
                : r.verification.head === null
                  ? 'no entries yet: nothing to checkpoint'
                  : `the newest checkpoint already names head ${r.verification.head.seq}:${r.verification.head.hash}`
              : `no checkpoint written: ${renderVerification(r.verification)}`,
          );
          if (!result.verification.ok) process.exitCode = EXIT_AUDIT_BROKEN;
        } finally {
          await ctx.store.close();
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
        const { exportAuditLog, openAuditContext } = await import('../services/operations/audit.js');
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
    .description('Search entries by patient (found through its pseudonym), actor, action, outcome and time; entries show the username, and the patient’s name when the search named the patient')
    .option('--patient <id>', 'patient id')
    .option('--patient-name <words>', 'words of a patient’s name: entries about any patient found')
    .option('--actor <id>', 'user, API client or cli:<user>')
    .option('--user <name>', 'the start of a username: entries by any user found')
    .option('--action <action>', 'e.g. patient.read, biometric.identify, breakglass.open')
    .option('--outcome <outcome>', 'success, failure or denied')
    .option('--from <time>', 'recorded at or after, ISO-8601')
    .option('--to <time>', 'recorded before, ISO-8601')
    .option('--limit <n>', 'most entries returned (1-1000)', '100')
    .option('--json', 'machine-readable output')
    .action(
      action(async (opts: { patient?: string; patientName?: string; actor?: string; user?: string; action?: string; outcome?: string; from?: string; to?: string; limit: string } & JsonFlag) => {
        const limit = Number(opts.limit);
        const { searchAuditLog, openAuditContext } = await import('../services/operations/audit.js');
        const ctx = await openAuditContext(loadConfig());
        try {
          const who = await operator();
          const { consoleNameRights } = await import('../services/patients/people.js');
          const events = await searchAuditLog(
            ctx,
            {
              ...(opts.patient !== undefined && { patientId: opts.patient }),
              ...(opts.patientName !== undefined && { patientName: opts.patientName }),
              ...(opts.actor !== undefined && { actor: opts.actor }),
              ...(opts.user !== undefined && { userName: opts.user }),
              ...(opts.action !== undefined && { action: opts.action }),
              ...(opts.outcome !== undefined && { outcome: opts.outcome as AuditOutcome }),
              ...(opts.from !== undefined && { from: parseTime(opts.from, '--from') }),
              ...(opts.to !== undefined && { to: parseTime(opts.to, '--to') }),
              limit,
            },
            who,
            await consoleNameRights(who.actor),
          );
          print(events, opts, renderEvents);
        } finally {
          await ctx.store.close();
        }
      }),
    );
}

function renderVerification(r: AuditVerification): string {
  const checkpoints = `${r.checkpoints.checked} checkpoint(s) in ${r.checkpoints.file} compared` + (r.expectedHead ? `, and the expected head ${r.expectedHead.seq}` : '');
  const invalid = r.checkpoints.invalidLines.length > 0 ? `\ncheckpoint file lines that are not valid checkpoints (edited or forged): ${r.checkpoints.invalidLines.join(', ')}` : '';
  const head = r.head === null ? '' : `\nhead ${r.head.seq}:${r.head.hash}`;
  if (r.ok) {
    return r.head === null
      ? `audit trail intact: no entries yet; ${checkpoints}`
      : `audit trail intact: ${r.count} entries; ${checkpoints}${head}\nRecord the head outside this database and check it later with --expect-head: a log that no longer holds it was cut off or rewritten.`;
  }
  const breaks = r.breaks.map((b) => `  entry ${b.seq}: ${b.problem}`).join('\n');
  const more = r.breakCount > r.breaks.length ? `\n  … ${r.breakCount - r.breaks.length} more` : '';
  return r.breakCount === 0
    ? `audit trail NOT TRUSTED: the chain verifies, but the checkpoint file was tampered with; ${checkpoints}${invalid}${head}`
    : `audit trail BROKEN: ${r.breakCount} break(s); the ${r.count} entries before the first verify; ${checkpoints}\n${breaks}${more}${invalid}${head}`;
}

function renderEvents(events: LabelledAuditEvent[]): string {
  if (events.length === 0) return 'no matching audit entries';
  const patient = (e: LabelledAuditEvent) => (e.patient ? `${e.patient.name} (${e.patient.birthDate ?? 'no date of birth'})` : (e.patientRef?.slice(0, 12) ?? '-'));
  return events.map((e) => [e.seq, e.time, e.user?.username ?? e.actor, e.client ?? '-', e.action, e.outcome, patient(e), JSON.stringify(e.details)].join('  ')).join('\n');
}
