import type { AuditEvents, AuditVerification, BreakGlassGrant, GrantList } from '../../../src/server/contract.js';
import { api, labelOf, query } from '../api.js';
import { field, formValues, h, say, status, table } from '../dom.js';

/** The privacy officer: the break-glass review queue, audit search, and verification of the audit chain. */
export async function renderPrivacy(main: HTMLElement): Promise<void> {
  const queue = h('section', { class: 'card', 'aria-labelledby': 'queue-title' });
  const loadQueue = async (): Promise<void> => {
    const { grants } = await api<GrantList>('GET', '/api/v1/break-glass/grants?status=pending');
    queue.replaceChildren(
      h('h1', { id: 'queue-title' }, 'Break-glass accesses to review'),
      table(
        ['Granted', 'User', 'Patient', 'Reason', 'Review'],
        grants.map((g) => [new Date(g.grantedAt).toLocaleString(), g.user?.username ?? g.userId, labelOf(g.patient, g.patientId), g.reason, reviewForm(g, loadQueue)]),
        `${grants.length} pending`,
        'Nothing to review.',
      ),
    );
  };

  const verifyMessage = status();
  const verify = h(
    'section',
    { class: 'card', 'aria-labelledby': 'verify-title' },
    h('h2', { id: 'verify-title' }, 'Audit chain'),
    h('p', {}, 'Checks that no audit entry was removed or altered since it was written.'),
    h(
      'button',
      {
        type: 'button',
        onclick: () => {
          say(verifyMessage, 'Verifying…');
          api<AuditVerification>('GET', '/api/v1/audit/verify').then(
            (r) =>
              r.ok
                ? say(
                    verifyMessage,
                    `Intact: ${r.count} entries, matching ${r.checkpoints.checked} keyed checkpoint(s). Head ${r.head?.seq ?? 0}:${r.head?.hash ?? ''} — record it elsewhere to compare later.`,
                    'ok',
                  )
                : r.breakCount === 0
                  ? say(verifyMessage, `Not trusted: the checkpoint file was edited (lines ${r.checkpoints.invalidLines.join(', ')}).`, 'error')
                  : say(verifyMessage, `Broken: ${r.breakCount} break(s): ${r.breaks.map((b) => `#${b.seq} ${b.problem}`).join(', ')}.`, 'error'),
            (e: unknown) => say(verifyMessage, (e as Error).message, 'error'),
          );
        },
      },
      'Verify the audit chain',
    ),
    verifyMessage,
  );

  const searchMessage = status();
  const results = h('div', {});
  const search = h(
    'form',
    { class: 'card', role: 'search', 'aria-labelledby': 'audit-title' },
    h('h2', { id: 'audit-title' }, 'Audit search'),
    h(
      'div',
      { class: 'row' },
      field('Patient name', h('input', { name: 'patientName', autocomplete: 'off' }), 'Words of the name: entries about every patient found.'),
      field('Username', h('input', { name: 'userName', autocomplete: 'off' }), 'Or its start: entries by every account found.'),
      field('Patient id', h('input', { name: 'patientId' })),
      field('Actor id', h('input', { name: 'actor' }), 'An account, API client or cli: id, as the entries record it.'),
      field('Action', h('input', { name: 'action' }), 'e.g. breakglass.open'),
      field('Outcome', h('select', { name: 'outcome' }, h('option', { value: '' }, 'any'), h('option', {}, 'success'), h('option', {}, 'failure'), h('option', {}, 'denied'))),
      field('From', h('input', { name: 'from', type: 'datetime-local' })),
      field('To', h('input', { name: 'to', type: 'datetime-local' })),
    ),
    h('button', { type: 'submit' }, 'Search'),
    searchMessage,
  );
  search.addEventListener('submit', (event) => {
    event.preventDefault();
    const v = formValues(search);
    const iso = (local: string | undefined) => (local ? new Date(local).toISOString() : undefined);
    api<AuditEvents>('GET', `/api/v1/audit/events${query({ ...v, from: iso(v.from), to: iso(v.to), limit: '200' })}`).then(
      ({ events }) => {
        say(searchMessage, `${events.length} entr${events.length === 1 ? 'y' : 'ies'}.`, 'ok');
        results.replaceChildren(
          table(
            ['#', 'Time', 'Actor', 'Action', 'Outcome', 'Patient'],
            // the log keeps patients as pseudonyms: a name shows when the search named the patient
            events.map((e) => [String(e.seq), new Date(e.time).toLocaleString(), e.user?.username ?? e.actor, e.action, e.outcome, e.patient ? labelOf(e.patient, '') : (e.patientRef ?? '')]),
            'Audit entries',
          ),
        );
      },
      (e: unknown) => say(searchMessage, (e as Error).message, 'error'),
    );
  });

  main.append(queue, verify, search, results);
  await loadQueue();
}

function reviewForm(grant: BreakGlassGrant, reload: () => Promise<void>): HTMLElement {
  const note = h('input', { name: 'note', required: true, maxlength: 2000, 'aria-label': `Finding for the access to ${labelOf(grant.patient, grant.patientId)}` });
  const form = h('form', { class: 'actions' }, note, h('button', { type: 'submit' }, 'Close review'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    api('POST', `/api/v1/break-glass/grants/${grant.id}/review`, { note: note.value.trim() }).then(
      () => void reload(),
      (e: unknown) => form.append(h('span', { class: 'status', 'data-kind': 'error' }, (e as Error).message)),
    );
  });
  return form;
}
