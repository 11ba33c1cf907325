import { api, ApiError, type SignedIn } from '../api.js';
import { field, formValues, h, say, status } from '../dom.js';
import { navigate } from '../navigation.js';
import { setSession } from '../session.js';

/** Staff sign-in: password and the 6-digit code from the authenticator app; a first sign-in sets a new password. */
export async function renderSignIn(main: HTMLElement, params: URLSearchParams): Promise<void> {
  const message = status();
  const newPassword = field('New password', h('input', { name: 'newPassword', type: 'password', autocomplete: 'new-password', minlength: 12 }), 'Your password was set by an administrator: choose your own.');
  newPassword.hidden = true;
  const form = h(
    'form',
    { class: 'card narrow', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'Staff sign-in'),
    params.get('idle') ? h('p', { class: 'status', 'data-kind': 'info' }, 'You were signed out after a period without activity.') : null,
    field('Username', h('input', { name: 'username', autocomplete: 'username', required: true })),
    field('Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    field('Authenticator code', h('input', { name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6,8}', required: true }), 'The 6-digit code from your authenticator app.'),
    newPassword,
    h('button', { type: 'submit' }, 'Sign in'),
    message,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const values = formValues(form);
    const body = { username: values.username, password: values.password, code: values.code, ...(!newPassword.hidden && { newPassword: values.newPassword }) };
    say(message, 'Signing in…');
    api<SignedIn>('POST', '/api/v1/auth/sign-in', body).then(
      (signedIn) => {
        setSession(signedIn);
        const next = params.get('next');
        navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/');
      },
      (e: unknown) => {
        if (e instanceof ApiError && e.code === 'PASSWORD_CHANGE_REQUIRED') {
          newPassword.hidden = false;
          newPassword.querySelector('input')?.setAttribute('required', '');
          say(message, 'Choose a new password, enter a fresh code and sign in again.', 'error');
        } else say(message, e instanceof ApiError && e.status === 429 ? e.message : 'Sign-in failed. Check your details and the code, and try again.', 'error');
      },
    );
  });
  main.append(form);
}
