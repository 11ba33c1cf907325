import { api, ApiError } from '../api.js';
import { openCamera, type Camera } from '../camera.js';
import { field, h, say, status } from '../dom.js';
import { runLivenessCheck, watchQuality } from '../liveness.js';

const RESET_SECONDS = 15;
const SEE_FRONT_DESK = 'Please see the front desk';

/**
 * Kiosk check-in: the date of birth, then the camera (a preview with a face guide and live advice), then the
 * liveness step (a few head movements asked for in plain words), sent together to the server's check-in
 * route, which checks that a live face did them, identifies it, compares the date of birth and opens the
 * Encounter. The date of birth comes first because a liveness challenge is valid for seconds only. The page
 * never learns who matched: an unknown face, a failed liveness check and a wrong date of birth all give the
 * same "please see the front desk". The camera runs only while someone is checking in.
 */
export async function renderKiosk(main: HTMLElement): Promise<() => void> {
  main.classList.add('kiosk');
  let camera: Camera | null = null;
  let stopQuality: (() => void) | null = null;
  let resetTimer: number | undefined;
  const screen = h('section', { class: 'card kiosk-screen', 'aria-labelledby': 'kiosk-title' });
  main.append(screen);

  const stopCamera = (): void => {
    stopQuality?.();
    stopQuality = null;
    camera?.stop();
    camera = null;
  };

  const start = (): void => {
    window.clearTimeout(resetTimer);
    stopCamera();
    const begin = h('button', { type: 'button', class: 'big', onclick: () => askBirthDate() }, 'Start check-in');
    screen.replaceChildren(h('h1', { id: 'kiosk-title' }, 'Check in'), h('p', { class: 'lead' }, 'Welcome. Check in for your visit here: it takes under a minute.'), begin);
    begin.focus();
  };

  const askBirthDate = (): void => {
    const input = h('input', { name: 'birthDate', type: 'date', required: true, max: new Date().toISOString().slice(0, 10) });
    const form = h(
      'form',
      {},
      field('Your date of birth', input, 'We check it together with your face.'),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'big' }, 'Next'), h('button', { type: 'button', class: 'secondary', onclick: () => start() }, 'Cancel')),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void showCamera(input.value);
    });
    screen.replaceChildren(h('h1', { id: 'kiosk-title' }, 'Check in'), form);
    input.focus();
  };

  const showCamera = async (birthDate: string): Promise<void> => {
    const advice = status('status large');
    const ready = h('button', { type: 'button', class: 'big', disabled: true }, 'I’m ready');
    screen.replaceChildren(
      h('h1', { id: 'kiosk-title' }, 'Look at the camera'),
      h('p', { class: 'lead' }, 'Put your face inside the oval. When you press “I’m ready”, we ask you to move your head a little.'),
      advice,
    );
    try {
      camera = await openCamera('Camera preview');
    } catch {
      finish(false, 'The camera is not available. Please see the front desk.');
      return;
    }
    screen.insertBefore(camera.element, advice);
    const cancel = h('button', { type: 'button', class: 'secondary', onclick: () => start() }, 'Cancel');
    screen.append(ready, cancel);
    stopQuality = watchQuality(camera, (text, ok) => say(advice, text, ok ? 'ok' : 'info'));
    ready.disabled = false;
    ready.focus();
    ready.addEventListener('click', () => {
      ready.remove();
      cancel.remove();
      void check(birthDate, advice);
    });
  };

  const check = async (birthDate: string, prompt: HTMLElement): Promise<void> => {
    stopQuality?.();
    stopQuality = null;
    prompt.classList.add('liveness-prompt');
    (screen.querySelector('h1') as HTMLElement).textContent = 'Follow the instructions';
    (screen.querySelector('.lead') as HTMLElement).textContent = 'Do each movement when it is asked, slowly, then look back at the camera.';
    try {
      const filmed = await runLivenessCheck(camera as Camera, 'check-in', (text) => say(prompt, text));
      say(prompt, 'Checking…');
      const result = await api<{ checkedIn: boolean; message: string; notices?: { kind: 'face-added'; at: string }[] }>('POST', '/api/v1/check-in', { ...filmed, birthDate });
      finish(result.checkedIn, result.message, result.notices ?? []);
    } catch (e) {
      finish(false, e instanceof ApiError && e.status === 429 ? 'Too many attempts. Please see the front desk.' : SEE_FRONT_DESK);
    }
  };

  const finish = (checkedIn: boolean, text: string, notices: readonly { at: string }[] = []): void => {
    stopCamera();
    screen.replaceChildren(
      h('h1', { id: 'kiosk-title', class: checkedIn ? 'result ok' : 'result' }, text),
      h('p', { class: 'lead' }, checkedIn ? 'Please take a seat; you will be called.' : 'A member of staff will help you.'),
      // a face added to the record since the last visit: the patient is told, in case it was not theirs
      ...notices.map((n) =>
        h('p', { class: 'status large', 'data-kind': 'info', role: 'note' }, `A face was added to your record on ${new Date(n.at).toLocaleDateString()} by the clinic. If this was not you, please tell the front desk.`),
      ),
      h('button', { type: 'button', class: 'big', onclick: () => start() }, 'Done'),
    );
    (screen.querySelector('button') as HTMLButtonElement).focus();
    resetTimer = window.setTimeout(() => start(), RESET_SECONDS * 1000);
  };

  start();
  return () => {
    window.clearTimeout(resetTimer);
    stopCamera();
    main.classList.remove('kiosk');
  };
}
