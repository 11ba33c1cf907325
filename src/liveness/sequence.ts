/**
 * The active check's judgement, from per-frame observations to a verdict: which actions the face performed, in
 * which order, whether its geometry is that of a head rather than a plane, whether the frames' times are
 * plausible, and which frame is matched. No face inference here (the face pool's work happens in assess.ts); the
 * pixel flatness fits run on their own worker thread (sheets.ts).
 */
import { landmarksOf, type Embedding, type FrameObservation, type Point3 } from '../face/index.js';
import { similarity } from '../identity/match.js';
import { applyHomography, distance, fitHomography } from './geometry.js';
import { FACE_OVAL, PLANE_LANDMARKS, type FaceCrop, type SheetResiduals } from './planarity.js';
import { fitSheets } from './sheets.js';
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
  lookUpPitch: -10,
  neutralPitch: 5,
  /**
   * A look-up made mostly with the eyes, read only where a look-up is asked: the head lifted by at least
   * `eyesLookUpPitch` (degrees, negative = up) in a frame whose eyes are opened wider than in every level frame and
   * at least `eyesWidening` times their usual aperture (EyeOpenness.aperture, over the level frames' median: eyes
   * looking up open wider). Then the whole excursion from neutral around that frame is that look-up, whatever the
   * head's yaw did meanwhile: a real person turned about 15° as his eyes went up and his head lifted 5°
   * (bench/liveness-real.ts). The widening is no evidence against a picture: the iris model reads a tipped or
   * curled print's eyes 1.2–1.95 times wider in some frames (docs/liveness.md), so such a look-up must bring its
   * own 3-D evidence (see evidenceOf). An excursion that makes another asked move stays that move: rendered heads
   * turning as asked lift 4–9° with their eyes read wider (bench/liveness-active.ts, seed 34).
   */
  eyesLookUpPitch: -4,
  eyesWidening: 1.1,
  /**
   * Eye openness at or below this fraction of the level frames' median counts as eyes closing (a blink where
   * one is asked); at or below `shutRatio` as shut (an extra action where none is asked, if held). Yale's shut
   * eyes read 0.45 of open on average (0.76 at most), smiles 0.71–0.96: a smile may pass for an asked blink,
   * which proves nothing either way, but seldom for eyes shut on purpose.
   */
  blinkRatio: 0.85,
  shutRatio: 0.75,
  /**
   * A brief dip of the eyes counts as closing up to this fraction of open, when they read at least
   * `dipOpenRatio` of open within `dipRecoveryMs` before and after it: a natural blink (100–300 ms) seen in one
   * frame between open ones. Some people's lids barely close to the iris model (a real person's blinks read
   * 0.78–0.86 of open at their deepest, bench/liveness-real.ts); eyes held narrowed (a smile, a rendered
   * blink the model barely reads) make no dip, so this does not loosen what a held expression passes for.
   */
  dipRatio: 0.9,
  dipOpenRatio: 0.95,
  dipRecoveryMs: 400,
  /** Inter-eye distance at or above this multiple of the first frame's counts as coming closer; below `neutralScale` it is back. */
  closerScale: 1.2,
  neutralScale: 1.1,
  /**
   * A move has come back once its signal is within the neutral band or has fallen back this share of the way
   * from its height: people do not come back exactly where they started (bench/liveness-real.ts).
   */
  returnFraction: 0.5,
  /**
   * Least nose parallax (see `parallax`, a fraction of the inter-eye distance) at the height of every turn and
   * look-up: a plane (photo, screen), however moved or tilted, is explained by one homography; a head is not.
   * The mesh model fits a 3-D face to a tilted photo too and then reads 0.05–0.13 (sometimes more) of parallax
   * where there is none; heads read 0.16 and up at the height of a turn (real clip: 0.16–0.29; rendered: 0.18+).
   */
  minParallax: 0.15,
  /**
   * A turn's height whose face kept less than `minKeptArea` of its area (in the mesh: eye distance times height),
   * against the area the first frame's face keeps when turned and tipped as far as read (see `keptArea`), must show
   * at least `minShrunkParallax` of nose parallax. A print held curled and turned far (50–65°) shows the mesh
   * only the part of the face its curl leaves in view, which the mesh fits as a smaller face read 13–31° turned,
   * with some nose parallax: kept 0.30–0.73, parallax 0.11–0.27; a head that loses that much of its area is
   * turned far, and its nose stands out (the rendered heads that did: 0.54). Real heads kept 0.83 and up (turns
   * of up to 50° read). bench/liveness-active.ts, seeds 29 and 33, and the real clips: docs/liveness.md,
   * "The face's size at a turn".
   */
  minKeptArea: 0.75,
  minShrunkParallax: 0.4,
  /**
   * Least share of the face that the best homography from the first frame leaves unexplained at the height of
   * every turn and look-up (see planarity.ts): the pixels' own answer to the question the mesh's landmarks cannot
   * answer for a steeply tilted print. On lfw-dev identities kept apart from the benchmark's
   * (bench/liveness-planarity.ts, 100): prints tipped until a turn or look-up was read, also with simulated camera
   * noise, blur and uneven light, at most 0.032; heads rendered turned 25–40° or looking up 20–35°, 2 of 568
   * frames below 0.05 (turned 18° or looking up 13°: 12 of 213); a real turn: 0.5 and up. Real prints moved by
   * hand (NUAA) leave 0.05 or more in a quarter of frame pairs (glare, bending): docs/liveness.md.
   */
  minPlaneResidual: 0.05,
  /**
   * The same for the best sheet curled about one axis (a print held bent: one homography no longer explains its
   * turn). A curl also explains part of a head's roundness, so its bound is lower; it was chosen on the first 40
   * of the same identities. On all 100: heads rendered turned 25–40° or looking up 20–35°, 0.031 and up; prints
   * curled and turned or tipped 35–50°, 521 of 577 below it, but turned or tipped 65° only 55 of 317 (half the
   * face hides behind the curl): docs/liveness.md.
   */
  minCurledResidual: 0.025,
  /**
   * Frames without a face tolerated (motion blur), as a fraction of the sequence; never the first frame. Frames
   * set aside as detector glitches (see judgeSequence) count among them.
   */
  maxFacelessFraction: 0.2,
  /**
   * Eyes seen shut across frames this far apart (ms) are closed on purpose, not a blink: an unasked one is an
   * extra action (a recording of another challenge), while shorter closures, which people make every few
   * seconds unasked, are ignored.
   */
  deliberateClosureMs: 300,
  /**
   * A move nobody asked for counts as an extra action only when the head is seen beyond its threshold across
   * frames this far apart (ms): a recording of another challenge holds each move for the better part of a second,
   * while a talking or singing head jerks past a threshold for a single frame (a real singer's head came up 11°
   * of pitch in one frame after an asked turn, bench/liveness-real.ts). An asked move counts however brief.
   */
  deliberateMoveMs: 200,
  /**
   * A head moves continuously: between two frames of a capture its pose seldom changes by a whole action's
   * threshold at once (out and back, in at most two steps each, per move). Frames of another capture put out of
   * order jump back and forth; more such changes than this per asked move → LIVENESS_WRONG_ORDER.
   */
  maxAbruptChangesPerMove: 4,
  /** Fastest plausible capture (ms between frames) and shortest plausible time per action (ms). */
  minFrameIntervalMs: 20,
  minActionMs: 250,
  /** Clock difference allowed between the client's frame times and the server's clock (ms). */
  clockSkewMs: 2000,
} as const;

