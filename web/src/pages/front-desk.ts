import type { BiometricsErased, ConsentWithdrawn, DuplicateLink, EnrolResult, Fhir, IdentifyResult } from '../../../src/server/contract.js';
import { api, ApiError, candidateCount, labelOf, patientName, query } from '../api.js';
import { openCamera, readFile, type Camera } from '../camera.js';
import { field, formValues, h, noticeList, say, status, table } from '../dom.js';
import { qualityProblems } from '../quality.js';

/** The version of the privacy notice below, recorded with each consent: change it when the text changes. */
const NOTICE_VERSION = 'v1';

/**
 * Front desk: register a patient, show the privacy notice and record consent, enrol the face, identify a
 * patient by photo, withdraw a patient's consent or erase their face data on their word, correct a patient's
 * demographics, review duplicates.
 */
export async function renderFrontDesk(main: HTMLElement): Promise<() => void> {
  let camera: Camera | null = null;
  const flow = h('div', {});
  const duplicates = h('section', { class: 'card', 'aria-labelledby': 'duplicates-title' });

  const register = (): void => {
    const message = status();
    const form = h(
      'form',
      { class: 'card', 'aria-labelledby': 'register-title' },
      h('h1', { id: 'register-title' }, 'Register a patient'),
      h(
        'div',
        { class: 'row' },
        field('Given name', h('input', { name: 'given', required: true, autocomplete: 'off' })),
        field('Family name', h('input', { name: 'family', required: true, autocomplete: 'off' })),
        field('Date of birth', h('input', { name: 'birthDate', type: 'date', required: true })),
        field('Gender', h('select', { name: 'gender' }, ...['unknown', 'female', 'male', 'other'].map((g) => h('option', { value: g }, g)))),
        field('Medical record number', h('input', { name: 'mrn', autocomplete: 'off' }), 'Optional.'),
      ),
      h('button', { type: 'submit' }, 'Register'),
      message,
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const v = formValues(form);
      const patient = {
        resourceType: 'Patient',
        name: [{ family: v.family, given: [v.given] }],
        birthDate: v.birthDate,
        gender: v.gender,
        ...(v.mrn && { identifier: [{ system: 'urn:medface:mrn', value: v.mrn }] }),
      };
      api<Fhir.Patient>('POST', '/api/v1/patients', patient).then(consent, (e: unknown) => say(message, (e as Error).message, 'error'));
    });
    flow.replaceChildren(form);
  };

  const consent = (patient: Fhir.Patient): void => {
    const message = status();
    const agreed = h('input', { type: 'checkbox', name: 'agreed', id: 'consent-agreed', required: true });
    const form = h(
      'form',
      { class: 'card', 'aria-labelledby': 'consent-title' },
      h('h1', { id: 'consent-title' }, `Face recognition for ${patientName(patient)}`),
      h('p', {}, 'Read this to the patient, or let them read it, before they agree. Saying no changes nothing about their care.'),
      noticeList('Privacy notice', [
        ['What we keep', 'A face template: a list of numbers computed from your photo, encrypted. We do not keep the photo itself. The template cannot be turned back into a picture of you.'],
        ['What it is for', 'To find your record when you check in, or in an emergency when you cannot tell us who you are, so that you get the right care.'],
        ['How long', 'Until you withdraw your consent or ask us to delete it. Then it is deleted straight away.'],
        ['Who sees it', 'Nobody sees the template. The system compares it on our own servers; staff only see whether your face matched. Every use is recorded and checked by our privacy officer.'],
        ['How to withdraw', 'Tell the front desk at any time, or use the patient portal. You can still be identified in the usual way.'],
      ]),
      h('div', { class: 'actions' }, agreed, h('label', { for: 'consent-agreed' }, 'The patient has read this notice and agrees')),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Record consent'), h('button', { type: 'button', class: 'secondary', onclick: () => register() }, 'Patient declines')),
      message,
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      api('POST', `/api/v1/patients/${patient.id}/consent`, { notice: NOTICE_VERSION }).then(
        () => enrol(patient),
        (e: unknown) => say(message, (e as Error).message, 'error'),
      );
    });
    flow.replaceChildren(form);
  };

  /**
   * Enrol the patient's face: a first photo, then the offer of a second one. Two photos of a person taken on
   * different occasions about halve the misses of 1:N search among thousands of patients (docs/accuracy.md,
   * "Several images per person"); a second photo at the same visit is not measured and helps the more it
   * differs from the first, so the desk is asked to make it differ. The desk can finish with one.
   */
  const enrol = (patient: Fhir.Patient): void => {
    const who = patientName(patient);
    const message = status();
    const section = h('section', { class: 'card', 'aria-labelledby': 'enrol-title' });
    const send = async (image: string): Promise<void> => {
      say(message, 'Enrolling…');
      try {
        const result = await api<EnrolResult>('POST', `/api/v1/patients/${patient.id}/enrol`, { images: [image] });
        if (result.templateCount < 2 && result.limit >= 2) secondPhoto(result);
        else enrolled(result);
      } catch (e) {
        say(message, `Not enrolled. ${enrolmentRefusal(e)}`, 'error');
        void loadDuplicates();
      }
    };

    /** A step taking one photo, by the camera (`open` opens it, `capture` takes the photo) or by upload. */
    const photoStep = (title: string, advice: HTMLElement[], labels: { open: string; capture: string; upload: string; finish: string }): void => {
      const upload = h('input', { type: 'file', accept: 'image/*', name: 'photo' });
      const cameraSlot = h('div', {});
      const preview = (shown: Camera): void => {
        const capture = h('button', { type: 'button', onclick: () => void shown.capture().then(send) }, labels.capture);
        cameraSlot.replaceChildren(shown.element, capture);
        capture.focus();
      };
      const open = async (): Promise<void> => {
        try {
          camera ??= await openCamera('Camera preview for enrolment');
          preview(camera);
        } catch {
          say(message, 'The camera is not available: upload a photo instead.', 'error');
        }
      };
      upload.addEventListener('change', () => {
        const file = upload.files?.[0];
        if (file) void readFile(file).then(send);
      });
      section.replaceChildren(
        h('h1', { id: 'enrol-title' }, title),
        ...advice,
        h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => void open() }, labels.open)),
        cameraSlot,
        field(labels.upload, upload),
        message,
        h('button', { type: 'button', class: 'secondary', onclick: () => register() }, labels.finish),
      );
      // the camera stays open from the first photo: its preview is shown again at once
      if (camera) preview(camera);
    };

    const secondPhoto = (result: EnrolResult): void => {
      photoStep(
        `Add a second photo of ${who}`,
        [
          h('p', {}, `A second photo makes ${who} easier to find among everyone enrolled, and the more it differs from the first, the more it helps.`),
          h('p', {}, 'Ask the patient to turn their head slightly, or take the photo a moment later. One photo is enough if the patient cannot wait: choose Done.'),
        ],
        { open: 'Take a second photo', capture: 'Capture the second photo', upload: 'Or upload a second photo', finish: 'Done' },
      );
      say(message, `First photo enrolled: ${templates(result)}.`, 'ok');
    };

    const enrolled = (result: EnrolResult): void => {
      const next = h('button', { type: 'button', onclick: () => register() }, 'Next patient');
      section.replaceChildren(h('h1', { id: 'enrol-title' }, `Face of ${who} enrolled`), message, next);
      say(message, `Enrolled: ${templates(result)}, one per photo.`, 'ok');
      next.focus();
    };

    photoStep(`Enrol the face of ${who}`, [h('p', {}, 'One person, facing the camera, in good light, without sunglasses. The server tells you if the photo is not good enough.')], {
      open: 'Use the camera',
      capture: 'Capture and enrol',
      upload: 'Or upload a photo',
      finish: 'Next patient',
    });
    flow.replaceChildren(section);
  };

  const loadDuplicates = async (): Promise<void> => {
    const { duplicates: links } = await api<{ duplicates: DuplicateLink[] }>('GET', '/api/v1/duplicates?status=pending');
    duplicates.replaceChildren(
      h('h2', { id: 'duplicates-title' }, 'Possible duplicate patients'),
      table(
        ['Patient', 'Other patient', 'Grade', 'Decision'],
        links.map((l) => [
          h('a', { href: `/chart/${l.patientId}` }, labelOf(l.patient, l.patientId)),
          h('a', { href: `/chart/${l.otherPatientId}` }, labelOf(l.otherPatient, l.otherPatientId)),
          l.grade,
          reviewForm(l, loadDuplicates),
        ]),
        `${links.length} pending`,
        'No pairs to review.',
      ),
    );
  };

  register();
  main.append(flow, identifyByPhoto(), consentAndFaceData(), editDemographics(), duplicates);
  await loadDuplicates();
  return () => camera?.stop();
}

