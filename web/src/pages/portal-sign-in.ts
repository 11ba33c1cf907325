import type { SignedIn } from '../../../src/server/contract.js';
import { ApiError, waitOf } from '../api.js';
import { field, h, say, status } from '../dom.js';
import { captureFace, photoProblem, type FaceCapture } from '../face-step.js';
import { navigate } from '../navigation.js';
import { session, setSession } from '../session.js';
import { sendFilmed } from '../waiting.js';

/**
 * Patient sign-in: a photo of the face, then the date of birth or the PIN, sent together. Whatever went
 * wrong, the page says the same thing (the server tells it no more): it never reveals whose face it saw.
 */
export async function renderPortalSignIn(main: HTMLElement, params: URLSearchParams): Promise<() => void> {
  const next = params.get('next')?.startsWith('/portal') ? (params.get('next') as string) : '/portal';
  if ((await session())?.user.patientId) {
    navigate(next);
    return () => undefined;
  }
  const stop = new AbortController();
  const screen = h('section', { class: 'card portal', 'aria-labelledby': 'portal-sign-in-title' });
  main.append(screen);

  const photo = async (notice?: string): Promise<void> => {
    const step = h('div', {});
    screen.replaceChildren(
      h('h1', { id: 'portal-sign-in-title' }, 'Sign in to your health record'),
      params.get('idle') ? h('p', { class: 'status', 'data-kind': 'info' }, 'You were signed out because the page was not used for a while.') : '',
      notice ? h('p', { class: 'status', 'data-kind': 'error', role: 'alert' }, notice) : '',
      h('p', { class: 'large' }, 'You sign in with your face and your date of birth — or your PIN, if you chose one.'),
      step,
    );
    const capture = await captureFace(
      step,
      { purpose: 'portal-sign-in', instructions: 'Look at the camera with your face inside the oval, then press “Take my photo”.', button: 'Take my photo' },
      stop.signal,
    );
    if (capture) secondFactor(capture);
  };

  const secondFactor = (capture: FaceCapture): void => {
    const message = status('status large');
    const birthDate = h('input', { name: 'birthDate', type: 'date', max: new Date().toISOString().slice(0, 10), autocomplete: 'bday' });
    const pin = h('input', { name: 'pin', type: 'password', inputmode: 'numeric', pattern: '[0-9]{6,12}', autocomplete: 'off', maxlength: 12 });
    const byPin = h('input', { type: 'radio', name: 'factor', value: 'pin', id: 'factor-pin' });
    const byDate = h('input', { type: 'radio', name: 'factor', value: 'birth-date', id: 'factor-birth-date', checked: true });
    const dateField = field('Your date of birth', birthDate);
    const pinField = field('Your PIN', pin, '6 to 12 digits.');
    pinField.hidden = true;
    const choose = () => {
      dateField.hidden = byPin.checked;
      pinField.hidden = !byPin.checked;
    };
    byPin.addEventListener('change', choose);
    byDate.addEventListener('change', choose);
    const submit = h('button', { type: 'submit', class: 'big' }, 'Sign in');
    const form = h(
      'form',
      { novalidate: true },
      h(
        'fieldset',
        { class: 'choice' },
        h('legend', {}, 'Your second check'),
        h('div', {}, byDate, h('label', { for: byDate.id }, 'My date of birth')),
        h('div', {}, byPin, h('label', { for: byPin.id }, 'My PIN')),
      ),
      dateField,
      pinField,
      h('div', { class: 'actions' }, submit, h('button', { type: 'button', class: 'secondary', onclick: () => void photo() }, 'Take a new photo')),
      message,
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const usePin = byPin.checked;
      const value = usePin ? pin.value.trim() : birthDate.value;
      if (usePin ? !/^[0-9]{6,12}$/.test(value) : !/^\d{4}-\d{2}-\d{2}$/.test(value)) {
        say(message, usePin ? 'Enter your PIN: 6 to 12 digits.' : 'Enter your full date of birth.', 'error');
        (usePin ? pin : birthDate).focus();
        return;
      }
      submit.disabled = true;
      sendFilmed<SignedIn>(
        message,
        '/api/v1/auth/patient-sign-in',
        { ...capture.fields, ...(usePin ? { pin: value } : { birthDate: value }) },
        'Checking that you are here in person, then who you are…',
      ).then(
        (signedIn) => {
          setSession(signedIn);
          navigate(next);
        },
        (e: unknown) => {
          submit.disabled = false;
          const problem = e instanceof ApiError ? photoProblem(e.code) : null;
          if (problem) {
            // the movements the camera did not see come first: then the filming, not the date or PIN, is what to retry
            void photo(e instanceof ApiError && e.code === 'LIVENESS_FAILED' && capture.notSeen ? `${capture.notSeen} ${problem}` : problem);
            return;
          }
          say(message, failure(e), 'error');
        },
      );
    });
    screen.replaceChildren(h('h1', { id: 'portal-sign-in-title' }, 'One more step'), h('p', { class: 'large' }, 'Your photo is ready. Now tell us your date of birth or your PIN.'), form);
    birthDate.focus();
  };

  void photo();
  return () => stop.abort();
}

function failure(e: unknown): string {
  if (e instanceof ApiError && e.status === 429) {
    const wait = waitOf(e);
    return `Too many attempts. For your safety, please wait ${wait ?? 'a while'} before you try again.`;
  }
  if (e instanceof ApiError && e.code === 'SIGN_IN_FAILED') {
    return 'We could not sign you in. Check your date of birth or PIN (if you chose a PIN, you need it), or take a new photo. If it keeps failing, please ask the front desk.';
  }
  return 'Something went wrong. Please try again in a moment.';
}