const RADIANS = Math.PI / 180;

/** The nose tip, which stands well in front of the plane landmarks (planarity.ts). */
const NOSE_TIP = [1, 4] as const;

/** One frame reduced to what the check uses. */
export interface FrameSignals {
  yaw: number;
  pitch: number;
  /** Mean openness of both eyes (lid opening over eye width, from the iris model's eyelid contour). */
  ear: number;
  /** How wide the eyes are opened against the face's height (EyeOpenness.aperture): they widen when they look up. */
  aperture: number;
  /** Distance between the eye centres, pixels. */
  interEye: number;
  mesh: readonly Point3[];
  embedding?: Embedding;
  /** The face's pixels, for the flatness test (see planarity.ts); without them a frame shows no 3-D. */
  crop?: FaceCrop;
}

/** The signals of a frame, or null when it shows no face. */
export function signalsOf(observation: FrameObservation): FrameSignals | null {
  const subject = observation.subject;
  if (!subject) return null;
  const { leftEye, rightEye } = landmarksOf(subject);
  const signals: FrameSignals = {
    yaw: subject.pose.yaw,
    pitch: subject.pose.pitch,
    ear: (subject.eyes.right + subject.eyes.left) / 2,
    aperture: subject.eyes.aperture,
    interEye: distance(rightEye, leftEye),
    mesh: subject.mesh,
  };
  if (subject.embedding) signals.embedding = subject.embedding;
  return signals;
}

/** The actions that move the head (everything but closing the eyes). */
type Move = Exclude<LivenessAction, 'blink'>;

/** What a frame shows of the head's moves, relative to the sequence's first frame (the eyes: see eyeClosure). */
export type FrameState = Move | 'neutral' | 'between' | 'no-face';

