import type { CaptureFeedback, LivenessAction, LivenessChallenge, LivenessFrames, LivenessProgress, LivenessPurpose } from '../../src/server/contract.js';
import { api } from './api.js';
import type { Camera } from './camera.js';
import { h } from './dom.js';
import { qualityAdvice } from './quality.js';

/**
 * The active liveness check with the camera: the server's challenge names 2–3 actions; each is asked for in
 * plain words while frames are filmed, and the frames go back with the challenge id to the flow that asked
 * (check-in, portal sign-in, staff sign-in with the face, telemedicine). While filming, the frames so far go to
 * the server's progress feedback, and the page lists which movements it saw and which it still awaits. The page
 * judges nothing: the server checks the actions, their order and timing, and that one and the same face did them.
 */

/**
 * What the person is asked, in plain words (their own left: the preview is a mirror). A look-up asks for the head
 * tipped back: the check measures the head's movement, and a look-up made with the eyes counts only with a turn
 * big enough to measure (docs/liveness.md).
 */
export const ACTION_PROMPTS: Record<LivenessAction, string> = {
  'turn-left': 'Turn your head to your left, then back to the camera',
  'turn-right': 'Turn your head to your right, then back to the camera',
  'look-up': 'Tilt your head back and look up, then back to the camera',
  blink: 'Close your eyes for a moment, then open them',
  'come-closer': 'Come closer to the camera, then back',
};

/** Each movement in the list shown while filming. */
const ACTION_NAMES: Record<LivenessAction, string> = {
  'turn-left': 'Turn to your left',
  'turn-right': 'Turn to your right',
  'look-up': 'Look up',
  blink: 'Close your eyes',
  'come-closer': 'Come closer',
};

/** A movement that was not seen, completing "We did not see you …". */
const NOT_SEEN: Record<LivenessAction, string> = {
  'turn-left': 'turn your head to your left',
  'turn-right': 'turn your head to your right',
  'look-up': 'tilt your head back and look up',
  blink: 'close your eyes',
  'come-closer': 'come closer to the camera',
};

/** The movements the server did not see while filming, in words; empty when it saw every one. */
export function notSeenInWords(unseen: readonly LivenessAction[]): string {
  if (unseen.length === 0) return '';
  const words = unseen.map((a) => NOT_SEEN[a]);
  return `We did not see you ${words.length > 1 ? `${words.slice(0, -1).join(', ')} or ${words.at(-1)!}` : words[0]!}.`;
}

/** The server's limit on frames per attempt. */
const MAX_FRAMES = 40;
/**
 * A frame every 200 ms (5 a second), and every 100 ms while a blink is asked (a blink lasts 100–300 ms: at 5 a
 * second the closed lids show in one frame or in none, docs/liveness.md); a still moment before the first action
 * and after the last, and each action as long as the frames left allow, at most 2.6 s. An action seen by the
 * server (the progress feedback) ends at once, so a quick person sends fewer frames and waits less.
 */
const FRAME_INTERVAL_MS = 200;
const BLINK_FRAME_INTERVAL_MS = 100;
const STILL_MS = 600;
const MAX_ACTION_MS = 2600;
/** Frames are sent at most this wide: enough for the face, small enough to upload 40 of them. */
const FRAME_WIDTH = 640;
/** The progress feedback gets the frames filmed since its previous request, once there are this many (at most 5). */
const PROGRESS_BATCH = 3;
const MAX_PROGRESS_FRAMES = 5;
/** How long the page waits for the progress answer in flight when filming ends. */
const LAST_PROGRESS_WAIT_MS = 1000;

export interface LivenessFeedback {
  /** Shows the instruction of the moment, in plain words. */
  prompt(text: string): void;
  /** Where the list of the challenge's movements, seen and awaited, is shown while filming. */
  steps: HTMLElement;
}

export interface FilmedChallenge {
  /** What the flow's request carries. */
  sent: LivenessFrames;
  /** The movements the server had not seen by the end of filming (the check on all frames decides). */
  unseen: LivenessAction[];
}

/**
 * Runs one challenge: fetches it, shows each action's prompt in turn and the list of movements, films until the
 * last action is seen or its time is up (or the frame limit or the deadline), sending the frames filmed so far
 * for progress feedback meanwhile, then returns the frames to send. The page judges nothing: the list shows
 * what the server saw.
 */
