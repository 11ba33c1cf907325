import type { BiometricsErased, Chart, ConsentWithdrawn, Fhir, PinStatus, PortalNotices } from '../../../src/server/contract.js';
import { api, ApiError, patientName } from '../api.js';
import { field, h, noticeList, say, status, table } from '../dom.js';
import { navigate } from '../navigation.js';
import { session, signOut } from '../session.js';

/**
 * The patient portal: a patient's own record, read-only, in plain words; their consent to face recognition,
 * which they can withdraw; erasure of their face data; their PIN; the faces the clinic added to their record.
 * Signed in with face and date of birth, only their name, the notices and the PIN (the record needs the PIN).
 * Every request names the patient the session belongs to, and the server's policy refuses any other.
 */

const SIGNED_IN_WITH: Record<string, string> = {
  'face+birth-date': 'your face and your date of birth',
  'face+pin': 'your face and your PIN',
};

export async function renderPortal(main: HTMLElement): Promise<void> {
  const signedIn = await session();
  const patientId = signedIn?.user.patientId;
  if (!patientId) {
    navigate('/portal/sign-in');
    return;
  }
  main.classList.add('portal-page');
  const base = `/api/v1/patients/${encodeURIComponent(patientId)}`;
  if (signedIn.session.established.method === 'face+birth-date') {
    await renderLimited(main, base);
    return;
  }
  const [chart, { consents }, pin, { notices }] = await Promise.all([
    api<Chart>('GET', `${base}/chart`),
    api<{ consents: Fhir.Consent[] }>('GET', `${base}/consents`),
    api<PinStatus>('GET', '/api/v1/portal/pin'),
    api<PortalNotices>('GET', '/api/v1/portal/notices'),
  ]);
  const { patient, resources, identity } = chart;

  main.append(
    h(
      'section',
      { class: 'card portal', 'aria-labelledby': 'portal-title' },
      h('h1', { id: 'portal-title' }, 'Your health record'),
      h('p', { class: 'large' }, `Hello, ${patientName(patient)}. This is what the clinic has recorded about you. You can read it here; to correct something, please ask your care team.`),
      identity ? h('p', { class: 'banner', role: 'note', 'aria-label': 'How you signed in' }, `You signed in with ${SIGNED_IN_WITH[identity.method] ?? identity.method} at ${when(identity.at)}.`) : '',
      ...newNotices(notices),
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', onclick: () => void signOut().then(() => navigate('/portal/sign-in')) }, 'Sign out')),
    ),
    section('About you', aboutYou(patient)),
    section(
      'Your visits',
      rows(resources.Encounter, ['Date', 'Visit', 'Status'], (e) => [
        when(e.period?.start),
        concept(e.type?.[0]) || concept(e.reasonCode?.[0]) || VISIT_CLASS[String(e.class.code)] || 'Visit',
        ENCOUNTER_STATUS[e.status] ?? e.status,
      ]),
    ),
    section(
      'Your health conditions',
      rows(resources.Condition, ['Condition', 'Status', 'Since'], (c) => [concept(c.code) || 'Not named', plain(CONDITION_STATUS, concept(c.clinicalStatus)), day(c.onsetDateTime ?? c.recordedDate)]),
    ),
    section(
      'Your allergies',
      rows(resources.AllergyIntolerance, ['Allergic to', 'Reaction', 'Seriousness'], (a) => [
        concept(a.code) || 'Not named',
        (a.reaction ?? []).flatMap((r) => r.manifestation.map(concept)).join(', '),
        CRITICALITY[String(a.criticality)] ?? '',
      ]),
    ),
    section(
      'Your medicines',
      rows(resources.MedicationStatement, ['Medicine', 'How to take it', 'Status'], (m) => [
        concept(m.medicationCodeableConcept) || 'Not named',
        (m.dosage ?? [])
          .map((d) => d.text)
          .filter(Boolean)
          .join('; '),
        plain(MEDICATION_STATUS, m.status),
      ]),
    ),
    section(
      'Your test results and measurements',
      rows(resources.Observation, ['Test or measurement', 'Result', 'Date'], (o) => [concept(o.code) || 'Not named', observationValue(o), when(o.effectiveDateTime)]),
    ),
    section(
      'Notes from your care team',
      (resources.DocumentReference ?? []).length === 0
        ? h('p', {}, 'Nothing recorded.')
        : h('div', {}, ...(resources.DocumentReference ?? []).map((d) => h('article', { class: 'note' }, h('h3', {}, `${concept(d.type) || 'Note'} — ${when(d.date)}`), h('p', {}, noteText(d))))),
    ),
    consentSection(base, consents),
    pinSection(pin),
  );
}