/** The patient's stored templates against the limit, in words. */
function templates(result: EnrolResult): string {
  return `${result.templateCount} of ${result.limit} face template${result.limit === 1 ? '' : 's'} stored`;
}

/** Why an enrolment was refused, in words: a refused photo's quality reasons (web/src/quality.ts), a duplicate, or the server's message. */
function enrolmentRefusal(e: unknown): string {
  if (!(e instanceof ApiError)) return 'The server cannot be reached: try again.';
  if (/DUPLICATE/.test(e.code)) return 'This face matches another patient: the pair is now in the duplicate-review queue below.';
  if (e.code === 'FACE_MISMATCH') {
    return 'This is not the face already enrolled for this patient. If their face has changed, ask the privacy officer to erase the enrolled face first, then enrol again.';
  }
  const reasons = Array.isArray(e.details.reasons) ? (e.details.reasons as string[]) : [];
  if (['QUALITY_REJECTED', 'NO_FACE', 'MULTIPLE_FACES'].includes(e.code) && reasons.length > 0) {
    const problems = qualityProblems(reasons);
    return `The photo cannot be used: ${problems}. Take another one.`;
  }
  return e.message;
}

/**
 * Identify by photo (1:N) for staff the policy allows it: the candidates at or above the threshold, best
 * first, with their grade; the server audits every search. Nothing below the threshold is shown.
 */
