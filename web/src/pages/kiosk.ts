import type { CheckInResult, KioskDevice } from '../../../src/server/contract.js';
import { api, ApiError } from '../api.js';
import { openCamera, type Camera } from '../camera.js';
import { field, h, say, status } from '../dom.js';
import { notSeenInWords, runLivenessCheck, watchQuality } from '../liveness.js';
import { sendFilmed } from '../waiting.js';

const RESET_SECONDS = 15;
const SEE_FRONT_DESK = 'Please see the front desk';
/** How often the start screen checks that the server is there and the kiosk still registered. */
const HEARTBEAT_MS = 30_000;
/** How often an unavailable kiosk tries again. */
const RETRY_MS = 5_000;

/** What this browser is: a paired kiosk, a revoked one, or no kiosk. */
export function kioskDevice(): Promise<KioskDevice> {
  return api<KioskDevice>('GET', '/api/v1/kiosk/device');
}

/**
 * The kiosk device's only screen (no staff sign-in, no menu, no links: main.ts shows it for every address on a
 * paired kiosk). Check-in: the date of birth, then the camera (a preview with a face guide and live advice),
 * then the liveness step (a few head movements asked for in plain words), sent together to the server's
 * check-in route, which checks that a live face did them, identifies it, compares the date of birth and opens
 * the Encounter. The date of birth comes first because a liveness challenge is valid for seconds only. The
 * page never learns who matched: an unknown face, a failed liveness check and a wrong date of birth all give
 * the same "please see the front desk". The camera runs only while someone is checking in. When the server
 * cannot be reached (a restart, a network drop) the kiosk says so in plain words and tries again by itself;
 * a revoked kiosk says to see the front desk.
 */
