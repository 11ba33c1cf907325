import { upload } from './api.js';
import { say } from './dom.js';

/**
 * The wait after filming (issue 16: a bare "Checking…" for as long as 21 s on a busy server), in stages: the
 * video being sent, with how much of it has gone, then the server's checks — that a live person was filmed,
 * then who it is — with the seconds so far, so a person sees that something is happening. The server answers
 * once, so its two checks are shown as one stage with its parts named.
 */
export async function sendFilmed<T>(element: HTMLElement, path: string, body: unknown, checking: string): Promise<T> {
  const started = Date.now();
  let timer: ReturnType<typeof setInterval> | undefined;
  const checkingFor = () => say(element, `${checking} ${Math.round((Date.now() - started) / 1000)} s`);
  say(element, 'Sending the video… 0%');
  element.dataset.stage = 'sending';
  try {
    return await upload<T>('POST', path, body, (fraction) => {
      if (fraction < 1) {
        say(element, `Sending the video… ${Math.floor(fraction * 100)}%`);
        return;
      }
      if (timer !== undefined) return;
      element.dataset.stage = 'checking';
      checkingFor();
      timer = setInterval(checkingFor, 1000);
    });
  } finally {
    clearInterval(timer);
    delete element.dataset.stage;
  }
}