function identifyByPhoto(): HTMLElement {
  const message = status();
  const results = h('div', {});
  const upload = h('input', { type: 'file', accept: 'image/*', name: 'photo' });
  const search = async (image: string): Promise<void> => {
    say(message, 'Searching…');
    results.replaceChildren();
    try {
      const { candidates } = await api<IdentifyResult>('POST', '/api/v1/identify', { image, top: 5 });
      if (candidates.length === 0) {
        say(message, 'No enrolled patient matches this photo. Find the patient by name instead.', 'error');
        return;
      }
      const found = await Promise.all(candidates.map(async (c) => ({ ...c, patient: await api<Fhir.Patient>('GET', `/api/v1/patients/${c.patientId}`) })));
      say(message, `${candidateCount(candidates)}. Best first: confirm who it is by asking the patient.`, 'ok');
      results.replaceChildren(
        table(
          ['Candidate', 'Name', 'Date of birth', 'Grade', 'Score'],
          found.map((c, i) => [String(i + 1), patientName(c.patient), c.patient.birthDate ?? '', c.grade, c.score.toFixed(3)]),
          'Candidates',
        ),
      );
    } catch (e) {
      say(
        message,
        e instanceof ApiError && ['QUALITY_REJECTED', 'NO_FACE', 'MULTIPLE_FACES'].includes(e.code)
          ? `The photo cannot be used: ${qualityProblems((e.details.reasons as string[] | undefined) ?? [])}.`
          : (e as Error).message,
        'error',
      );
    }
  };
  upload.addEventListener('change', () => {
    const file = upload.files?.[0];
    if (file) void readFile(file).then(search);
  });
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'identify-title' },
    h('h2', { id: 'identify-title' }, 'Identify a patient by photo'),
    h('p', {}, 'Only patients who agreed to face recognition can be found. Every search is recorded.'),
    field('Photo to identify', upload),
    message,
    results,
  );
}

/**
 * A search for the patient to act on by the start of a name: the form, and on submit the patients found (at
 * most 20) in `slot`, `actions(patient)` in each row's last column; how many were found, or what went wrong, in
 * `message`.
 */