/** Faces the clinic added to the record since the patient last opened the portal: told once, so a face that is not theirs is noticed. */
function newNotices(notices: PortalNotices['notices']): HTMLElement[] {
  return notices
    .filter((n) => n.new)
    .map((n) => h('p', { class: 'status large', 'data-kind': 'info', role: 'alert' }, `A face was added to your record on ${day(n.at)} by the clinic. If this was not you, please tell the clinic.`));
}

/**
 * A session signed in with face and date of birth: a photo of the face and a date others may know are not
 * enough to open the health record, so the page offers the PIN (set here, then used to sign in again) and
 * shows only who the patient is and what the clinic told them.
 */
async function renderLimited(main: HTMLElement, base: string): Promise<void> {
  const [chart, pin, { notices }] = await Promise.all([api<Chart>('GET', `${base}/chart`), api<PinStatus>('GET', '/api/v1/portal/pin'), api<PortalNotices>('GET', '/api/v1/portal/notices')]);
  main.append(
    h(
      'section',
      { class: 'card portal', 'aria-labelledby': 'portal-title' },
      h('h1', { id: 'portal-title' }, 'Your health record'),
      h('p', { class: 'large' }, `Hello, ${patientName(chart.patient)}.`),
      h('p', { class: 'banner', role: 'note', 'aria-label': 'How you signed in' }, `You signed in with ${SIGNED_IN_WITH['face+birth-date']}.`),
      h(
        'p',
        { class: 'status large', 'data-kind': 'info', role: 'note', 'aria-label': 'Your record needs a PIN' },
        'To see your health record, choose a PIN below, then sign in again with your face and your PIN. Others may know your date of birth, and a photo of your face is not enough to protect your record.',
      ),
      ...newNotices(notices),
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', onclick: () => void signOut().then(() => navigate('/portal/sign-in')) }, 'Sign out')),
    ),
    pinSection(pin, true),
  );
}

function section(title: string, ...content: (Node | string)[]): HTMLElement {
  const id = `portal-${title.toLowerCase().replace(/[^a-z]+/g, '-')}`;
  return h('section', { class: 'card portal', 'aria-labelledby': id }, h('h2', { id }, title), ...content);
}

function rows<R>(resources: readonly R[] = [], headers: string[], cells: (r: R) => string[]): HTMLElement {
  if (resources.length === 0) return h('p', {}, 'Nothing recorded.');
  return table(headers, resources.map(cells), `${resources.length} recorded`);
}

function aboutYou(patient: Chart['patient']): HTMLElement {
  const address = patient.address?.[0];
  const details: [string, string][] = [
    ['Name', patientName(patient)],
    ['Date of birth', patient.birthDate ? day(patient.birthDate) : 'Not recorded'],
    ['Gender', patient.gender ?? 'Not recorded'],
    [
      'Phone and email',
      (patient.telecom ?? [])
        .map((t) => t.value)
        .filter(Boolean)
        .join(', ') || 'Not recorded',
    ],
    ['Address', address ? (address.text ?? [...(address.line ?? []), address.city, address.postalCode].filter(Boolean).join(', ')) : 'Not recorded'],
    [
      'Your numbers at the clinic',
      (patient.identifier ?? [])
        .map((i) => i.value)
        .filter(Boolean)
        .join(', ') || 'None',
    ],
  ];
  return noticeList(undefined, details);
}

