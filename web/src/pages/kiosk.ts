import { api, ApiError } from '../api.js';
import { brightness, openCamera, TOO_DARK, type Camera } from '../camera.js';
import { field, h, say, status } from '../dom.js';

const RESET_SECONDS = 15;

/**
 * Kiosk check-in: the face, then the date of birth, sent together to the server's check-in route, which
 * opens the Encounter. The page never learns who matched: an unknown face and a wrong date of birth give the
 * same "please see the front desk".
 */
export async function renderKiosk(main: HTMLElement): Promise<() => void> {
  main.classList.add('kiosk');
  let camera: Camera | null = null;
  let resetTimer: number | undefined;
  const screen = h('section', { class: 'card kiosk-screen', 'aria-labelledby': 'kiosk-title' });
  main.append(screen);

  const start = async (): Promise<void> => {
    window.clearTimeout(resetTimer);
    const feedback = status('status large');
    const capture = h('button', { type: 'button', class: 'big', disabled: true }, 'Take my photo');
    screen.replaceChildren(
      h('h1', { id: 'kiosk-title' }, 'Check in'),
      h('p', { class: 'lead' }, 'Look at the camera with your face inside the oval, then press “Take my photo”.'),
      feedback,
    );
    try {
      camera ??= await openCamera('Camera preview');
    } catch {
      say(feedback, 'The camera is not available. Please see the front desk.', 'error');
      return;
    }
    screen.insertBefore(camera.element, feedback);
    screen.append(capture);
    capture.disabled = false;
    capture.focus();
    capture.addEventListener('click', () => {
      capture.disabled = true;
      void (camera as Camera).capture().then(async (image) => {
        if ((await brightness(image)) < TOO_DARK) {
          say(feedback, 'It is too dark to see your face. Move into the light and try again.', 'error');
          capture.disabled = false;
          return;
        }
        askBirthDate(image);
      });
    });
  };

  const askBirthDate = (image: string): void => {
    const message = status('status large');
    const input = h('input', { name: 'birthDate', type: 'date', required: true, max: new Date().toISOString().slice(0, 10) });
    const form = h(
      'form',
      {},
      field('Your date of birth', input, 'We check it together with your photo.'),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'big' }, 'Check in'), h('button', { type: 'button', class: 'secondary', onclick: () => void start() }, 'Start again')),
      message,
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      say(message, 'Checking…');
      for (const button of form.querySelectorAll('button')) button.disabled = true;
      api<{ checkedIn: boolean; message: string }>('POST', '/api/v1/check-in', { image, birthDate: input.value }).then(
        (result) => finish(result.checkedIn, result.message),
        (e: unknown) => finish(false, e instanceof ApiError && e.status === 429 ? 'Too many attempts. Please see the front desk.' : 'Please see the front desk'),
      );
    });
    screen.replaceChildren(h('h1', { id: 'kiosk-title' }, 'One more step'), form);
    input.focus();
  };

  const finish = (checkedIn: boolean, text: string): void => {
    screen.replaceChildren(
      h('h1', { id: 'kiosk-title', class: checkedIn ? 'result ok' : 'result' }, text),
      h('p', { class: 'lead' }, checkedIn ? 'Please take a seat; you will be called.' : 'A member of staff will help you.'),
      h('button', { type: 'button', class: 'big', onclick: () => void start() }, 'Done'),
    );
    (screen.querySelector('button') as HTMLButtonElement).focus();
    resetTimer = window.setTimeout(() => void start(), RESET_SECONDS * 1000);
  };

  await start();
  return () => {
    window.clearTimeout(resetTimer);
    camera?.stop();
    main.classList.remove('kiosk');
  };
}
