import type { SignedIn } from '../../../src/server/contract.js';
import { api, ApiError } from '../api.js';
import { openCamera, type Camera } from '../camera.js';
import { field, formValues, h, say, status } from '../dom.js';
import { runLivenessCheck } from '../liveness.js';
import { navigate } from '../navigation.js';
import { enrolmentQr } from '../qr.js';
import { setSession } from '../session.js';

type SecondFactor = 'totp' | 'face';

/**
 * Staff sign-in: the password and a second factor, the code from the authenticator app or the staff
 * member's own enrolled face: the active liveness check filmed with the camera (a few movements asked in
 * plain words; a photo is not enough), its face compared with their own face only. A first sign-in, or one
 * after an administrator's reset, sets a new password.
 */
export async function renderSignIn(main: HTMLElement, params: URLSearchParams): Promise<() => void> {
  const message = status();
  let camera: Camera | null = null;
  let factor: SecondFactor = 'totp';
  const newPassword = field(
    'New password',
    h('input', { name: 'newPassword', type: 'password', autocomplete: 'new-password', minlength: 12 }),
    'Your password was set by an administrator: choose your own.',
  );
  newPassword.hidden = true;
  const codeInput = h('input', { name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6,8}', required: true });
  const code = field('Authenticator code', codeInput, 'The 6-digit code from your authenticator app.');
  const cameraSlot = h('div', { hidden: true });
  /** The otpauth link of the user's own authenticator, at the first sign-in after an administrator's reset. */
  const enrolment = h('div', { class: 'banner warning', role: 'alert', hidden: true });
  // sent without a code, the first sign-in answers with the user's own authenticator enrolment
  const firstSignIn = h(
    'button',
    {
      type: 'button',
      class: 'secondary',
      onclick: () => {
        codeInput.required = false;
        codeInput.value = '';
        form.requestSubmit();
        codeInput.required = factor === 'totp';
      },
    },
    'First sign-in: set up my authenticator',
  );

  const choose = async (chosen: SecondFactor): Promise<void> => {
    factor = chosen;
    code.hidden = chosen !== 'totp';
    codeInput.required = chosen === 'totp';
    cameraSlot.hidden = chosen !== 'face';
    if (chosen === 'face' && !camera) {
      try {
        camera = await openCamera('Camera preview for signing in with your face');
        cameraSlot.replaceChildren(h('p', {}, 'Press “Sign in”, then follow the instructions on the screen: your face is compared with your own enrolled face only.'), camera.element);
      } catch {
        say(message, 'The camera is not available: sign in with your authenticator code.', 'error');
      }
    }
  };
  const option = (value: SecondFactor, label: string) =>
    h(
      'div',
      {},
      h('input', { type: 'radio', name: 'factor', id: `factor-${value}`, value, checked: value === 'totp', onchange: () => void choose(value) }),
      h('label', { for: `factor-${value}` }, label),
    );

  const form = h(
    'form',
    { class: 'card narrow', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'Staff sign-in'),
    params.get('idle') ? h('p', { class: 'status', 'data-kind': 'info' }, 'You were signed out after a period without activity.') : null,
    field('Username', h('input', { name: 'username', autocomplete: 'username', required: true })),
    field('Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    h('fieldset', { class: 'choice' }, h('legend', {}, 'Second factor'), option('totp', 'Authenticator app'), option('face', 'My face')),
    code,
    enrolment,
    cameraSlot,
    newPassword,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Sign in'), firstSignIn),
    message,
  );
  // the movements of a face sign-in's liveness check, seen and awaited
  const steps = h('div', { class: 'liveness-progress' });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const values = formValues(form);
    const common = { username: values.username, password: values.password, ...(!newPassword.hidden && { newPassword: values.newPassword }) };
    say(message, 'Signing in…');
    void (async () => {
      try {
        let signedIn: SignedIn;
        if (factor === 'face') {
          if (!camera) throw new ApiError(400, 'NO_CAMERA', 'The camera is not available: sign in with your authenticator code.');
          if (!steps.isConnected) message.after(steps);
          const { sent } = await runLivenessCheck(camera, 'staff-sign-in', { prompt: (prompt) => say(message, prompt), steps });
          say(message, 'Signing in…');
          signedIn = await api<SignedIn>('POST', '/api/v1/auth/face-sign-in', { ...common, ...sent });
        } else {
          signedIn = await api<SignedIn>('POST', '/api/v1/auth/sign-in', { ...common, code: values.code });
        }
        setSession(signedIn);
        const next = params.get('next');
        navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/');
      } catch (e) {
        if (e instanceof ApiError && e.code === 'TOTP_ENROLMENT_REQUIRED') {
          // first sign-in after an administrator's reset: the user enrols their own authenticator
          enrolment.replaceChildren(
            h('p', {}, 'Add this account to your authenticator app (scan the code, or paste the link), then enter its code with a new password:'),
            h('code', {}, String(e.details.totpUri ?? '')),
            enrolmentQr(String(e.details.totpUri ?? '')),
          );
          enrolment.hidden = false;
          newPassword.hidden = false;
          newPassword.querySelector('input')?.setAttribute('required', '');
          // not an error: the password was right, and this is the account's first sign-in
          say(message, 'Your password is right. This is your first sign-in: enrol your authenticator, choose a new password and sign in with its code.', 'info');
        } else if (e instanceof ApiError && e.code === 'PASSWORD_CHANGE_REQUIRED') {
          newPassword.hidden = false;
          newPassword.querySelector('input')?.setAttribute('required', '');
          // not an error: every factor was right (the code is not used up by this answer), only the password is the administrator's
          say(
            message,
            factor === 'face'
              ? 'Your password and face are right. This is your first sign-in: choose a new password and sign in again.'
              : 'Your password and code are right. This is your first sign-in: choose a new password, then press Sign in again with the code your app shows now.',
            'info',
          );
        } else if (e instanceof ApiError && (e.status === 429 || e.code === 'NO_CAMERA')) say(message, e.message, 'error');
        else
          say(
            message,
            factor === 'face'
              ? 'Sign-in failed. Check your details, face the camera in good light, follow each instruction slowly, and try again.'
              : 'Sign-in failed. Check your details and the code, and try again.',
            'error',
          );
      }
    })();
  });
  main.append(form);
  return () => camera?.stop();
}
