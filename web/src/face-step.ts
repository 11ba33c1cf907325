import { brightness, openCamera, TOO_DARK, type Camera } from './camera.js';
import { h, say, status } from './dom.js';
import { notSeenInWords, runLivenessCheck } from './liveness.js';

/**
 * The face step of the patient's own flows (portal sign-in, telemedicine check), written once: the camera
 * with its face guide, a capture when the person is ready, and the fields that capture adds to the request.
 * The pages send every one of a `FaceCapture`'s `fields` with their request as it is.
 */
export interface FaceCapture {
  /** What the flow's request carries. */
  fields: Readonly<Record<string, unknown>>;
  /** The movements the camera did not see, in words ('' when it saw every one), for a failure's message. */
  notSeen: string;
}

export interface FaceStepOptions {
  /** The flow the capture is for: the liveness challenge is issued for it. */
  purpose: 'portal-sign-in' | 'telemedicine';
  /** What the person is asked to do, above the camera. */
  instructions: string;
  /** The button that takes the photo. */
  button: string;
}

/**
 * Shows the camera in `container` and, when the person presses the button, runs the active liveness check
 * (web/src/liveness.ts) for `purpose`: resolves with its `{challengeId, frames}` (JPEG data URLs of the
 * camera's frames); a frame too dark to show a face is refused first, with advice.
 * Null when the camera cannot be used (the reason is shown) or `signal` ends the step; the camera is off
 * again either way.
 */
export async function captureFace(container: HTMLElement, text: FaceStepOptions, signal: AbortSignal): Promise<FaceCapture | null> {
  const feedback = status('status large');
  // the movements asked, and which of them the server has seen, while filming (web/src/liveness.ts)
  const steps = h('div', { class: 'liveness-progress' });
  const button = h('button', { type: 'button', class: 'big', disabled: true }, text.button);
  container.replaceChildren(h('p', { class: 'lead' }, text.instructions), feedback);
  let camera: Camera;
  try {
    camera = await openCamera('Camera preview');
  } catch {
    say(feedback, 'We cannot use your camera. Allow this page to use the camera and reload it, or use a device with a camera.', 'error');
    return null;
  }
  if (signal.aborted) {
    camera.stop();
    return null;
  }
  container.insertBefore(camera.element, feedback);
  feedback.after(steps);
  container.append(h('div', { class: 'actions' }, button));
  button.disabled = false;
  button.focus();
  return new Promise((resolve) => {
    const finish = (capture: FaceCapture | null) => {
      camera.stop();
      signal.removeEventListener('abort', abort);
      resolve(capture);
    };
    const abort = () => finish(null);
    signal.addEventListener('abort', abort);
    button.addEventListener('click', () => {
      button.disabled = true;
      void camera.capture().then(async (image) => {
        if ((await brightness(image)) < TOO_DARK) {
          say(feedback, 'It is too dark to see your face. Move into the light and try again.', 'error');
          button.disabled = false;
          button.focus();
          return;
        }
        // the active liveness check: a few movements asked in plain words while frames are filmed
        feedback.classList.add('liveness-prompt');
        try {
          const { sent, unseen } = await runLivenessCheck(camera, text.purpose, { prompt: (prompt) => say(feedback, prompt), steps });
          finish({ fields: { ...sent }, notSeen: notSeenInWords(unseen) });
        } catch {
          feedback.classList.remove('liveness-prompt');
          say(feedback, 'Something went wrong. Please try again.', 'error');
          button.disabled = false;
          button.focus();
        }
      });
    });
  });
}

/** What to tell the person when the server could not use the photo (no face, several faces, poor quality). */
export function photoProblem(code: string): string | null {
  switch (code) {
    case 'NO_FACE':
      return 'We could not find a face in the photo. Look straight at the camera with your face inside the oval, then try again.';
    case 'MULTIPLE_FACES':
      return 'We saw more than one face. Make sure only you are in front of the camera, then try again.';
    case 'QUALITY_REJECTED':
      return 'The photo was not clear enough. Face the camera in good light, hold still, and try again.';
    case 'LIVENESS_FAILED':
      return 'We could not see you make the movements we asked for. Follow each instruction on the screen, slowly, then try again.';
    case 'CHALLENGE_EXPIRED':
      return 'That took too long. Please try again.';
    default:
      return null;
  }
}
