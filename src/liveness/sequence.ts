/**
 * The active check's judgement, from per-frame observations to a verdict: which actions the face performed, in
 * which order, whether its geometry is that of a head rather than a plane, whether the frames' times are
 * plausible, and which frame is matched. Pure computation: the face pool's work happens in assess.ts.
 */
import type { Embedding, FrameObservation, Point, Point3 } from '../face/index.js';
import { similarity } from '../identity/match.js';
import { applyHomography, distance, fitHomography } from './geometry.js';
import { POSE_ACTIONS, type CapturedFrame, type LivenessAction, type LivenessChallenge, type LivenessReason, type LivenessVerdict } from './types.js';

/**
 * The active check's operating point. Pose changes are relative to the sequence's first frame (a kiosk camera
 * may sit above or beside the face) and in the detector's degrees, which under-read a real rotation (a head
 * rendered 30° turned reads about 20°). Measured in bench/liveness-active.ts; see docs/liveness.md.
 */
export const ACTIVE_LIVENESS = {
  minFrames: 6,
  maxFrames: 40,
  /** Yaw change (degrees) that counts as a turn; within ±neutralYaw the face is frontal. */
  turnYaw: 12,
  neutralYaw: 6,
  /** Pitch change (degrees, negative = up) that counts as looking up; within ±neutralPitch the face is level. */
  lookUpPitch: -8,
  neutralPitch: 5,
  /** Eye aspect ratio at or below this fraction of the neutral frames' median counts as a blink. */
  blinkRatio: 0.85,
  /** Inter-eye distance at or above this multiple of the first frame's counts as coming closer; below `neutralScale` it is back. */
  closerScale: 1.2,
  neutralScale: 1.1,
  /**
   * Least nose parallax (see `parallax`, a fraction of the inter-eye distance) at the height of every turn and
   * look-up: a plane (photo, screen), however moved or tilted, is explained by one homography; a head is not.
   */
  minParallax: 0.035,
  /** Frames embedded at most (the match frame, each action's height, the rest spread evenly). */
  maxEmbedded: 16,
  /** Frames without a face tolerated (motion blur), as a fraction of the sequence; never the first frame. */
  maxFacelessFraction: 0.2,
  /** Fastest plausible capture (ms between frames) and shortest plausible time per action (ms). */
  minFrameIntervalMs: 20,
  minActionMs: 250,
  /** Clock difference allowed between the client's frame times and the server's clock (ms). */
  clockSkewMs: 2000,
} as const;

/**
 * The flatness test's landmarks. The "plane" points (eye corners, forehead, temples, cheeks, chin) lie roughly
 * at one depth and do not move with speech or expression (the mouth and brows are left out); the nose tip
 * stands well in front of them.
 */
export const PLANE_LANDMARKS = [33, 133, 263, 362, 10, 151, 127, 356, 234, 454, 152] as const;
export const NOSE_TIP = [1, 4] as const;

const RIGHT_EYE_RING = [33, 133, 160, 159, 158, 144, 145, 153];
const LEFT_EYE_RING = [263, 362, 387, 386, 385, 373, 374, 380];

/** One frame reduced to what the check uses. */
export interface FrameSignals {
  yaw: number;
  pitch: number;
  /** Mean eye aspect ratio of both eyes (lid opening over eye width, from the mesh's eyelid points). */
  ear: number;
  /** Distance between the eye centres, pixels. */
  interEye: number;
  mesh: readonly Point3[];
  embedding?: Embedding;
}

function centre(mesh: readonly Point[], ring: readonly number[]): Point {
  let x = 0, y = 0;
  for (const i of ring) {
    x += mesh[i]!.x;
    y += mesh[i]!.y;
  }
  return { x: x / ring.length, y: y / ring.length };
}

/** The signals of a frame, or null when it shows no face. */
export function signalsOf(observation: FrameObservation): FrameSignals | null {
  const subject = observation.subject;
  if (!subject) return null;
  const m = subject.mesh;
  const d = (a: number, b: number): number => distance(m[a]!, m[b]!);
  const right = (d(160, 144) + d(158, 153)) / (2 * d(33, 133));
  const left = (d(385, 380) + d(387, 373)) / (2 * d(362, 263));
  const signals: FrameSignals = {
    yaw: subject.pose.yaw,
    pitch: subject.pose.pitch,
    ear: (right + left) / 2,
    interEye: distance(centre(m, RIGHT_EYE_RING), centre(m, LEFT_EYE_RING)),
    mesh: m,
  };
  if (subject.embedding) signals.embedding = subject.embedding;
  return signals;
}

