import { api } from '../api.js';
import { h, noticeList, table } from '../dom.js';
import type { TemplateStatus } from '../../../src/server/contract.js';

type ModelStatus = TemplateStatus['models'][number];

/** What identification does with a model's templates, in words. */
function searched(m: ModelStatus): string {
  if (m.unsearchable === 'not-in-release') return 'not searched: this release cannot run the model';
  if (m.unsearchable === 'not-calibrated') return 'not searched: the model has no calibrated thresholds';
  return m.current ? 'searched' : 'searched with its own model';
}

/**
 * Administrator: the patients' face templates per recogniser. After the recogniser changes, the older model's
 * templates are re-derived from kept photos by `medface templates migrate` on the server (a long, resumable run,
 * so it is not started from a browser) and the rest wait for the patient's next enrolment.
 */
export async function renderAdminTemplates(main: HTMLElement): Promise<void> {
  const { model, models } = await api<TemplateStatus>('GET', '/api/v1/admin/templates');
  const pending = models.filter((m) => m.migrationPending).reduce((n, m) => n + m.migratable, 0);
  const waiting = models.filter((m) => !m.current).reduce((n, m) => n + m.awaitingEnrolment, 0);
  const unsearchable = models.filter((m) => m.unsearchable !== null);
  main.append(
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'templates-title' },
      h('h1', { id: 'templates-title' }, 'Face templates by recogniser'),
      noticeList('Template summary', [
        ['Current recogniser', h('code', {}, model)],
        ['Migration', pending > 0 ? `pending: ${pending} template(s) can be re-derived from kept photos` : 'nothing to migrate'],
        ['Patients to enrol again', String(waiting)],
      ]),
      table(
        ['Recogniser', 'Role', 'Patients', 'Templates', 'Migratable from kept photos', 'Patients to enrol again', 'Identification'],
        models.map((m) => [
          h('code', {}, m.model),
          m.current ? 'current' : 'older',
          String(m.patients),
          String(m.templates),
          m.current ? '—' : String(m.migratable),
          m.current ? '—' : String(m.awaitingEnrolment),
          searched(m),
        ]),
        'Templates and patients per recogniser',
        'No templates yet.',
      ),
      pending > 0 && h('p', { role: 'status' }, 'Run ', h('code', {}, 'medface templates migrate'), ' on the server to move them (safe while the server runs; it can be stopped and run again).'),
      unsearchable.length > 0 && h('p', { role: 'alert' }, `Patients enrolled only with ${unsearchable.map((m) => m.model).join(', ')} cannot be found by face: migrate them or enrol them again.`),
      h('p', {}, 'Patients without a kept photo are moved to the current recogniser when they are next enrolled.'),
    ),
  );
}