export async function renderKiosk(main: HTMLElement): Promise<() => void> {
  main.classList.add('kiosk');
  let camera: Camera | null = null;
  let stopQuality: (() => void) | null = null;
  let timer: number | undefined;
  const screen = h('section', { class: 'card kiosk-screen', 'aria-labelledby': 'kiosk-title' });
  main.append(screen);

  const stopCamera = (): void => {
    stopQuality?.();
    stopQuality = null;
    camera?.stop();
    camera = null;
  };
  const later = (ms: number, then: () => void): void => {
    window.clearTimeout(timer);
    timer = window.setTimeout(then, ms);
  };

  /** Asks the server whether this kiosk may check in; shows the start screen, or why not. */
  const reconnect = async (): Promise<void> => {
    try {
      const device = await kioskDevice();
      if (device.state === 'paired') start();
      else notRegistered();
    } catch {
      unavailable();
    }
  };

  const start = (): void => {
    stopCamera();
    const begin = h('button', { type: 'button', class: 'big', onclick: () => askBirthDate() }, 'Start check-in');
    screen.replaceChildren(h('h1', { id: 'kiosk-title' }, 'Check in'), h('p', { class: 'lead' }, 'Welcome. Check in for your visit here: it takes under a minute.'), begin);
    begin.focus();
    later(HEARTBEAT_MS, () => void reconnect());
  };

  const unavailable = (): void => {
    stopCamera();
    screen.replaceChildren(
      h('h1', { id: 'kiosk-title', class: 'result' }, 'Check-in is not available right now'),
      h('p', { class: 'lead' }, `${SEE_FRONT_DESK}, or wait a moment: this screen tries again by itself.`),
      h('p', { class: 'status', role: 'status', 'data-kind': 'info' }, 'Reconnecting…'),
    );
    later(RETRY_MS, () => void reconnect());
  };

  const notRegistered = (): void => {
    stopCamera();
    window.clearTimeout(timer);
    screen.replaceChildren(h('h1', { id: 'kiosk-title', class: 'result' }, 'This kiosk is not in service'), h('p', { class: 'lead' }, `${SEE_FRONT_DESK}.`));
  };

  const askBirthDate = (): void => {
    window.clearTimeout(timer);
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
    // a date of birth left half-typed is not left on the screen for the next patient
    later(RESET_SECONDS * 4 * 1000, () => start());
  };

  const showCamera = async (birthDate: string): Promise<void> => {
    window.clearTimeout(timer);
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
      // the movements asked, and which of them the server has seen, while filming
      const steps = h('div', { class: 'liveness-progress' });
      prompt.after(steps);
      const { sent, unseen } = await runLivenessCheck(camera as Camera, 'check-in', { prompt: (text) => say(prompt, text), steps });
      const result = await sendFilmed<CheckInResult>(prompt, '/api/v1/check-in', { ...sent, birthDate }, 'Checking that you are here in person, then finding your appointment…');
      finish(result.checkedIn, result.message, result.notices ?? [], result.checkedIn ? '' : notSeenInWords(unseen));
    } catch (e) {
      if (!(e instanceof ApiError) || e.status >= 500) unavailable();
      else if (e.status === 401) notRegistered();
      else finish(false, e.status === 429 ? 'Too many attempts. Please see the front desk.' : SEE_FRONT_DESK);
    }
  };

  /** `notSeen`: the movements the camera did not see, in words, when the check-in failed. */
  const finish = (checkedIn: boolean, text: string, notices: readonly { at: string }[] = [], notSeen = ''): void => {
    stopCamera();
    screen.replaceChildren(
      h('h1', { id: 'kiosk-title', class: checkedIn ? 'result ok' : 'result' }, text),
      notSeen ? h('p', { class: 'status large', 'data-kind': 'error', role: 'note' }, notSeen) : '',
      h('p', { class: 'lead' }, checkedIn ? 'Please take a seat; you will be called.' : 'A member of staff will help you.'),
      // a face added to the record since the last visit: the patient is told, in case it was not theirs
      ...notices.map((n) =>
        h(
          'p',
          { class: 'status large', 'data-kind': 'info', role: 'note' },
          `A face was added to your record on ${new Date(n.at).toLocaleDateString()} by the clinic. If this was not you, please tell the front desk.`,
        ),
      ),
      h('button', { type: 'button', class: 'big', onclick: () => start() }, 'Done'),
    );
    (screen.querySelector('button') as HTMLButtonElement).focus();
    later(RESET_SECONDS * 1000, () => start());
  };

  const offline = (): void => unavailable();
  const online = (): void => void reconnect();
  window.addEventListener('offline', offline);
  window.addEventListener('online', online);
  await reconnect();
  return () => {
    window.clearTimeout(timer);
    window.removeEventListener('offline', offline);
    window.removeEventListener('online', online);
    stopCamera();
    main.classList.remove('kiosk');
  };
}

/**
 * Pairing this browser as a kiosk: the administrator's link carries a one-time code in its fragment (never
 * sent to a server in a URL); the server exchanges it for the http-only device cookie.
 */
export async function renderKioskPairing(main: HTMLElement): Promise<void> {
  main.classList.add('kiosk');
  const code = decodeURIComponent(location.hash.slice(1));
  history.replaceState(null, '', location.pathname);
  const screen = h('section', { class: 'card kiosk-screen', 'aria-labelledby': 'kiosk-title' });
  main.append(screen);
  try {
    if (!code) throw new ApiError(400, 'NO_CODE', 'no code');
    const device = await api<KioskDevice>('POST', '/api/v1/kiosk/pair', { code });
    screen.replaceChildren(
      h('h1', { id: 'kiosk-title', class: 'result ok' }, `This browser is now the kiosk “${device.name ?? ''}”`),
      h('p', { class: 'lead' }, 'It shows check-in only. Set the browser to open this page in full screen when it starts.'),
      h('button', { type: 'button', class: 'big', onclick: () => location.assign('/kiosk') }, 'Open check-in'),
    );
  } catch (e) {
    screen.replaceChildren(
      h('h1', { id: 'kiosk-title', class: 'result' }, 'This pairing link does not work'),
      h(
        'p',
        { class: 'lead' },
        e instanceof ApiError
          ? 'It was used already, has expired, or the kiosk was revoked. Ask an administrator for a new link (Admin → Kiosks).'
          : 'The server cannot be reached: check the network, then open the link again.',
      ),
    );
  }
}