const ENCOUNTER_STATUS: Record<string, string> = {
  planned: 'Planned',
  arrived: 'You checked in',
  triaged: 'Seen by a nurse',
  'in-progress': 'In progress',
  onleave: 'On leave',
  finished: 'Finished',
  cancelled: 'Cancelled',
};

const VISIT_CLASS: Record<string, string> = { AMB: 'Clinic visit', EMER: 'Emergency', IMP: 'Hospital stay', VR: 'Video or phone visit', HH: 'Home visit' };

const CRITICALITY: Record<string, string> = { low: 'Low risk', high: 'High risk', 'unable-to-assess': 'Not known' };

const CONDITION_STATUS: Record<string, string> = {
  active: 'Current',
  recurrence: 'Came back',
  relapse: 'Came back',
  inactive: 'Not current',
  remission: 'In remission',
  resolved: 'Resolved',
};

const MEDICATION_STATUS: Record<string, string> = {
  active: 'Taking it now',
  completed: 'Finished',
  stopped: 'Stopped',
  'on-hold': 'Paused',
  intended: 'Planned',
  'not-taken': 'Not taken',
  unknown: 'Not known',
};

/** A code's plain-language words, or the code itself when there are none. */
function plain(words: Record<string, string>, code: string): string {
  return words[code] ?? code;
}

function concept(c: Fhir.CodeableConcept | undefined): string {
  return c?.text ?? c?.coding?.[0]?.display ?? c?.coding?.[0]?.code ?? '';
}

function observationValue(o: Fhir.ObservationValue & { component?: Fhir.ObservationComponent[] }): string {
  const quantity = o.valueQuantity;
  if (quantity) return [quantity.value, quantity.unit].filter((x) => x !== undefined).join(' ');
  if (typeof o.valueString === 'string') return o.valueString;
  if (o.valueCodeableConcept) return concept(o.valueCodeableConcept);
  if (typeof o.valueBoolean === 'boolean') return o.valueBoolean ? 'Yes' : 'No';
  if (typeof o.valueInteger === 'number') return String(o.valueInteger);
  // a panel (blood pressure): its parts' values, in order
  const parts = o.component ?? [];
  return parts.map(observationValue).filter(Boolean).join(' / ');
}

