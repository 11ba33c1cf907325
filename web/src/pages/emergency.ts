import type { BreakGlassCandidates, Candidate } from '../../../src/server/contract.js';
import { api, candidateCount } from '../api.js';
import { readFile } from '../camera.js';
import { field, h, say, status, table } from '../dom.js';
import { navigate } from '../navigation.js';

const MIN_REASON_CHARS = 10;

/**
 * Emergency identification of a patient who cannot say who they are: a photo, the closest enrolled patients
 * with their grades (break-glass identification: possible ones included), then break-glass access with a
 * reason (recorded and reviewed).
 */
export async function renderEmergency(main: HTMLElement): Promise<void> {
  const message = status();
  const candidates = h('div', {});
  const reasonSlot = h('div', {});
  const photo = h('input', { name: 'photo', type: 'file', accept: 'image/*', capture: 'environment', required: true });
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'emergency-title' },
    h('h1', { id: 'emergency-title' }, 'Emergency identification'),
    h('p', {}, 'Take or choose a photo of the patient’s face. The closest enrolled patients are listed with their grade: “possible” is a weak match, check it before you rely on it.'),
    field('Photo of the patient', photo),
    h('button', { type: 'submit' }, 'Identify'),
    message,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const file = photo.files?.[0];
    if (!file) return;
    say(message, 'Identifying…');
    candidates.replaceChildren();
    reasonSlot.replaceChildren();
    void (async () => {
      try {
        const image = await readFile(file);
        const result = await api<BreakGlassCandidates>('POST', '/api/v1/break-glass/identify', { image, top: 5 });
        if (result.candidates.length === 0) {
          say(message, 'No enrolled patient matches this photo.', 'error');
          return;
        }
        say(message, `${candidateCount(result.candidates)}. Choose one to open the record.`, 'ok');
        candidates.replaceChildren(
          table(
            ['Patient', 'Grade', 'Score', ''],
            result.candidates.map((c, i) => [
              `Candidate ${i + 1}`,
              h('span', { class: 'grade' }, c.grade),
              c.score.toFixed(3),
              h('button', { type: 'button', onclick: () => askReason(c) }, `Open record of candidate ${i + 1}`),
            ]),
            'Candidates, best first',
          ),
        );
      } catch (e) {
        say(message, (e as Error).message, 'error');
      }
    })();
  });

  const askReason = (candidate: Candidate): void => {
    const reasonMessage = status();
    const reason = h('textarea', { name: 'reason', rows: 3, required: true, minlength: MIN_REASON_CHARS, maxlength: 1000 });
    const reasonForm = h(
      'form',
      { class: 'card', 'aria-labelledby': 'reason-title' },
      h('h2', { id: 'reason-title' }, 'Break the glass'),
      h('p', {}, `Candidate graded “${candidate.grade}”. Opening this record is recorded with your reason and reviewed by the privacy officer.`),
      field('Reason for emergency access', reason, `At least ${MIN_REASON_CHARS} characters.`),
      h('button', { type: 'submit', class: 'danger' }, 'Open the record'),
      reasonMessage,
    );
    reasonForm.addEventListener('submit', (event) => {
      event.preventDefault();
      api('POST', '/api/v1/break-glass', { patientId: candidate.patientId, reason: reason.value.trim() }).then(
        () => navigate(`/chart/${candidate.patientId}`),
        (e: unknown) => say(reasonMessage, (e as Error).message, 'error'),
      );
    });
    reasonSlot.replaceChildren(reasonForm);
    reason.focus();
  };

  main.append(form, candidates, reasonSlot);
}
