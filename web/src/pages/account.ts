import type { FaceRemoved, FaceStatus, PasswordChanged } from '../../../src/server/contract.js';
import { api } from '../api.js';
import { openCamera, type Camera } from '../camera.js';
import { confirmed, field, formValues, h, noticeList, say, status } from '../dom.js';
import { navigate } from '../navigation.js';
import { session, setSession } from '../session.js';

/** My account (staff): change my password, enrol or remove my face for signing in, sign out everywhere. */
export async function renderAccount(main: HTMLElement): Promise<() => void> {
  let camera: Camera | null = null;
  const signedIn = await session();

  const passwordMessage = status();
  const password = h(
    'form',
    { class: 'card', 'aria-labelledby': 'password-title' },
    h('h1', { id: 'password-title' }, 'My account'),
    h('p', {}, `Signed in as ${signedIn?.user.username ?? ''}.`),
    h('h2', {}, 'Change my password'),
    field('Current password', h('input', { name: 'currentPassword', type: 'password', autocomplete: 'current-password', required: true })),
    field('New password', h('input', { name: 'newPassword', type: 'password', autocomplete: 'new-password', minlength: 12, required: true }), 'At least 12 characters. Your other sessions end.'),
    h('button', { type: 'submit' }, 'Change password'),
    passwordMessage,
  );
  password.addEventListener('submit', (event) => {
    event.preventDefault();
    const v = formValues(password);
    api<PasswordChanged>('POST', '/api/v1/account/password', { currentPassword: v.currentPassword, newPassword: v.newPassword }).then(
      (r) => {
        password.reset();
        if (signedIn) setSession({ ...signedIn, session: r.session });
        say(passwordMessage, `Password changed. ${r.sessionsEnded} other session${r.sessionsEnded === 1 ? '' : 's'} signed out.`, 'ok');
      },
      (e: unknown) => say(passwordMessage, (e as Error).message, 'error'),
    );
  });

  const face = h('section', { class: 'card', 'aria-labelledby': 'face-title' });
  const faceMessage = status();
  const loadFace = async (): Promise<void> => {
    const current = await api<FaceStatus>('GET', '/api/v1/account/face');
    const consent = h('input', { type: 'checkbox', id: 'face-consent', name: 'consent' });
    const cameraSlot = h('div', {});
    const enrol = async (): Promise<void> => {
      if (!consent.checked) {
        say(faceMessage, 'Tick the consent box first: your face is only stored with your consent.', 'error');
        consent.focus();
        return;
      }
      try {
        camera ??= await openCamera('Camera preview for enrolling your face');
        const capture = h('button', { type: 'button', onclick: () => void captureAndEnrol() }, 'Capture and enrol my face');
        cameraSlot.replaceChildren(camera.element, capture);
        capture.focus();
      } catch {
        say(faceMessage, 'The camera is not available.', 'error');
      }
    };
    const captureAndEnrol = async (): Promise<void> => {
      if (!camera) return;
      say(faceMessage, 'Enrolling…');
      try {
        const result = await api<FaceStatus>('POST', '/api/v1/account/face', { image: await camera.capture(), consent: consent.checked });
        camera.stop();
        camera = null;
        await loadFace();
        say(faceMessage, `Your face is enrolled (${result.templates.length} of ${result.limit}). You can now sign in with your password and face.`, 'ok');
      } catch (e) {
        say(faceMessage, `Not enrolled. ${(e as Error).message}`, 'error');
      }
    };
    const remove = (): void => {
      api<FaceRemoved>('DELETE', '/api/v1/account/face').then(
        async () => {
          await loadFace();
          say(faceMessage, 'Your face was deleted. Sign in with your authenticator code.', 'ok');
        },
        (e: unknown) => say(faceMessage, (e as Error).message, 'error'),
      );
    };
    face.replaceChildren(
      h('h2', { id: 'face-title' }, 'My face for signing in'),
      h(
        'p',
        {},
        current.templates.length === 0
          ? 'No face enrolled: you sign in with your authenticator code.'
          : `Enrolled ${current.templates.length} time${current.templates.length === 1 ? '' : 's'}, last on ${new Date(current.templates[current.templates.length - 1]!.createdAt).toLocaleString()}.`,
      ),
      noticeList('Staff face notice', [
        ['What we keep', 'An encrypted face template computed from a photo of you; not the photo. It cannot be turned back into a picture.'],
        ['What it is for', 'Only to confirm it is you when you sign in with your password. It is never used to search for patients or anyone else.'],
        ['How long', 'Until you remove it here, or your account is disabled. Then it is deleted straight away.'],
      ]),
      h('div', { class: 'actions' }, consent, h('label', { for: 'face-consent' }, 'I have read this and agree to my face being used to sign me in')),
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'button', onclick: () => void enrol() }, current.templates.length === 0 ? 'Enrol my face' : 'Enrol my face again'),
        current.templates.length > 0 ? confirmed('Remove my face', 'Remove your face? You then sign in with your authenticator code until you enrol it again.', 'Yes, remove my face', remove) : null,
      ),
      cameraSlot,
      faceMessage,
    );
  };

  const everywhereMessage = status();
  const everywhere = h(
    'section',
    { class: 'card', 'aria-labelledby': 'everywhere-title' },
    h('h2', { id: 'everywhere-title' }, 'Sessions'),
    h('p', {}, 'Lost a device, or signed in somewhere you should not have? End every session of your account, including this one.'),
    h(
      'button',
      {
        type: 'button',
        class: 'secondary',
        onclick: () =>
          void api('POST', '/api/v1/auth/sign-out-everywhere').then(
            () => {
              setSession(null);
              navigate('/sign-in');
            },
            (e: unknown) => say(everywhereMessage, (e as Error).message, 'error'),
          ),
      },
      'Sign out everywhere',
    ),
    everywhereMessage,
  );

  main.append(password, face, everywhere);
  await loadFace();
  return () => camera?.stop();
}