/** A note's text: one UTF-8 plain-text attachment in base64 (records/clinical-checks.ts). */
function noteText(d: Fhir.DocumentReference): string {
  const data = d.content[0]?.attachment.data;
  if (!data) return d.description ?? '';
  return new TextDecoder().decode(Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
}

function when(iso: string | undefined): string {
  return iso ? new Date(iso).toLocaleString(undefined, { dateStyle: 'long', timeStyle: iso.length > 10 ? 'short' : undefined }) : '';
}

function day(iso: string | undefined): string {
  if (!iso) return '';
  // a date without a time is that calendar day wherever the reader is: format it in UTC
  return /^\d{4}-\d{2}-\d{2}$/.test(iso) ? new Date(`${iso}T00:00:00Z`).toLocaleDateString(undefined, { dateStyle: 'long', timeZone: 'UTC' }) : iso.slice(0, 10);
}

/**
 * Consent to face recognition, and erasure of face data. Both delete the face data straight away; the
 * medical record itself stays, because clinics must keep it by law.
 */
function consentSection(base: string, consents: Fhir.Consent[]): HTMLElement {
  const active = consents.find((c) => c.status === 'active');
  const latest = consents.reduce<Fhir.Consent | undefined>((a, c) => (!a || (c.dateTime ?? '') > (a.dateTime ?? '') ? c : a), undefined);
  const message = status('status large');
  const state = active
    ? `You agreed on ${day(active.dateTime?.slice(0, 10))} that the clinic may recognise you by your face (privacy notice ${notice(active)}).`
    : latest
      ? `You have withdrawn your agreement${latest.provision?.period?.end ? ` (on ${day(latest.provision.period.end.slice(0, 10))})` : ''}. The clinic holds no face data of yours.`
      : 'You have not agreed to face recognition. The clinic holds no face data of yours.';

  const confirmStep = (question: string, explain: string[], confirm: string, run: () => Promise<string>): HTMLElement => {
    const box = h('div', { class: 'confirm', hidden: true, role: 'group', 'aria-label': question });
    const cancel = h('button', { type: 'button', class: 'secondary' }, 'Keep things as they are');
    const go = h('button', { type: 'button', class: 'danger' }, confirm);
    box.append(h('p', { class: 'large' }, h('strong', {}, question)), h('ul', {}, ...explain.map((t) => h('li', {}, t))), h('div', { class: 'actions' }, go, cancel));
    cancel.addEventListener('click', () => {
      box.hidden = true;
      (box.previousElementSibling as HTMLElement | null)?.focus();
    });
    go.addEventListener('click', () => {
      go.disabled = true;
      cancel.disabled = true;
      say(message, 'Working…');
      run().then(
        (done) => {
          say(message, done, 'ok');
          box.hidden = true;
        },
        (e: unknown) => {
          go.disabled = false;
          cancel.disabled = false;
          say(
            message,
            e instanceof ApiError && e.status === 404 ? 'There is nothing to withdraw: your agreement has already ended.' : 'That did not work. Please try again, or ask the front desk.',
            'error',
          );
        },
      );
    });
    return box;
  };

  const withdrawBox = confirmStep(
    'Withdraw your agreement to face recognition?',
    [
      'We delete the face data we use to recognise you, straight away. It cannot be undone.',
      'You will not be able to check in at the kiosk or sign in here with your face. To use them again, agree again at the front desk and have a new photo taken.',
      'Your medical record does not change, and your care does not depend on this choice.',
    ],
    'Yes, withdraw and delete my face data',
    async () => {
      const result = await api<ConsentWithdrawn>('DELETE', `${base}/consent`);
      stateLine.textContent = 'You have withdrawn your agreement. The clinic holds no face data of yours.';
      withdrawOpen.hidden = true;
      return `Done. Your agreement is withdrawn and your face data is deleted (${result.templatesRemoved} item${result.templatesRemoved === 1 ? '' : 's'}).`;
    },
  );
  const eraseBox = confirmStep(
    'Erase all your face data?',
    [
      'We delete every face template and photo of you that we hold, straight away, and your agreement to face recognition ends. It cannot be undone.',
      'What is kept: your medical record (clinics must keep it by law) and a log entry saying that the erasure happened. The log does not contain your face or your name.',
      'You will not be able to check in at the kiosk or sign in here with your face.',
    ],
    'Yes, erase my face data',
    async () => {
      const result = await api<BiometricsErased>('DELETE', `${base}/biometrics`);
      stateLine.textContent = 'Your face data has been erased. The clinic holds no face data of yours.';
      withdrawOpen.hidden = true;
      const removed = result.templatesRemoved + result.photosRemoved;
      return `Done. Your face data is erased (${removed} item${removed === 1 ? '' : 's'}).`;
    },
  );
  const stateLine = h('p', { class: 'large' }, state);
  const withdrawOpen = h('button', { type: 'button', hidden: !active, onclick: () => reveal(withdrawBox) }, 'Withdraw my agreement');
  const eraseOpen = h('button', { type: 'button', class: 'secondary', onclick: () => reveal(eraseBox) }, 'Erase my face data');
  return section(
    'Your face data',
    stateLine,
    noticeList(undefined, [
      ['What we keep', 'Numbers computed from photos of your face (a “template”), locked with a key. Not your photo, unless you agreed to keep one for checks by staff.'],
      ['What it is for', 'Recognising you at check-in and when you sign in here, so that your record is not mixed up with someone else’s.'],
      ['Who sees it', 'No one looks at it: the system compares it. Every use is written in a log that the privacy officer checks.'],
    ]),
    h('div', { class: 'actions' }, withdrawOpen),
    withdrawBox,
    h('div', { class: 'actions' }, eraseOpen),
    eraseBox,
    message,
  );
}

function reveal(box: HTMLElement): void {
  box.hidden = false;
  box.querySelector('button')?.focus();
}

function notice(consent: Fhir.Consent): string {
  const uri = consent.policy?.[0]?.uri ?? '';
  return uri.startsWith('urn:medface:notice:') ? uri.slice('urn:medface:notice:'.length) : uri || 'not named';
}

/**
 * Set or change the PIN: with a PIN, the date of birth no longer lets anyone sign in as the patient. Set in a
 * session signed in with the date of birth (`signInAgain`), it opens the record from the next sign-in.
 */
function pinSection(pin: PinStatus, signInAgain = false): HTMLElement {
  const message = status('status large');
  const current = h('input', { name: 'currentPin', type: 'password', inputmode: 'numeric', autocomplete: 'current-password', maxlength: 12 });
  const next = h('input', { name: 'newPin', type: 'password', inputmode: 'numeric', autocomplete: 'new-password', maxlength: 12 });
  const again = h('input', { name: 'repeatPin', type: 'password', inputmode: 'numeric', autocomplete: 'new-password', maxlength: 12 });
  const currentField = field('Your current PIN', current);
  const explain = h('p', { class: 'large' });
  const title = h('button', { type: 'submit' });
  const show = (hasPin: boolean) => {
    currentField.hidden = !hasPin;
    explain.textContent = hasPin
      ? 'You sign in with your face and your PIN. You can change your PIN here.'
      : 'You sign in with your face and your date of birth. If you choose a PIN, you will sign in with your face and the PIN instead — others may know your date of birth, but not your PIN.';
    title.textContent = hasPin ? 'Change my PIN' : 'Set my PIN';
  };
  show(pin.hasPin);
  const form = h(
    'form',
    { novalidate: true },
    explain,
    currentField,
    field('New PIN', next, '6 to 12 digits. Avoid your date of birth and easy numbers like 123456.'),
    field('New PIN again', again),
    h('div', { class: 'actions' }, title),
    message,
  );
  let hasPin = pin.hasPin;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!/^[0-9]{6,12}$/.test(next.value)) return fail('The new PIN must be 6 to 12 digits.', next);
    if (next.value !== again.value) return fail('The two new PINs are not the same.', again);
    if (hasPin && !/^[0-9]{6,12}$/.test(current.value)) return fail('Enter your current PIN.', current);
    title.disabled = true;
    say(message, 'Saving…');
    api<PinStatus>('PUT', '/api/v1/portal/pin', { newPin: next.value, ...(hasPin && { currentPin: current.value }) }).then(
      () => {
        if (signInAgain) {
          form.replaceChildren(
            h('p', { class: 'status large', 'data-kind': 'ok', role: 'status' }, 'Your PIN is set. Sign in again with your face and this PIN to see your health record.'),
            h('div', { class: 'actions' }, h('button', { type: 'button', class: 'big', onclick: () => void signOut().then(() => navigate('/portal/sign-in')) }, 'Sign in with my PIN')),
          );
          return;
        }
        say(message, hasPin ? 'Your PIN is changed. Use the new PIN next time you sign in.' : 'Your PIN is set. From now on, sign in with your face and this PIN.', 'ok');
        hasPin = true;
        for (const input of [current, next, again]) input.value = '';
        show(true);
        title.disabled = false;
      },
      (e: unknown) => {
        title.disabled = false;
        if (e instanceof ApiError && e.status === 429) fail('Too many wrong PINs. For your safety, please wait a while before you try again.', current);
        else if (e instanceof ApiError && e.code === 'VALIDATION_FAILED')
          fail(hasPin ? 'That did not work: check your current PIN, and choose a new PIN that is different.' : e.message, hasPin ? current : next);
        else fail('That did not work. Please try again in a moment.', next);
      },
    );
  });
  function fail(text: string, focus: HTMLInputElement): void {
    say(message, text, 'error');
    focus.focus();
  }
  return section('Your PIN', form);
}