export async function runLivenessCheck(camera: Camera, purpose: LivenessPurpose, feedback: LivenessFeedback): Promise<FilmedChallenge> {
  const video = camera.element.querySelector('video') as HTMLVideoElement;
  const challenge = await api<LivenessChallenge>('POST', '/api/v1/liveness/challenges', { purpose });
  const shown = performance.now();
  const deadline = shown + (Date.parse(challenge.deadline) - Date.parse(challenge.issuedAt)) - 1000;
  const frames: LivenessFrames['frames'] = [];
  let seen: LivenessAction[] = [];
  let current: number | null = null;
  const items = challenge.actions.map((action) => h('li', {}, ACTION_NAMES[action]));
  const list = h('ol', { class: 'liveness-steps', 'aria-label': 'Movements', 'aria-live': 'polite' }, ...items);
  const show = (ended = false): void => {
    challenge.actions.forEach((action, i) => {
      const state = seen.includes(action) ? 'seen' : ended ? 'not-seen' : i === current ? 'now' : 'waiting';
      items[i]!.dataset.state = state;
      items[i]!.textContent = `${ACTION_NAMES[action]}${{ seen: ' — seen ✓', 'not-seen': ' — not seen', now: ' — now', waiting: '' }[state]}`;
    });
  };
  feedback.steps.replaceChildren(list);
  show();

  const unsent: LivenessFrames['frames'] = [];
  let sending: Promise<void> | null = null;
  const sendProgress = (): void => {
    if (sending || unsent.length < PROGRESS_BATCH) return;
    const batch = unsent.splice(0, MAX_PROGRESS_FRAMES);
    sending = api<LivenessProgress>('POST', '/api/v1/liveness/progress', { challengeId: challenge.id, frames: batch })
      .then((progress) => {
        seen = progress.seen;
        show();
      })
      // feedback is advice: a busy server or a rate limit only means no news this time
      .catch(() => undefined)
      .finally(() => {
        sending = null;
      });
  };

  const film = async (ms: number, interval: number, until: () => boolean = () => false): Promise<void> => {
    const ends = performance.now() + ms;
    while (performance.now() < ends && frames.length < MAX_FRAMES && performance.now() < deadline && !until()) {
      const next = performance.now() + interval;
      const frame = { image: grabFrame(video), at: Math.round(performance.now() - shown) };
      frames.push(frame);
      unsent.push(frame);
      sendProgress();
      await sleep(next - performance.now());
    }
  };
  const weight = (a: LivenessAction): number => (a === 'blink' ? FRAME_INTERVAL_MS / BLINK_FRAME_INTERVAL_MS : 1);
  const stillFrames = STILL_MS / FRAME_INTERVAL_MS;

  feedback.prompt('Look straight at the camera');
  await film(STILL_MS, FRAME_INTERVAL_MS);
  for (const [i, action] of challenge.actions.entries()) {
    current = i;
    show();
    feedback.prompt(ACTION_PROMPTS[action]);
    // the frames left, shared among the actions still to come (a blink's frames come twice as fast)
    const left = MAX_FRAMES - frames.length - stillFrames;
    const ms = Math.min(MAX_ACTION_MS, (left * FRAME_INTERVAL_MS) / challenge.actions.slice(i).reduce((n, a) => n + weight(a), 0));
    await film(ms, action === 'blink' ? BLINK_FRAME_INTERVAL_MS : FRAME_INTERVAL_MS, () => seen.includes(action));
  }
  current = null;
  feedback.prompt('Hold still');
  await film(STILL_MS, FRAME_INTERVAL_MS);
  // The answer in flight, if it comes soon; the frames not sent for feedback the check observes itself. The flow's
  // request must not wait long for feedback: the challenge has a deadline, and a busy server answers slowly.
  feedback.prompt('Checking…');
  await Promise.race([sending ?? Promise.resolve(), sleep(LAST_PROGRESS_WAIT_MS)]);
  show(true);
  return { sent: { challengeId: challenge.id, frames }, unseen: challenge.actions.filter((a) => !seen.includes(a)) };
}

/** The camera's own frame (not the mirrored preview) as a JPEG data URL, at most FRAME_WIDTH wide. */
function grabFrame(video: HTMLVideoElement): string {
  const scale = Math.min(1, FRAME_WIDTH / video.videoWidth);
  const canvas = h('canvas', { width: Math.round(video.videoWidth * scale), height: Math.round(video.videoHeight * scale) });
  const context = canvas.getContext('2d');
  if (!context) throw new Error('no canvas');
  context.drawImage(video, 0, 0, canvas.width, canvas.height);
  return canvas.toDataURL('image/jpeg', 0.85);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => window.setTimeout(resolve, Math.max(0, ms)));
}

/** Polls the quality route with small preview frames and reports its advice until stopped. */
export function watchQuality(camera: Camera, report: (text: string, ok: boolean) => void): () => void {
  const video = camera.element.querySelector('video') as HTMLVideoElement;
  let stopped = false;
  const poll = async (): Promise<void> => {
    while (!stopped) {
      const started = performance.now();
      try {
        const { reasons } = await api<CaptureFeedback>('POST', '/api/v1/kiosk/quality', { image: grabFrame(video) });
        if (!stopped) report(qualityAdvice(reasons), reasons.length === 0);
      } catch {
        // feedback is advice: a busy server or a rate limit only means no advice this time
      }
      await sleep(800 - (performance.now() - started));
    }
  };
  void poll();
  return () => {
    stopped = true;
  };
}
