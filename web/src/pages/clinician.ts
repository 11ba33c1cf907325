import type { Chart, Fhir } from '../../../src/server/contract.js';
import { api, patientName, query } from '../api.js';
import { field, formValues, h, noticeList, say, status, table } from '../dom.js';

/** Patient search: name prefix and/or date of birth. */
export async function renderClinician(main: HTMLElement, params: URLSearchParams): Promise<void> {
  const message = status();
  const results = h('div', {});
  const form = h(
    'form',
    { class: 'card', role: 'search', 'aria-labelledby': 'search-title' },
    h('h1', { id: 'search-title' }, 'Find a patient'),
    h(
      'div',
      { class: 'row' },
      field('Name', h('input', { name: 'name', value: params.get('name') ?? '', autocomplete: 'off' }), 'The start of the family or given name.'),
      field('Date of birth', h('input', { name: 'birthDate', type: 'date', value: params.get('birthDate') ?? '' })),
      h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Search')),
    ),
    message,
  );
  const search = async (values: Record<string, string>): Promise<void> => {
    if (!values.name && !values.birthDate) {
      say(message, 'Enter a name or a date of birth.', 'error');
      return;
    }
    say(message, 'Searching…');
    try {
      const { patients } = await api<{ patients: Fhir.Patient[] }>('GET', `/api/v1/patients${query({ name: values.name, birthDate: values.birthDate, limit: '50' })}`);
      say(message, `${patients.length} patient${patients.length === 1 ? '' : 's'} found.`, 'ok');
      results.replaceChildren(
        table(
          ['Name', 'Date of birth', 'Gender', ''],
          patients.map((p) => [patientName(p), p.birthDate ?? '', p.gender ?? '', h('a', { href: `/chart/${p.id}` }, `Open chart of ${patientName(p)}`)]),
          'Patients',
        ),
      );
    } catch (e) {
      say(message, (e as Error).message, 'error');
    }
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const values = formValues(form);
    history.replaceState(null, '', `/clinician${query({ name: values.name, birthDate: values.birthDate })}`);
    void search(values);
  });
  main.append(form, results);
  if (params.get('name') || params.get('birthDate')) await search({ name: params.get('name') ?? '', birthDate: params.get('birthDate') ?? '' });
}

const METHODS: Record<string, string> = {
  'password+totp': 'password and authenticator code',
  face: 'face recognition',
};

/** The chart: demographics and the FHIR resources the viewer may see, under the identity-verification banner. */
export async function renderChart(main: HTMLElement, _params: URLSearchParams, path: string): Promise<void> {
  const patientId = decodeURIComponent(path.slice('/chart/'.length));
  const chart = await api<Chart>('GET', `/api/v1/patients/${encodeURIComponent(patientId)}/chart`);
  const { patient, identity, breakGlass } = chart;
  const established = identity
    ? `Your identity for this session was verified by ${METHODS[identity.method] ?? identity.method} at ${new Date(identity.at).toLocaleString()}` +
      (identity.matchGrade ? ` (match: ${identity.matchGrade})` : '') +
      '.'
    : 'Your identity for this session has not been verified.';
  main.append(
    h('div', { class: identity ? 'banner' : 'banner warning', role: 'note', 'aria-label': 'Identity verification' }, established),
    breakGlass
      ? h(
          'div',
          { class: 'banner warning', role: 'alert' },
          `Emergency (break-glass) access: this view is recorded and will be reviewed. It ends at ${new Date(breakGlass.expiresAt).toLocaleString()}.`,
        )
      : '',
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'chart-title' },
      h('h1', { id: 'chart-title' }, patientName(patient)),
      noticeList(undefined, [
        ['Date of birth', patient.birthDate ?? 'not recorded'],
        ['Gender', patient.gender ?? 'not recorded'],
        ['Identifiers', (patient.identifier ?? []).map((i) => i.value).join(', ') || 'none'],
      ]),
    ),
  );
  const types = Object.entries(chart.resources).flatMap(([type, resources]): [string, Fhir.ClinicalResource[]][] => (resources ? [[type, resources]] : []));
  if (types.length === 0) main.append(h('p', {}, 'Your role does not show clinical resources.'));
  for (const [type, resources] of types) {
    main.append(
      h(
        'section',
        { class: 'card', 'aria-label': type },
        table(
          ['Resource', 'Status', 'Summary', 'Details'],
          resources.map((r) => [r.id ?? '', statusOf(r), summary(r), h('details', {}, h('summary', {}, 'FHIR JSON'), h('pre', {}, JSON.stringify(r, null, 2)))]),
          `${type} (${resources.length})`,
        ),
      ),
    );
  }
}

/** A resource's status, or a condition's or allergy's clinical status (its code). */
function statusOf(resource: Fhir.ClinicalResource): string {
  return 'status' in resource ? resource.status : (resource.clinicalStatus?.coding?.[0]?.code ?? '');
}

function summary(resource: Fhir.ClinicalResource): string {
  const code = 'code' in resource ? resource.code : undefined;
  const text = code?.text ?? code?.coding?.[0]?.display;
  const when =
    ('period' in resource ? resource.period?.start : undefined) ??
    ('effectiveDateTime' in resource ? resource.effectiveDateTime : undefined) ??
    ('recordedDate' in resource ? resource.recordedDate : undefined);
  return [text, when && new Date(when).toLocaleString()].filter(Boolean).join(' — ');
}