function patientFinder(labelledBy: string, label: string, submit: string, message: HTMLElement, slot: HTMLElement, actions: (patient: Fhir.Patient) => HTMLElement): HTMLFormElement {
  const find = h(
    'form',
    { role: 'search', 'aria-labelledby': labelledBy },
    h(
      'div',
      { class: 'row' },
      field(label, h('input', { name: 'name', required: true, autocomplete: 'off' }), 'The start of the family or given name.'),
      h('div', { class: 'field' }, h('button', { type: 'submit' }, submit)),
    ),
  );
  find.addEventListener('submit', (event) => {
    event.preventDefault();
    api<{ patients: Fhir.Patient[] }>('GET', `/api/v1/patients${query({ name: formValues(find).name, limit: '20' })}`).then(
      ({ patients }) => {
        say(message, `${patients.length} patient${patients.length === 1 ? '' : 's'} found.`, patients.length ? 'ok' : 'error');
        slot.replaceChildren(
          table(
            ['Name', 'Date of birth', ''],
            patients.map((p) => [patientName(p), p.birthDate ?? '', actions(p)]),
            'Patients',
          ),
        );
      },
      (e: unknown) => say(message, (e as Error).message, 'error'),
    );
  });
  return find;
}

/**
 * What the privacy notice promises ("tell the front desk"): find the patient, then withdraw their consent to
 * face recognition or erase their face data, each after a confirmation and with a reason for the audit trail.
 */
function consentAndFaceData(): HTMLElement {
  const message = status();
  const slot = h('div', {});
  const confirm = (patient: Fhir.Patient, action: 'withdraw' | 'erase'): void => {
    const who = patientName(patient);
    const reason = h('textarea', { name: 'reason', required: true, maxlength: 500, rows: 2 });
    const text =
      action === 'withdraw'
        ? `Withdraw ${who}’s consent to face recognition? Their face templates and photos are deleted at once; they can agree again later.`
        : `Erase all face data of ${who}? Every face template and photo is deleted at once and consent ends. The medical record stays.`;
    const form = h(
      'form',
      { class: 'banner warning', 'aria-label': action === 'withdraw' ? 'Confirm the withdrawal' : 'Confirm the erasure' },
      h('p', {}, text),
      field('Reason (kept in the audit trail)', reason, 'E.g. “patient asked at the front desk”.'),
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'submit', class: 'danger' }, action === 'withdraw' ? `Yes, withdraw consent of ${who}` : `Yes, erase face data of ${who}`),
        h('button', { type: 'button', class: 'secondary', onclick: () => slot.replaceChildren() }, 'Cancel'),
      ),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const body = { reason: reason.value.trim() };
      const done = (removed: ConsentWithdrawn | BiometricsErased) => {
        const deleted = `${removed.templatesRemoved} face template${removed.templatesRemoved === 1 ? '' : 's'} and ${removed.photosRemoved} photo${removed.photosRemoved === 1 ? '' : 's'} deleted`;
        say(message, action === 'withdraw' ? `Consent of ${who} withdrawn: ${deleted}.` : `Face data of ${who} erased: ${deleted}.`, 'ok');
        slot.replaceChildren();
      };
      const request =
        action === 'withdraw' ? api<ConsentWithdrawn>('DELETE', `/api/v1/patients/${patient.id}/consent`, body) : api<BiometricsErased>('DELETE', `/api/v1/patients/${patient.id}/biometrics`, body);
      request.then(done, (e: unknown) => say(message, e instanceof ApiError && e.status === 404 && action === 'withdraw' ? `${who} has no consent to withdraw.` : (e as Error).message, 'error'));
    });
    slot.replaceChildren(form);
    reason.focus();
  };

  const find = patientFinder('privacy-request-title', 'Patient name for a privacy request', 'Find patient', message, slot, (p) =>
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', onclick: () => confirm(p, 'withdraw') }, `Withdraw consent of ${patientName(p)}`),
      h('button', { type: 'button', class: 'danger', onclick: () => confirm(p, 'erase') }, `Erase face data of ${patientName(p)}`),
    ),
  );

  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'privacy-request-title' },
    h('h2', { id: 'privacy-request-title' }, 'Consent and face data'),
    h('p', {}, 'When a patient withdraws their consent or asks for their face data to be erased, do it here.'),
    find,
    slot,
    message,
  );
}

