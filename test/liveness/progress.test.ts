import { describe, expect, it } from 'vitest';
import { progressOf } from '../../src/liveness/progress.js';
import { ACTIVE_LIVENESS, type FrameSignals } from '../../src/liveness/sequence.js';

/** A frame's signals; the mesh plays no part in reading the actions. */
function frame(s: Partial<FrameSignals> = {}): FrameSignals {
  return { yaw: 0, pitch: 0, ear: 0.35, aperture: 0.15, interEye: 100, mesh: [], ...s };
}

/** Capture times of frames 0, 1, 2, ...: five a second, as the kiosk films. */
const TIMES = Array.from({ length: 40 }, (_, i) => 300 + i * 200);

describe('progressOf: what the frames filmed so far show of the challenge, for the page to tell the person', () => {
  const t = ACTIVE_LIVENESS;
  const turnedOut = [frame(), frame({ yaw: t.turnYaw / 2 }), frame({ yaw: t.turnYaw + 6 })];
  const back = [frame({ yaw: 2 }), frame()];

  it('counts a move as seen once it has come back, and awaits the next asked action', () => {
    expect(progressOf(['turn-left', 'look-up'], [], TIMES)).toEqual({ seen: [], awaiting: 'turn-left', face: false });
    expect(progressOf(['turn-left', 'look-up'], turnedOut, TIMES)).toEqual({ seen: [], awaiting: 'turn-left', face: true });
    expect(progressOf(['turn-left', 'look-up'], [...turnedOut, ...back], TIMES)).toEqual({ seen: ['turn-left'], awaiting: 'look-up', face: true });
    const lookedUp = [...turnedOut, ...back, frame({ pitch: t.lookUpPitch - 3 }), frame(), null];
    expect(progressOf(['turn-left', 'look-up'], lookedUp, TIMES)).toEqual({ seen: ['turn-left', 'look-up'], awaiting: null, face: false });
  });

  it('keeps the order asked: an action done before the one awaited is not seen yet', () => {
    const lookUpThenTurn = [frame(), frame({ pitch: t.lookUpPitch - 3 }), frame(), frame({ yaw: t.turnYaw + 6 }), frame()];
    expect(progressOf(['turn-left', 'look-up'], lookUpThenTurn, TIMES)).toEqual({ seen: ['turn-left'], awaiting: 'look-up', face: true });
    // a blink the person made unasked before the turn is not the blink asked after it
    const blinkThenTurn = [frame(), frame({ ear: 0.35 * t.blinkRatio - 0.05 }), frame(), frame({ yaw: -t.turnYaw - 6 }), frame()];
    expect(progressOf(['turn-right', 'blink'], blinkThenTurn, TIMES)).toEqual({ seen: ['turn-right'], awaiting: 'blink', face: true });
  });

  it('sees a look-up made with the eyes as the check does, where one is asked', () => {
    const wide = 0.15 * (t.eyesWidening + 0.05);
    const eyesUp = [frame(), frame({ yaw: -(t.turnYaw + 3), pitch: t.eyesLookUpPitch - 1, aperture: wide }), frame({ yaw: -2 }), frame()];
    expect(progressOf(['look-up', 'blink'], eyesUp, TIMES)).toEqual({ seen: ['look-up'], awaiting: 'blink', face: true });
  });

  it('sees nothing while the first frame shows no face (every move is read against it)', () => {
    expect(progressOf(['turn-left', 'look-up'], [null, ...turnedOut, ...back], TIMES)).toEqual({ seen: [], awaiting: 'turn-left', face: true });
  });
});