/** Changes against the first frame, and the eyes' usual openness and aperture (the medians over level frames). */
function reference(frames: ReadonlyArray<FrameSignals | null> & { 0: FrameSignals }): {
  pose: (f: FrameSignals) => { dy: number; dp: number; scale: number };
  openEyes: number;
  aperture: number;
  widestAperture: number;
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
  const levels = frames.filter((f): f is FrameSignals => f !== null && level(f));
  const apertures = levels.map((f) => f.aperture);
  return { pose, openEyes: median(levels.map((f) => f.ear)), aperture: median(apertures), widestAperture: Math.max(...apertures) };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Each frame's state, for a challenge asking `asked`. Yaw sign (src/face/types.ts): yaw > 0 when the subject turns
 * to THEIR left, i.e. the nose points to the right of the unmirrored camera image; on a mirrored kiosk preview the
 * subject sees their face turn to the screen's left. The frames must be the camera's own, not the mirrored
 * preview. Where a look-up is asked, a look-up made with the eyes is read too (see eyesLookUps); nowhere else, so
 * eyes raised unasked are never an extra action.
 */
export function frameStates(frames: ReadonlyArray<FrameSignals | null>, asked: readonly LivenessAction[] = []): FrameState[] {
  if (!frames[0]) return frames.map(() => 'no-face');
  const states = headStates(frames as ReadonlyArray<FrameSignals | null> & { 0: FrameSignals });
  return asked.includes('look-up') ? eyesLookUps(states, frames as ReadonlyArray<FrameSignals | null> & { 0: FrameSignals }, asked) : states;
}

/** Each frame's state as the head's pose and size alone show it. */
function headStates(frames: ReadonlyArray<FrameSignals | null> & { 0: FrameSignals }): FrameState[] {
  const t = ACTIVE_LIVENESS;
  const { pose } = reference(frames);
  return frames.map((f) => {
    if (!f) return 'no-face';
    const { dy, dp, scale } = pose(f);
    if (dy >= t.turnYaw) return 'turn-left';
    if (dy <= -t.turnYaw) return 'turn-right';
    if (dp <= t.lookUpPitch) return 'look-up';
    if (Math.abs(dy) >= t.neutralYaw || Math.abs(dp) >= t.neutralPitch) return 'between';
    if (scale >= t.closerScale) return 'come-closer';
    if (scale >= t.neutralScale) return 'between';
    return 'neutral';
  });
}

/**
 * `states` with each look-up made mostly with the eyes read as one: every excursion from neutral (frames in no
 * neutral state or raised as below, between neutral ones) in which the head is lifted by eyesLookUpPitch or more
 * in a frame whose eyes are opened wider than in any level frame and eyesWidening times their usual aperture or
 * more, and in which the head is nowhere lifted as far as a look-up of the head (lookUpPitch) and makes no other
 * asked move (those excursions are read from the pose, as they always were), becomes a look-up in every frame with a face: the turn or the partial
 * lift that came with the eyes is part of it, not another action.
 */
function eyesLookUps(states: readonly FrameState[], frames: ReadonlyArray<FrameSignals | null> & { 0: FrameSignals }, asked: readonly LivenessAction[]): FrameState[] {
  const t = ACTIVE_LIVENESS;
  const { pose, aperture, widestAperture } = reference(frames);
  const raised = (i: number): boolean => {
    const f = frames[i];
    return !!f && pose(f).dp <= t.eyesLookUpPitch && f.aperture >= t.eyesWidening * aperture && f.aperture > widestAperture;
  };
  // A head lifted 4° and no more, turned less than 6°, is in no move: such a frame is one of the excursion.
  const away = (i: number): boolean => states[i] !== 'neutral' || raised(i);
  const out = [...states];
  for (let from = 0; from < states.length;) {
    if (!away(from)) {
      from++;
      continue;
    }
    let to = from;
    while (to + 1 < states.length && away(to + 1)) to++;
    const span = Array.from({ length: to - from + 1 }, (_, k) => from + k);
    const headLookUp = span.some((i) => !!frames[i] && pose(frames[i]!).dp <= t.lookUpPitch);
    // An asked move stays that move: rendered heads turning as asked lift 4–9° and read wider eyes (seed 34).
    const askedMove = span.some((i) => states[i] !== 'look-up' && asked.includes(states[i] as LivenessAction));
    if (span.some(raised) && !headLookUp && !askedMove) for (const i of span) if (states[i] !== 'no-face') out[i] = 'look-up';
    from = to + 1;
  }
  return out;
}

/**
 * How open each frame's eyes are as a fraction of their usual openness (the median over level frames), for
 * frames whose head is in no move (state 'neutral' or 'between') and not lowered by `neutralPitch` or more; null
 * for the others, whose eyelids the pose distorts. A head lowered narrows the eyes as seen from the camera, so it
 * could pass for closing them; a head turned or lifted less than an action only widens them (the lid opening is
 * over the eye's width, which a turn shortens), and a talking head nods a few degrees up while it blinks.
 */
function eyeClosure(states: readonly FrameState[], frames: ReadonlyArray<FrameSignals | null>): Array<number | null> {
  if (!frames[0]) return frames.map(() => null);
  const { pose, openEyes } = reference(frames as ReadonlyArray<FrameSignals | null> & { 0: FrameSignals });
  const readable = (f: FrameSignals, state: FrameState): boolean => (state === 'neutral' || state === 'between') && pose(f).dp < ACTIVE_LIVENESS.neutralPitch;
  return frames.map((f, i) => (f && readable(f, states[i]!) && openEyes > 0 ? f.ear / openEyes : null));
}

/**
 * Whether the eyes close in frame `i` (`closure`: eyeClosure's reading; `times`: capture times, ms): down to
 * blinkRatio of open, or a brief dip down to dipRatio with the eyes open (dipOpenRatio) within dipRecoveryMs on
 * both sides.
 */
function closing(i: number, closure: ReadonlyArray<number | null>, times: readonly number[]): boolean {
  const t = ACTIVE_LIVENESS;
  const c = closure[i];
  if (c === null || c === undefined) return false;
  if (c <= t.blinkRatio) return true;
  if (c > t.dipRatio) return false;
  const openWithin = (step: 1 | -1): boolean => {
    for (let j = i + step; j >= 0 && j < closure.length && Math.abs(times[j]! - times[i]!) <= t.dipRecoveryMs; j += step) {
      if ((closure[j] ?? 0) >= t.dipOpenRatio) return true;
    }
    return false;
  };
  return openWithin(-1) && openWithin(1);
}

/** One performed action: the frames it spans and the frame at its height; for closed eyes, how far they closed. */
export interface ActionRun {
  action: LivenessAction;
  first: number;
  last: number;
  peak: number;
  /** Blinks only: the least eye openness of the run, as a fraction of open. */
  closure?: number;
  /**
   * Blinks only, when some of its frames show the head lifted or turned rather than level: such a run may
   * answer an asked blink but is never taken for eyes shut on purpose (a rendered head coming down from a
   * look-up narrows its eyes for 400 ms; bench/liveness-active.ts, seed 24).
   */
  tilted?: true;
}

/**
 * The actions performed, in order of their first frame: the head's moves (see moveRuns) and the times the eyes
 * were closed with the head in no move (see eyeClosure and closing, in consecutive such frames; `times`: the
 * frames' capture times, ms). The two are read apart, so eyes narrowing mid-turn or a smile between moves never
 * breaks a move.
 */
export function performedActions(states: readonly FrameState[], frames: ReadonlyArray<FrameSignals | null>, times: readonly number[]): ActionRun[] {
  const closure = eyeClosure(states, frames);
  const blinks: ActionRun[] = [];
  let open: ActionRun | null = null;
  states.forEach((state, i) => {
    if (state === 'no-face') return;
    const c = closure[i]!;
    if (!closing(i, closure, times)) {
      open = null;
      return;
    }
    if (open && c < open.closure!) {
      open.peak = i;
      open.closure = c;
    }
    if (open) open.last = i;
    else blinks.push((open = { action: 'blink', first: i, last: i, peak: i, closure: c }));
    if (state !== 'neutral') open.tilted = true;
  });
  return [...moveRuns(states, frames), ...blinks].sort((a, b) => a.first - b.first);
}

/** How far a move may go and still be in no move, in that move's own units (see moveHeight). */
const NEUTRAL_BAND: Record<Move, number> = {
  'turn-left': ACTIVE_LIVENESS.neutralYaw,
  'turn-right': ACTIVE_LIVENESS.neutralYaw,
  'look-up': ACTIVE_LIVENESS.neutralPitch,
  'come-closer': ACTIVE_LIVENESS.neutralScale - 1,
};

/** How far frame `i` is into `action` against the first frame, in that action's own units (degrees, or the face's size less 1). */
function moveHeight(frames: ReadonlyArray<FrameSignals | null> & { 0: FrameSignals }): (action: Move, i: number) => number {
  const { pose } = reference(frames);
  return (action, i) => {
    const { dy, dp, scale } = pose(frames[i]!);
    switch (action) {
      case 'turn-left':
        return dy;
      case 'turn-right':
        return -dy;
      case 'look-up':
        return -dp;
      case 'come-closer':
        return scale - 1;
    }
  };
}

/**
 * The head's moves, in order: each a run of frames in that move's state that starts from neutral and comes back
 * on its own axis, whatever the other signals do meanwhile: a talking face moves its pitch while it turns. Back
 * means within the neutral band, or at least `returnFraction` of the way back from the move's height: a real head
 * seldom comes back exactly where it started (a real turn of 28° came back to 10°). Frames without a face are
 * passed over.
 */
function moveRuns(states: readonly FrameState[], frames: ReadonlyArray<FrameSignals | null>): ActionRun[] {
  const t = ACTIVE_LIVENESS;
  if (!frames[0]) return [];
  const height = moveHeight(frames as ReadonlyArray<FrameSignals | null> & { 0: FrameSignals });
  const back = (run: ActionRun & { action: Move }, i: number): boolean => height(run.action, i) < Math.max(NEUTRAL_BAND[run.action], (1 - t.returnFraction) * height(run.action, run.peak));
  const runs: Array<ActionRun & { action: Move }> = [];
  // The challenge's actions are distinct: a move done twice in a row (a noisy reading dipping into the neutral
  // band mid-action, or a person repeating it) is one.
  const keep = (run: ActionRun & { action: Move }): void => {
    const previous = runs.at(-1);
    if (previous && previous.action === run.action) {
      previous.last = run.last;
      if (height(run.action, run.peak) > height(previous.action, previous.peak)) previous.peak = run.peak;
    } else {
      runs.push(run);
    }
  };
  let fromNeutral = false;
  let open: (ActionRun & { action: Move }) | null = null as (ActionRun & { action: Move }) | null;
  states.forEach((state, i) => {
    if (state === 'no-face') return;
    if (open && state !== open.action && back(open, i)) {
      if (fromNeutral) keep(open);
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
      if (height(open.action, i) > height(open.action, open.peak)) open.peak = i;
      return;
    }
    // Into another move before this one came back: neither counts.
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
  let dx = 0,
    dy = 0;
  for (const i of NOSE_TIP) {
    const predicted = applyHomography(h, a.mesh[i]!);
    dx += (b.mesh[i]!.x - predicted.x) / NOSE_TIP.length;
    dy += (b.mesh[i]!.y - predicted.y) / NOSE_TIP.length;
  }
  const along = action === 'turn-left' ? dx : action === 'turn-right' ? -dx : action === 'look-up' ? -dy : Math.hypot(dx, dy);
  return along / a.interEye;
}

/** The face's size in the mesh: the distance between its eye centres, and its height (its outline's extent across the eye line). */
function faceSize(f: FrameSignals): { width: number; height: number } {
  const centre = (i: number, j: number): { x: number; y: number } => ({ x: (f.mesh[i]!.x + f.mesh[j]!.x) / 2, y: (f.mesh[i]!.y + f.mesh[j]!.y) / 2 });
  const right = centre(33, 133),
    left = centre(263, 362);
  const width = Math.hypot(left.x - right.x, left.y - right.y);
  const across = FACE_OVAL.map((i) => (f.mesh[i]!.y * (left.x - right.x) - f.mesh[i]!.x * (left.y - right.y)) / width);
  return { width, height: Math.max(...across) - Math.min(...across) };
}

/** The detector reads about two thirds of a head's turn (a head rendered 30° turned reads about 20°). */
const TURN_UNDER_READ = 1.5;

/**
 * Frame `b`'s face area (eye distance times height, in the mesh) over the area frame `a`'s face keeps when turned
 * and tipped as far as read: a turn narrows a head by the cosine of its real yaw (`TURN_UNDER_READ` times the
 * read change; beyond 60° read nothing is asked) and leaves its height, a look-up the other way round. About 1 for
 * a head, less for a face that shrank.
 */
export function keptArea(a: FrameSignals, b: FrameSignals): number {
  const [from, to] = [faceSize(a), faceSize(b)];
  const turn = Math.min(90, TURN_UNDER_READ * Math.abs(b.yaw - a.yaw));
  const kept = Math.cos(turn * RADIANS) * Math.cos((b.pitch - a.pitch) * RADIANS);
  return (to.width * to.height) / (kept * from.width * from.height);
}

/**
 * Whether the mesh alone shows frame `b`, at the height of `action`, to be frame `a`'s picture moved (see `flat`):
 * too little nose parallax, or, at a turn, a face that shrank more than a head turned as far as read does with
 * less parallax than a head turned far enough to shrink so shows (`minKeptArea`, `minShrunkParallax`): the mesh
 * reading a print turned far, part of it hidden by its curl, as a small face. Not at a look-up: a tipped print is
 * caught by the other tests (docs/liveness.md).
 */
export function flatByMesh(a: FrameSignals, b: FrameSignals, action: LivenessAction): boolean {
  const t = ACTIVE_LIVENESS;
  const nose = parallax(a, b, action);
  if (nose < t.minParallax) return true;
  return (action === 'turn-left' || action === 'turn-right') && keptArea(a, b) < t.minKeptArea && nose < t.minShrunkParallax;
}

/**
 * Whether frame `b`, at the height of `action`, could be frame `a`'s picture moved: by the mesh (too little nose
 * parallax, or a face that shrank as it turned) or by the pixels (one homography, or one curled sheet, explains
 * the face; fitted off the main thread). Both must show a head.
 */
export async function flat(a: FrameSignals, b: FrameSignals, action: LivenessAction): Promise<boolean> {
  if (flatByMesh(a, b, action)) return true;
  return !a.crop || !b.crop || explainedBySheet(await fitSheets(a.crop, b.crop));
}

/** Whether a flat or a curled sheet explains the second view (planarity.ts) closely enough to be a picture. */
export function explainedBySheet(sheet: SheetResiduals): boolean {
  return sheet.plane < ACTIVE_LIVENESS.minPlaneResidual || sheet.curled < ACTIVE_LIVENESS.minCurledResidual;
}

/**
 * How alike two frames' faces must be: a frame that must match the match frame directly (a neutral one) at
 * `same`, the deployment's operating match threshold, since the match frame is what gets identified; a turned
 * or lifted head, against the match frame or the frame before it, at `turned` (a lower grade: a turned head looks
 * less like its frontal self).
 */
export interface SameFaceCutoffs {
  same: number;
  turned: number;
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
 * The verdict on a sequence whose frames kept to their times (see timingReasons; `times` are the frames' capture
 * times, ms): faces, the actions against the challenge, the 3-D evidence, the match frame (a neutral frame, the
 * most frontal one, preferably between the first and last action) and one face throughout. The match frame
 * must carry its embedding; frames without one are not compared (see SequenceReading.keyFrames).
 *
 * A single frame whose face is unlike both its neighbours while they are like each other (a detector glitch
 * mid-turn, or one frame of another face) is set aside like a frame without a face, and the sequence judged
 * again without it: it then counts for nothing, neither as an action nor as the match frame.
 */
export async function judgeSequence(challenge: LivenessChallenge, signals: ReadonlyArray<FrameSignals | null>, times: readonly number[], cutoffs: SameFaceCutoffs): Promise<LivenessVerdict> {
  // The flatness of a peak frame against the first does not change when another frame is set aside, and the
  // pixel test is the judgement's one costly step: each peak is tested once.
  const flatness = new Map<string, Promise<boolean>>();
  const flatAt = (peak: number, action: LivenessAction): Promise<boolean> => {
    const key = `${peak}:${action}`;
    if (!flatness.has(key)) flatness.set(key, flat(signals[0]!, signals[peak]!, action));
    return flatness.get(key)!;
  };
  const first = await judgeOnce(challenge, signals, times, cutoffs, flatAt);
  const isolated = first.unlike.length > 0 && first.unlike.every((i) => isolatedFrame(i, first.unlike, signals, cutoffs.turned));
  if (!isolated) return first.verdict;
  const kept = signals.map((s, i) => (first.unlike.includes(i) ? null : s));
  return (await judgeOnce(challenge, kept, times, cutoffs, flatAt)).verdict;
}

/**
 * What a sequence's frames show before any face is compared or any flatness fitted: the refusals its motion
 * alone earns (faces missing, actions missing, extra or out of order, abrupt jumps), the actions performed, the
 * frame to be matched, and the frames the same-face test compares first (`keyFrames`): the first frame (the
 * flatness test's reference), the height of every move that answers the challenge (a turn's or look-up's is the
 * 3-D evidence; not a move passed over as a talking head's jerk), every frame of the eyes closing, and every
 * frame the match frame is chosen from (the neutral frames with open eyes between the first action and the last,
 * or all of them when there are none there), each compared with it directly, and every other frame that neither
 * an asked move nor a still moment explains (see unexplainedFrames). Those bind the matched face to the evidence;
 * the other frames (the still moments before and after, the way into and out of each asked move) are compared
 * only when the key frames alone do not show one face (a head turned far from the camera is like its frontal
 * self only through its neighbours).
 */
export interface SequenceReading {
  reasons: LivenessReason[];
  states: FrameState[];
  runs: ActionRun[];
  matchFrame: number | null;
  keyFrames: number[];
}

export function readSequence(challenge: LivenessChallenge, signals: ReadonlyArray<FrameSignals | null>, times: readonly number[]): SequenceReading {
  const t = ACTIVE_LIVENESS;
  const reasons = new Set<LivenessReason>();
  const faceless = signals.filter((s) => s === null).length;
  if (!signals[0] || faceless > t.maxFacelessFraction * signals.length) reasons.add('LIVENESS_NO_FACE');
  const states = signals[0] ? frameStates(signals, challenge.actions) : signals.map((): FrameState => 'no-face');
  const runs = signals[0] ? performedActions(states, signals, times) : [];
  for (const reason of sequenceReasons(challenge.actions, runs, times)) reasons.add(reason);
  // At least one move's allowance: a real head nods while talking, whatever it was asked (a challenge issued by
  // the server always asks for a move; a blink alone is asked only from the command line).
  const moves = Math.max(1, challenge.actions.filter((a) => a !== 'blink').length);
  if (abruptChanges(signals) > t.maxAbruptChangesPerMove * moves) reasons.add('LIVENESS_WRONG_ORDER');
  const closure = eyeClosure(states, signals);
  // Every frame that could have been the match frame is compared with it (a face spliced in there is not it).
  const candidates = matchCandidates((i) => steadyFrame(i, states, closure), signals, runs);
  const matchFrame = chooseMatchFrame(candidates, signals);
  if (matchFrame === null) reasons.add('LIVENESS_NO_FACE');
  const answering = answeringMoves(challenge.actions, runs, times) ?? runs.filter((r) => r.action !== 'blink');
  // Each move's height, and the frame its 3-D evidence is read from where that is another (a look-up made with the eyes and a turn: evidenceOf).
  const moveHeights = answering.flatMap((r) => [r.peak, evidenceOf(r, signals)?.frame ?? r.peak]);
  // Every frame of closed eyes, asked for or not, is compared: closed eyes are no neutral frame, so another face
  // whose eyes read narrower than the person's would otherwise make up a "blink" nobody compares
  // (bench/liveness-active.ts, seeds 24 and 27).
  const blinkFrames = runs.filter((r) => r.action === 'blink').flatMap((r) => Array.from({ length: r.last - r.first + 1 }, (_, k) => r.first + k));
  const keyFrames = [...new Set([0, ...candidates, ...moveHeights, ...blinkFrames, ...unexplainedFrames(answering, runs, states, signals)])].filter((i) => signals[i]);
  return { reasons: [...reasons], states, runs, matchFrame, keyFrames };
}

/**
 * The frames with a face that neither an asked move nor a still moment explains: all but the way into, through
 * and out of each move that answers the challenge (`answering`: its frames, and those beside them leaning the
 * same way on its own axis beyond the neutral band), and the neutral frames before the first action and after
 * the last. A head leaning in or nodding between the asked moves, a move passed over as a jerk, eyes narrowed
 * but not closing: each is compared too, for another face spliced in there is read as just such a frame (the
 * spliced frames of bench/liveness-active.ts, seed 29, read as a head 1.1–1.2× nearer, in no move, and went
 * uncompared). The frames left out cost an embedding each and show nothing the decision rests on: the matched
 * face is bound to the first frame, every frame it is chosen from and every move's height.
 */
function unexplainedFrames(answering: ReadonlyArray<ActionRun>, runs: readonly ActionRun[], states: readonly FrameState[], signals: ReadonlyArray<FrameSignals | null>): number[] {
  if (!signals[0]) return [];
  const height = moveHeight(signals as ReadonlyArray<FrameSignals | null> & { 0: FrameSignals });
  const explained = new Set<number>();
  for (const r of answering) {
    const move = r.action as Move;
    const leaning = (i: number): boolean => !signals[i] || (states[i] !== 'neutral' && height(move, i) >= NEUTRAL_BAND[move]);
    let from = r.first,
      to = r.last;
    while (from > 0 && leaning(from - 1)) from--;
    while (to < signals.length - 1 && leaning(to + 1)) to++;
    for (let i = from; i <= to; i++) explained.add(i);
  }
  const first = runs[0]?.first ?? 0;
  const last = runs.at(-1)?.last ?? signals.length - 1;
  return signals.flatMap((s, i) => (s && !explained.has(i) && !(states[i] === 'neutral' && (i < first || i > last)) ? [i] : []));
}

/** A neutral frame with the eyes open: the match frame is one of them, and each must match it directly. */
function steadyFrame(i: number, states: readonly FrameState[], closure: ReadonlyArray<number | null>): boolean {
  return states[i] === 'neutral' && closure[i]! > ACTIVE_LIVENESS.blinkRatio;
}

async function judgeOnce(
  challenge: LivenessChallenge,
  signals: ReadonlyArray<FrameSignals | null>,
  times: readonly number[],
  cutoffs: SameFaceCutoffs,
  flatAt: (peak: number, action: LivenessAction) => Promise<boolean>,
): Promise<{ verdict: LivenessVerdict; unlike: number[] }> {
  const { reasons: motion, states, runs, matchFrame } = readSequence(challenge, signals, times);
  const reasons = new Set<LivenessReason>(motion);
  // The 3-D evidence is asked of the moves that answer the challenge; a talking head's brief jerk is not one.
  const poseRuns = (answeringMoves(challenge.actions, runs, times) ?? runs).filter((r) => POSE_ACTIONS.includes(r.action));
  if (signals[0] && (poseRuns.length === 0 || (await someFlat(poseRuns, signals, flatAt)))) reasons.add('LIVENESS_FLAT_FACE');

  const closure = eyeClosure(states, signals);
  const steady = (i: number): boolean => steadyFrame(i, states, closure);
  let unlike: number[] = [];
  if (matchFrame !== null) {
    unlike = changedFaces(matchFrame, signals, cutoffs, steady);
    if (unlike.length > 0) reasons.add('LIVENESS_FACE_CHANGED');
  }
  const passed = reasons.size === 0;
  const probeFrames = passed && matchFrame !== null ? rankViews(matchFrame, steady, signals) : [];
  return { verdict: { passed, reasons: [...reasons], observed: runs.map((r) => r.action), matchFrame: passed ? matchFrame : null, probeFrames }, unlike };
}

/** Whether any run's 3-D evidence (see evidenceOf) is missing or flat, testing them in turn and stopping at the first (each test is costly). */
async function someFlat(runs: readonly ActionRun[], signals: ReadonlyArray<FrameSignals | null>, flatAt: (peak: number, action: LivenessAction) => Promise<boolean>): Promise<boolean> {
  for (const r of runs) {
    const evidence = evidenceOf(r, signals);
    if (!evidence || (await flatAt(evidence.frame, evidence.action))) return true;
  }
  return false;
}

/**
 * The frame and the move in whose direction a pose run's flatness is tested: its peak, as that move; for a look-up
 * made with the eyes (its head lifted less than lookUpPitch, see eyesLookUps), the frame of the turn that came
 * with it, as that turn, where it turned as far as a turn asks (turnYaw); else null, no evidence: the head moved
 * too little for either test to tell it from a picture (at 5° a head is nearly explained by one homography), and
 * the eyes' widening is no evidence (a print's eyes read as wide in some frames: ACTIVE_LIVENESS.eyesWidening).
 */
export function evidenceOf(run: ActionRun, signals: ReadonlyArray<FrameSignals | null>): { frame: number; action: LivenessAction } | null {
  const t = ACTIVE_LIVENESS;
  if (run.action !== 'look-up' || !signals[0]) return { frame: run.peak, action: run.action };
  const { pose } = reference(signals as ReadonlyArray<FrameSignals | null> & { 0: FrameSignals });
  if (pose(signals[run.peak]!).dp <= t.lookUpPitch) return { frame: run.peak, action: run.action };
  let turned: { frame: number; dy: number } | null = null;
  for (let i = run.first; i <= run.last; i++) {
    const f = signals[i];
    const dy = f ? pose(f).dy : 0;
    if (Math.abs(dy) >= t.turnYaw && Math.abs(dy) > Math.abs(turned?.dy ?? 0)) turned = { frame: i, dy };
  }
  return turned && { frame: turned.frame, action: turned.dy > 0 ? 'turn-left' : 'turn-right' };
}

/**
 * The performed moves that answer the asked ones, in the asked order (`times`: each frame's capture time, ms), or
 * null when they do not: every asked move in order, and between and around them only moves nobody would take for
 * an action (seen beyond their threshold for less than deliberateMoveMs: a talking head's jerk). Blinks are
 * read apart (sequenceReasons).
 */
export function answeringMoves(asked: readonly LivenessAction[], runs: readonly ActionRun[], times: readonly number[]): ActionRun[] | null {
  const askedMoves = asked.filter((a) => a !== 'blink');
  const moves = runs.filter((r) => r.action !== 'blink');
  const incidental = (r: ActionRun): boolean => times[r.last]! - times[r.first]! < ACTIVE_LIVENESS.deliberateMoveMs;
  // moves[i..] against askedMoves[j..]; a brief move may answer an asked one or be passed over (a dozen moves at most).
  const match = (i: number, j: number): ActionRun[] | null => {
    if (j === askedMoves.length) return moves.slice(i).every(incidental) ? [] : null;
    if (i === moves.length) return null;
    const rest = moves[i]!.action === askedMoves[j] ? match(i + 1, j + 1) : null;
    if (rest) return [moves[i]!, ...rest];
    return incidental(moves[i]!) ? match(i + 1, j) : null;
  };
  return match(0, 0);
}

/**
 * The performed actions against the asked ones (`times`: each frame's capture time, ms). The moves must answer
 * the challenge's, in its order (answeringMoves): a move nobody asked for and held is an extra action, so a
 * recording that performs every action passes no challenge. People blink every few seconds without being asked,
 * so a blink counts only where the challenge asks for one, between the moves answering the actions asked before
 * and after it; short blinks anywhere else are ignored, eyes shut on purpose (deliberateClosureMs) when no blink
 * was asked are an extra action.
 */
export function sequenceReasons(asked: readonly LivenessAction[], runs: readonly ActionRun[], times: readonly number[]): LivenessReason[] {
  const deliberate = (r: ActionRun): boolean => times[r.last]! - times[r.first]! >= ACTIVE_LIVENESS.deliberateClosureMs;
  const shut = (r: ActionRun): boolean => r.action === 'blink' && !r.tilted && r.closure! <= ACTIVE_LIVENESS.shutRatio && deliberate(r);
  if (!asked.includes('blink') && runs.some(shut)) return ['LIVENESS_EXTRA_ACTION'];
  const answers = answeringMoves(asked, runs, times);
  if (!answers) {
    const askedMoves: LivenessAction[] = asked.filter((a) => a !== 'blink');
    const moves = runs.filter((r) => r.action !== 'blink');
    const held = moves.filter((r) => times[r.last]! - times[r.first]! >= ACTIVE_LIVENESS.deliberateMoveMs).map((r) => r.action);
    const reasons: LivenessReason[] = [];
    if (held.some((a) => !askedMoves.includes(a)) || held.length > askedMoves.length) reasons.push('LIVENESS_EXTRA_ACTION');
    if (askedMoves.some((a) => !moves.some((r) => r.action === a))) reasons.push('LIVENESS_ACTION_MISSING');
    if (reasons.length === 0) reasons.push('LIVENESS_WRONG_ORDER');
    return reasons;
  }
  const slot = asked.indexOf('blink');
  if (slot < 0) return [];
  // The moves asked before the blink are answered by answers[0 .. slot-1]; the blink must fall between the last of them and the next.
  const after = slot > 0 ? answers[slot - 1]!.last : -1;
  const before = slot < answers.length ? answers[slot]!.first : Infinity;
  const blinks = runs.filter((r) => r.action === 'blink');
  if (blinks.some((b) => b.first > after && b.last < before)) return [];
  return [blinks.length > 0 ? 'LIVENESS_WRONG_ORDER' : 'LIVENESS_ACTION_MISSING'];
}

/**
 * How many times the pose changes between consecutive frames with a face by at least one action's threshold:
 * yaw by turnYaw, pitch by lookUpPitch, or the face's size by (closerScale − 1) of the first frame's.
 */
export function abruptChanges(signals: ReadonlyArray<FrameSignals | null>): number {
  const t = ACTIVE_LIVENESS;
  const faces = signals.filter((s): s is FrameSignals => s !== null);
  let count = 0;
  for (let i = 1; i < faces.length; i++) {
    const a = faces[i - 1]!,
      b = faces[i]!;
    const size = Math.abs(b.interEye - a.interEye) / faces[0]!.interEye;
    if (Math.abs(b.yaw - a.yaw) >= t.turnYaw || Math.abs(b.pitch - a.pitch) >= -t.lookUpPitch || size >= t.closerScale - 1) count++;
  }
  return count;
}

/** Whether frame `i` stands alone: the nearest faces before and after it are shown to be one face, and alike. */
function isolatedFrame(i: number, unlike: readonly number[], signals: ReadonlyArray<FrameSignals | null>, minSimilarity: number): boolean {
  let before = i - 1,
    after = i + 1;
  while (before >= 0 && !signals[before]) before--;
  while (after < signals.length && !signals[after]) after++;
  const a = signals[before]?.embedding,
    b = signals[after]?.embedding;
  return !!a && !!b && !unlike.includes(before) && !unlike.includes(after) && similarity(a, b) >= minSimilarity;
}

/** The frames the match frame is chosen from: the steady ones between the first action and the last, else all steady ones. */
function matchCandidates(steady: (frame: number) => boolean, signals: ReadonlyArray<FrameSignals | null>, runs: readonly ActionRun[]): number[] {
  const first = runs[0]?.first ?? 0;
  const last = runs.at(-1)?.last ?? signals.length - 1;
  const neutral = signals.flatMap((_, i) => (steady(i) ? [i] : []));
  const inside = neutral.filter((i) => i > first && i < last);
  return inside.length > 0 ? inside : neutral;
}

/** The most frontal of the candidates. */
function chooseMatchFrame(candidates: readonly number[], signals: ReadonlyArray<FrameSignals | null>): number | null {
  const frontality = (i: number): number => Math.abs(signals[i]!.yaw) + Math.abs(signals[i]!.pitch);
  if (candidates.length === 0) return null;
  return candidates.reduce((best, i) => (frontality(i) < frontality(best) ? i : best));
}

/**
 * The verified sequence's views of the face for the identification probe, best first: the match frame, then
 * the other neutral frames with the eyes open (each shown to be the match frame's face directly), the most
 * frontal first and, as frontal, the larger face (more pixels between the eyes) first.
 */
function rankViews(matchFrame: number, steady: (frame: number) => boolean, signals: ReadonlyArray<FrameSignals | null>): number[] {
  const frontality = (i: number): number => Math.abs(signals[i]!.yaw) + Math.abs(signals[i]!.pitch);
  const others = signals.flatMap((s, i) => (i !== matchFrame && s?.embedding && steady(i) ? [i] : []));
  others.sort((a, b) => frontality(a) - frontality(b) || signals[b]!.interEye - signals[a]!.interEye);
  return [matchFrame, ...others];
}

/**
 * Frames with an embedding that are not shown to be the match frame's face. A frame that must match it `directly` (a
 * neutral one) must be `cutoffs.same` similar to it; any other (a turned or lifted head) `cutoffs.turned` similar
 * to it, or to the face in the frame before it on the way from the match frame if that one is shown. A head
 * turned far from the camera looks less like its frontal self than a cut-off asks (dlib, 30°+: 0.90 on a real
 * clip) but still like itself a frame earlier; every neutral frame is compared with the match frame itself, so a
 * look-alike cannot pass on the strength of one resemblance at the edge of a spliced-in stretch.
 */
export function changedFaces(matchFrame: number, signals: ReadonlyArray<FrameSignals | null>, cutoffs: SameFaceCutoffs, directly: (frame: number) => boolean = () => false): number[] {
  const reference = signals[matchFrame]?.embedding;
  if (!reference) throw new RangeError('the match frame has no embedding');
  const shown = new Set<number>([matchFrame]);
  const walk = (step: 1 | -1): void => {
    let previous = matchFrame;
    for (let i = matchFrame + step; i >= 0 && i < signals.length; i += step) {
      const embedding = signals[i]?.embedding;
      if (!embedding) continue;
      const shownAlike = directly(i)
        ? similarity(reference, embedding) >= cutoffs.same
        : similarity(reference, embedding) >= cutoffs.turned || (shown.has(previous) && similarity(signals[previous]!.embedding!, embedding) >= cutoffs.turned);
      if (shownAlike) shown.add(i);
      previous = i;
    }
  };
  walk(1);
  walk(-1);
  return signals.flatMap((f, i) => (f?.embedding && !shown.has(i) ? [i] : []));
}
