import type { TelemedicineLink, TelemedicineVerified } from '../../../src/server/contract.js';
import { api, ApiError } from '../api.js';
import { h } from '../dom.js';
import { captureFace, photoProblem } from '../face-step.js';
import { sendFilmed } from '../waiting.js';

/**
 * The telemedicine check: the patient opens the link their care provider sent (the check id in the URL's
 * fragment, which the browser never sends to a server), looks at the camera, and learns only whether they
 * are verified. The provider reads the result through the API. No sign-in: the link is the proof.
 */

export const VERIFIED = 'You’re verified — return to your visit';

export async function renderTelemedicine(main: HTMLElement): Promise<() => void> {
  const stop = new AbortController();
  const screen = h('section', { class: 'card portal kiosk-screen', 'aria-labelledby': 'telemedicine-title' });
  main.append(screen);
  const checkId = decodeURIComponent(location.hash.slice(1));

  const end = (title: string, text: string, ok = false): void => {
    screen.replaceChildren(h('h1', { id: 'telemedicine-title', class: ok ? 'result ok' : 'result' }, title), h('p', { class: 'lead' }, text));
    (screen.querySelector('h1') as HTMLElement).setAttribute('tabindex', '-1');
    (screen.querySelector('h1') as HTMLElement).focus();
  };
  const verified = () => end(VERIFIED, 'Thank you. Your care provider can now see that you are verified. You can close this page.', true);
  const refused = (e: unknown): void => {
    const code = e instanceof ApiError ? e.code : '';
    if (code === 'CHECK_EXPIRED') end('This link has expired', 'Please ask your care provider for a new link.');
    else if (code === 'CHECK_USED') end('This link has already been used', 'Each link works once. If you still need to verify, ask your care provider for a new link.');
    else if (code === 'NOT_FOUND' || code === 'VALIDATION_FAILED')
      end('This link does not work', 'Check that you opened the whole link from your invitation, or ask your care provider for a new one.');
    else if (e instanceof ApiError && e.status === 429) end('Too many attempts', 'For your safety, please wait a few minutes, then open the link again.');
    else end('Something went wrong', 'Please open the link again in a moment. If it keeps failing, contact your care provider.');
  };

  const attempt = async (notice?: string): Promise<void> => {
    const step = h('div', {});
    screen.replaceChildren(
      h('h1', { id: 'telemedicine-title' }, 'Check your identity before your visit'),
      notice ? h('p', { class: 'status', 'data-kind': 'error', role: 'alert' }, notice) : '',
      step,
    );
    const capture = await captureFace(
      step,
      {
        purpose: 'telemedicine',
        instructions: 'We compare your face with the photo your clinic has on file. Look at the camera with your face inside the oval, then press “Verify me”.',
        button: 'Verify me',
      },
      stop.signal,
    );
    if (!capture) return;
    const waiting = h('p', { class: 'status large', role: 'status' });
    screen.append(waiting);
    try {
      const result = await sendFilmed<TelemedicineVerified>(waiting, '/api/v1/telemedicine/verify', { ...capture.fields, checkId }, 'Checking that you are here in person, then comparing your face…');
      if (result.match) verified();
      else if (result.attemptsLeft > 0) {
        await attempt(
          `We could not confirm that it is you. Face the camera in good light, without glasses or a mask if you can, and try again. You can try ${result.attemptsLeft} more time${result.attemptsLeft === 1 ? '' : 's'}.`,
        );
      } else end('We could not verify you', 'Your care provider will check your identity with you at the start of your visit.');
    } catch (e) {
      const problem = e instanceof ApiError ? photoProblem(e.code) : null;
      if (problem) await attempt(e instanceof ApiError && e.code === 'LIVENESS_FAILED' && capture.notSeen ? `${capture.notSeen} ${problem}` : problem);
      else refused(e);
    }
  };

  if (!/^[A-Za-z0-9_-]{16,1024}$/.test(checkId)) {
    end('This link does not work', 'Check that you opened the whole link from your invitation, or ask your care provider for a new one.');
  } else {
    try {
      const link = await api<TelemedicineLink>('GET', `/api/v1/telemedicine/link/${encodeURIComponent(checkId)}`);
      if (link.state === 'verified') verified();
      else if (link.state === 'expired') refused(new ApiError(410, 'CHECK_EXPIRED', ''));
      else if (link.state === 'spent') end('This link can no longer be used', 'Your care provider will check your identity with you at the start of your visit.');
      else void attempt();
    } catch (e) {
      refused(e);
    }
  }
  // another link opened in the same tab changes only the fragment: start again with it
  const reopen = () => location.reload();
  window.addEventListener('hashchange', reopen);
  return () => {
    stop.abort();
    window.removeEventListener('hashchange', reopen);
  };
}
