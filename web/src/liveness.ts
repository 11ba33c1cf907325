import { api } from './api.js';
import type { Camera } from './camera.js';
import { h } from './dom.js';
import { qualityAdvice } from './quality.js';

/**
 * The active liveness check with the camera: the server's challenge names 2–3 actions; each is asked for in
 * plain words while frames are filmed, and the frames go back with the challenge id to the flow that asked
 * (check-in, portal sign-in, staff sign-in with the face, telemedicine). The page judges nothing: the server
 * checks the actions, their order and timing, and that one and the same face did them.
 */

export type LivenessAction = 'turn-left' | 'turn-right' | 'look-up' | 'blink' | 'come-closer';
export type LivenessPurpose = 'check-in' | 'portal-sign-in' | 'staff-sign-in' | 'verify' | 'telemedicine';

interface Challenge {
  id: string;
  actions: LivenessAction[];
  issuedAt: string;
  deadline: string;
}

export interface LivenessFrames {
  challengeId: string;
  /** JPEG data URLs with their capture time, ms since the challenge was shown. */
  frames: { image: string; at: number }[];
}

/** What the person is asked, in plain words (their own left: the preview is a mirror). */
export const ACTION_PROMPTS: Record<LivenessAction, string> = {
  'turn-left': 'Turn your head to your left, then back to the camera',
  'turn-right': 'Turn your head to your right, then back to the camera',
  'look-up': 'Look up, then back to the camera',
  blink: 'Close your eyes for a moment, then open them',
  'come-closer': 'Come closer to the camera, then back',
};

/** The server's limit on frames per attempt. */
const MAX_FRAMES = 40;
/**
 * A frame every 200 ms (5 a second); a still moment before the first action and after the last, and each
 * action as long as the frame limit allows, at most 2.6 s (2.6 s each for two actions, 2.27 s for three).
 */
const FRAME_INTERVAL_MS = 200;
const STILL_MS = 600;
const MAX_ACTION_MS = 2600;
/** Frames are sent at most this wide: enough for the face, small enough to upload 40 of them. */
const FRAME_WIDTH = 640;

/**
 * Runs one challenge: fetches it, shows each action's prompt on `prompt` in turn and films until the last
 * action's time is up (or the frame limit or the deadline), then returns the frames to send.
 */
export async function runLivenessCheck(camera: Camera, purpose: LivenessPurpose, prompt: (text: string) => void): Promise<LivenessFrames> {
  const video = camera.element.querySelector('video') as HTMLVideoElement;
  const challenge = await api<Challenge>('POST', '/api/v1/liveness/challenges', { purpose });
  const shown = performance.now();
  const deadline = shown + (Date.parse(challenge.deadline) - Date.parse(challenge.issuedAt)) - 1000;
  const actionMs = Math.min(MAX_ACTION_MS, (MAX_FRAMES * FRAME_INTERVAL_MS - 2 * STILL_MS) / challenge.actions.length);
  const steps = [{ text: 'Look straight at the camera', ms: STILL_MS }, ...challenge.actions.map((a) => ({ text: ACTION_PROMPTS[a], ms: actionMs })), { text: 'Hold still', ms: STILL_MS }];
  const frames: LivenessFrames['frames'] = [];
  let stepEnds = shown;
  for (const step of steps) {
    prompt(step.text);
    stepEnds += step.ms;
    while (performance.now() < stepEnds && frames.length < MAX_FRAMES && performance.now() < deadline) {
      const next = performance.now() + FRAME_INTERVAL_MS;
      frames.push({ image: grabFrame(video), at: Math.round(performance.now() - shown) });
      await sleep(next - performance.now());
    }
  }
  return { challengeId: challenge.id, frames };
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
        const { reasons } = await api<{ reasons: string[] }>('POST', '/api/v1/kiosk/quality', { image: grabFrame(video) });
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
