import type { Command } from 'commander';
import type { TemplateMigrationResult, TemplateStatus } from '../services/operations/template-migration.js';
import { action, print } from './output.js';
import { withMedface, withSessionOptions, type SessionOptions } from './session.js';

export function registerTemplates(program: Command): void {
  const templates = program.command('templates').description('Face templates across recognisers (safe while the server runs)');

  withSessionOptions(templates.command('status').description('Patients and templates per model, and how many wait to be moved to the current one')).action(
    action(async (opts: SessionOptions) => {
      const { templateStatus } = await import('../services/operations/template-migration.js');
      print(await withMedface(opts, (medface) => templateStatus(medface)), opts, renderStatus);
    }),
  );

  withSessionOptions(
    templates
      .command('migrate')
      .description('Re-derive every older model’s template from its kept photo with the current model; resumable')
      .option('--batch <n>', 'templates read per batch', (v) => Number(v)),
  ).action(
    action(async (opts: SessionOptions & { batch?: number }) => {
      const { migrateTemplates } = await import('../services/operations/template-migration.js');
      const options = opts.batch !== undefined ? { batchSize: opts.batch } : {};
      print(await withMedface(opts, (medface, who) => migrateTemplates(medface, who, options)), opts, renderMigration);
    }),
  );
}

function renderStatus(s: TemplateStatus): string {
  const lines = s.models.map(
    (m) =>
      `${m.model}${m.current ? ' (current)' : ''}: ${m.patients} patient(s), ${m.templates} template(s)` +
      (m.current ? '' : `; ${m.migratable} can be migrated from kept photos, ${m.awaitingEnrolment} patient(s) to enrol again`) +
      (m.unsearchable ? `; NOT SEARCHED by identification (${m.unsearchable === 'not-in-release' ? 'this release cannot run the model' : 'no calibrated thresholds'})` : ''),
  );
  return [`current model: ${s.model}`, ...(lines.length > 0 ? lines : ['no templates'])].join('\n');
}

function renderMigration(r: TemplateMigrationResult): string {
  return (
    `${r.migrated} template(s) re-derived with ${r.model}; ${r.refused} kept photo(s) refused by its enrolment gate; ` +
    `${r.withoutPhoto} older template(s) without a kept photo stay searchable with their own model until the patient is enrolled again.`
  );
}