function reviewForm(link: DuplicateLink, reload: () => Promise<void>): HTMLElement {
  const reason = h('input', { name: 'reason', maxlength: 1000, 'aria-label': 'Why these are two people (to reject)' });
  const decide = (decision: 'confirmed' | 'rejected') =>
    api('POST', `/api/v1/duplicates/${link.id}/review`, { decision, ...(reason.value.trim() && { reason: reason.value.trim() }) }).then(
      () => void reload(),
      (e: unknown) => form.append(h('span', { class: 'status', 'data-kind': 'error' }, (e as Error).message)),
    );
  const form = h(
    'div',
    { class: 'actions' },
    h('button', { type: 'button', onclick: () => void decide('confirmed') }, 'Same person'),
    reason,
    h('button', { type: 'button', class: 'secondary', onclick: () => void decide('rejected') }, 'Two people'),
  );
  return form;
}

/**
 * Correcting a registered patient's name, date of birth or gender: find the patient, edit, save. The save
 * names the version that was read (If-Match), so an edit made meanwhile by someone else is not overwritten.
 */
function editDemographics(): HTMLElement {
  const section = h('section', { class: 'card', 'aria-labelledby': 'edit-title' });
  const message = status();
  const slot = h('div', {});
  const find = patientFinder('edit-title', 'Patient name to correct', 'Find', message, slot, (p) =>
    h('button', { type: 'button', class: 'secondary', onclick: () => void edit(p.id ?? '') }, `Edit ${patientName(p)}`),
  );
  const edit = async (patientId: string): Promise<void> => {
    const patient = await api<Fhir.Patient>('GET', `/api/v1/patients/${patientId}`);
    const name = patient.name?.[0] ?? {};
    const form = h(
      'form',
      { 'aria-labelledby': 'edit-form-title' },
      h('h3', { id: 'edit-form-title' }, `Demographics of ${patientName(patient)}`),
      h(
        'div',
        { class: 'row' },
        field('Corrected given name', h('input', { name: 'given', required: true, value: (name.given ?? []).join(' '), autocomplete: 'off' })),
        field('Corrected family name', h('input', { name: 'family', required: true, value: name.family ?? '', autocomplete: 'off' })),
        field('Corrected date of birth', h('input', { name: 'birthDate', type: 'date', value: patient.birthDate ?? '' })),
        field('Corrected gender', h('select', { name: 'gender' }, ...['unknown', 'female', 'male', 'other'].map((g) => h('option', { value: g, selected: g === (patient.gender ?? 'unknown') }, g)))),
      ),
      h('button', { type: 'submit' }, 'Save demographics'),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const v = formValues(form);
      const { given: _given, family: _family, text: _text, ...restOfName } = name;
      const { birthDate: _birthDate, ...withoutBirthDate } = patient;
      const updated = {
        ...withoutBirthDate,
        name: [{ ...restOfName, family: v.family, given: (v.given ?? '').split(/\s+/).filter(Boolean) }, ...(patient.name ?? []).slice(1)],
        gender: v.gender,
        ...(v.birthDate ? { birthDate: v.birthDate } : {}),
      };
      api<Fhir.Patient>('PUT', `/api/v1/patients/${patientId}`, updated, { 'if-match': `W/"${patient.meta?.versionId ?? ''}"` }).then(
        (saved) => {
          say(message, `Saved: ${patientName(saved)}.`, 'ok');
          slot.replaceChildren();
        },
        (e: unknown) =>
          say(
            message,
            e instanceof ApiError && e.status === 412 ? 'Someone else changed this patient since you opened it: find the patient again and redo your correction.' : (e as Error).message,
            'error',
          ),
      );
    });
    slot.replaceChildren(form);
    form.querySelector('input')?.focus();
  };

  section.append(h('h2', { id: 'edit-title' }, 'Correct a patient’s demographics'), find, slot, message);
  return section;
}