/** What a frame shows, relative to the sequence's first frame. */
export type FrameState = LivenessAction | 'neutral' | 'between' | 'no-face';

/** Changes against the first frame, and the eyes' usual openness (the median over level frames). */
function reference(frames: ReadonlyArray<FrameSignals | null> & { 0: FrameSignals }): {
  pose: (f: FrameSignals) => { dy: number; dp: number; scale: number };
  openEyes: number;
} {
  const t = ACTIVE_LIVENESS;
  const base = frames[0];
  const pose = (f: FrameSignals): { dy: number; dp: number; scale: number } => ({
    dy: f.yaw - base.yaw,
    dp: f.pitch - base.pitch,
    scale: f.interEye / base.interEye,
  });
  const level = (f: FrameSignals): boolean => {
    const { dy, dp, scale } = pose(f);
    return Math.abs(dy) < t.neutralYaw && Math.abs(dp) < t.neutralPitch && scale < t.neutralScale;
  };
  return { pose, openEyes: median(frames.filter((f): f is FrameSignals => f !== null && level(f)).map((f) => f.ear)) };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Each frame's state. Yaw sign (src/face/types.ts): yaw > 0 when the subject turns to THEIR left, i.e. the nose
 * points to the right of the unmirrored camera image; on a mirrored kiosk preview the subject sees their face
 * turn to the screen's left. The frames must be the camera's own, not the mirrored preview.
 */
export function frameStates(frames: ReadonlyArray<FrameSignals | null>): FrameState[] {
  const t = ACTIVE_LIVENESS;
  if (!frames[0]) return frames.map(() => 'no-face');
  const { pose, openEyes } = reference(frames as ReadonlyArray<FrameSignals | null> & { 0: FrameSignals });
  return frames.map((f) => {
    if (!f) return 'no-face';
    const { dy, dp, scale } = pose(f);
    if (dy >= t.turnYaw) return 'turn-left';
    if (dy <= -t.turnYaw) return 'turn-right';
    if (dp <= t.lookUpPitch) return 'look-up';
    if (Math.abs(dy) >= t.neutralYaw || Math.abs(dp) >= t.neutralPitch) return 'between';
    if (scale >= t.closerScale) return 'come-closer';
    if (scale >= t.neutralScale) return 'between';
    return f.ear <= t.blinkRatio * openEyes ? 'blink' : 'neutral';
  });
}

/** One performed action: the frames it spans and the frame at its height. */
export interface ActionRun {
  action: LivenessAction;
  first: number;
  last: number;
  peak: number;
}

/**
 * The actions performed, in order: each a run of frames in that action's state that starts from neutral and
 * comes back on its own axis (a turn's yaw back within the neutral band, the eyes open again, ...), whatever
 * the other signals do meanwhile: a talking face moves its eyelids and pitch while it turns. Frames without a
 * face are passed over.
 */
export function performedActions(states: readonly FrameState[], frames: ReadonlyArray<FrameSignals | null>): ActionRun[] {
  const t = ACTIVE_LIVENESS;
  if (!frames[0]) return [];
  const { pose, openEyes } = reference(frames as ReadonlyArray<FrameSignals | null> & { 0: FrameSignals });
  const back = (action: LivenessAction, f: FrameSignals): boolean => {
    const { dy, dp, scale } = pose(f);
    switch (action) {
      case 'turn-left':
        return dy < t.neutralYaw;
      case 'turn-right':
        return dy > -t.neutralYaw;
      case 'look-up':
        return dp > -t.neutralPitch;
      case 'blink':
        return f.ear > t.blinkRatio * openEyes;
      case 'come-closer':
        return scale < t.neutralScale;
    }
  };
  const runs: ActionRun[] = [];
  let fromNeutral = false;
  let open: ActionRun | null = null as ActionRun | null;
  const height = (run: ActionRun, i: number): number => {
    const f = frames[i]!, base = frames[0]!;
    switch (run.action) {
      case 'turn-left':
        return f.yaw - base.yaw;
      case 'turn-right':
        return base.yaw - f.yaw;
      case 'look-up':
        return base.pitch - f.pitch;
      case 'blink':
        return -f.ear;
      case 'come-closer':
        return f.interEye;
    }
  };
  states.forEach((state, i) => {
    if (state === 'no-face') return;
    if (open && state !== open.action && back(open.action, frames[i]!)) {
      if (fromNeutral) runs.push(open);
      open = null;
      fromNeutral = true;
    }
    if (state === 'between') return;
    if (state === 'neutral') {
      fromNeutral = true;
      return;
    }
    if (open && open.action === state) {
      open.last = i;
      if (height(open, i) > height(open, open.peak)) open.peak = i;
      return;
    }
    // Into another action before this one came back: neither counts.
    if (open) fromNeutral = false;
    open = { action: state, first: i, last: i, peak: i };
  });
  return runs;
}

/**
 * Nose parallax from frame `a` to frame `b` in the direction of `action`, in units of `a`'s inter-eye
 * distance: fit the homography that best carries `a`'s plane landmarks onto `b`'s, and measure how far `b`'s
 * nose tip lies beyond where that homography puts `a`'s, along the way the nose moves in that action (to the
 * image's right for turn-left, left for turn-right, up for look-up). A flat picture moved or tilted in any way
 * gives ~0 (mesh noise, of either sign); a head that turns gives a positive value that grows with the turn.
 */
export function parallax(a: FrameSignals, b: FrameSignals, action: LivenessAction): number {
  const src = PLANE_LANDMARKS.map((i) => a.mesh[i]!);
  const dst = PLANE_LANDMARKS.map((i) => b.mesh[i]!);
  const h = fitHomography(src, dst);
  let dx = 0, dy = 0;
  for (const i of NOSE_TIP) {
    const predicted = applyHomography(h, a.mesh[i]!);
    dx += (b.mesh[i]!.x - predicted.x) / NOSE_TIP.length;
    dy += (b.mesh[i]!.y - predicted.y) / NOSE_TIP.length;
  }
  const along = action === 'turn-left' ? dx : action === 'turn-right' ? -dx : action === 'look-up' ? -dy : Math.hypot(dx, dy);
  return along / a.interEye;
}

export interface SequenceJudgement extends LivenessVerdict {
  /**
   * The neutral frame to match and to compare the others with, even when the sequence failed (the same-face
   * check still runs, so a failure names every reason); null when there is none.
   */
  candidate: number | null;
  /** Frames whose embeddings the same-face check needs (the candidate first); empty without a candidate. */
  toEmbed: number[];
}

/** The times a challenge allows, and whether the frames keep to them. */
export function timingReasons(challenge: LivenessChallenge, frames: readonly CapturedFrame[], now: Date): LivenessReason[] {
  const t = ACTIVE_LIVENESS;
  const issued = Date.parse(challenge.issuedAt);
  const window = Date.parse(challenge.deadline) - issued;
  const reasons = new Set<LivenessReason>();
  if (!(now.getTime() <= issued + window)) reasons.add('LIVENESS_EXPIRED');
  for (const f of frames) {
    if (!Number.isFinite(f.at) || f.at < 0) reasons.add('LIVENESS_TIMING');
    else if (f.at > window) reasons.add('LIVENESS_EXPIRED');
  }
  for (let i = 1; i < frames.length; i++) {
    if (!(frames[i]!.at - frames[i - 1]!.at >= t.minFrameIntervalMs)) reasons.add('LIVENESS_TIMING');
  }
  const last = frames.at(-1)?.at ?? 0;
  // A frame cannot have been captured after the server received it.
  if (last > now.getTime() - issued + t.clockSkewMs) reasons.add('LIVENESS_TIMING');
  const span = last - (frames[0]?.at ?? 0);
  if (span < t.minActionMs * challenge.actions.length) reasons.add('LIVENESS_TIMING');
  return [...reasons];
}

/**
 * Everything but the same-face check: timing, faces, the actions against the challenge, the 3-D evidence, and
 * the match frame (a neutral frame, the most frontal one, preferably between the first and last action).
 */
export function judgeSequence(
  challenge: LivenessChallenge,
  frames: readonly CapturedFrame[],
  signals: ReadonlyArray<FrameSignals | null>,
  now: Date,
): SequenceJudgement {
  const t = ACTIVE_LIVENESS;
  const reasons = new Set<LivenessReason>(timingReasons(challenge, frames, now));
  const faceless = signals.filter((s) => s === null).length;
  if (!signals[0] || faceless > t.maxFacelessFraction * signals.length) reasons.add('LIVENESS_NO_FACE');
  const states = signals[0] ? frameStates(signals) : signals.map((): FrameState => 'no-face');
  const runs = signals[0] ? performedActions(states, signals) : [];
  const observed = runs.map((r) => r.action);

  const asked = challenge.actions;
  if (observed.join() !== asked.join()) {
    const extra = observed.some((a) => !asked.includes(a)) || observed.length > asked.length;
    const missing = asked.some((a) => !observed.includes(a));
    if (extra) reasons.add('LIVENESS_EXTRA_ACTION');
    if (missing) reasons.add('LIVENESS_ACTION_MISSING');
    if (!extra && !missing) reasons.add('LIVENESS_WRONG_ORDER');
  }

  const poseRuns = runs.filter((r) => POSE_ACTIONS.includes(r.action));
  if (signals[0] && (poseRuns.length === 0 || poseRuns.some((r) => parallax(signals[0]!, signals[r.peak]!, r.action) < t.minParallax))) {
    reasons.add('LIVENESS_FLAT_FACE');
  }

  const candidate = chooseMatchFrame(states, signals, runs);
  if (candidate === null) reasons.add('LIVENESS_NO_FACE');
  const failed = reasons.size > 0;
  return {
    passed: !failed,
    reasons: [...reasons],
    observed,
    matchFrame: failed ? null : candidate,
    candidate,
    toEmbed: candidate === null ? [] : embeddingSample(candidate, runs, signals),
  };
}

function chooseMatchFrame(states: readonly FrameState[], signals: ReadonlyArray<FrameSignals | null>, runs: readonly ActionRun[]): number | null {
  const first = runs[0]?.first ?? 0;
  const last = runs.at(-1)?.last ?? states.length - 1;
  const frontality = (i: number): number => Math.abs(signals[i]!.yaw) + Math.abs(signals[i]!.pitch);
  const neutral = states.flatMap((s, i) => (s === 'neutral' ? [i] : []));
  const inside = neutral.filter((i) => i > first && i < last);
  const pool = inside.length > 0 ? inside : neutral;
  if (pool.length === 0) return null;
  return pool.reduce((best, i) => (frontality(i) < frontality(best) ? i : best));
}

/**
 * The match frame, every action's height, then the other frames spread evenly, up to maxEmbedded (all of them
 * in a sequence that short): another face would have to sit only in frames left out.
 */
function embeddingSample(matchFrame: number, runs: readonly ActionRun[], signals: ReadonlyArray<FrameSignals | null>): number[] {
  const limit = ACTIVE_LIVENESS.maxEmbedded;
  const chosen = new Set<number>([matchFrame, ...runs.map((r) => r.peak)]);
  const rest = signals.flatMap((f, i) => (f && !chosen.has(i) ? [i] : []));
  const room = Math.max(0, limit - chosen.size);
  if (rest.length <= room) return [...chosen, ...rest];
  const step = rest.length / room;
  for (let k = 0; k < room; k++) chosen.add(rest[Math.floor((k + 0.5) * step)]!);
  return [...chosen].slice(0, limit);
}

/** Frames of `embedded` (index → embedding) less similar to the match frame's than `minSimilarity`. */
export function changedFaces(matchFrame: number, embedded: ReadonlyMap<number, Embedding>, minSimilarity: number): number[] {
  const reference = embedded.get(matchFrame);
  if (!reference) throw new RangeError('the match frame has no embedding');
  return [...embedded].filter(([, e]) => similarity(reference, e) < minSimilarity).map(([i]) => i);
}
