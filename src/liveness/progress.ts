/**
 * Live feedback while a challenge is filmed: which of its actions the frames filmed so far show, read by the
 * check's own rules (sequence.ts), so that the page can tell the person what was seen and what is still awaited,
 * and move on to the next action as soon as one is seen. Feedback only: the check on the whole sequence decides.
 */
import { frameStates, performedActions, type FrameSignals } from './sequence.js';
import type { LivenessAction } from './types.js';

export interface LivenessProgress {
  /** The challenge's actions seen so far, in the challenge's order (a move counts once it has come back). */
  seen: LivenessAction[];
  /** The first asked action not seen yet; null once every one was. */
  awaiting: LivenessAction | null;
  /** Whether the latest frame shows a face. */
  face: boolean;
}

/** What `signals` (the frames filmed so far, in capture order; `times`: their capture times, ms) show of `asked`, in the order asked. */
export function progressOf(asked: readonly LivenessAction[], signals: ReadonlyArray<FrameSignals | null>, times: readonly number[]): LivenessProgress {
  const observed = signals[0] ? performedActions(frameStates(signals, asked), signals, times).map((r) => r.action) : [];
  const seen: LivenessAction[] = [];
  let from = 0;
  for (const action of asked) {
    const at = observed.indexOf(action, from);
    if (at < 0) break;
    seen.push(action);
    from = at + 1;
  }
  return { seen, awaiting: asked[seen.length] ?? null, face: !!signals.at(-1) };
}
