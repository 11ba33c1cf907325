import { describe, expect, it } from 'vitest';
import type { Embedding, Point3 } from '../../src/face/index.js';
import { FACE_OVAL } from '../../src/liveness/planarity.js';
import {
  abruptChanges,
  ACTIVE_LIVENESS,
  answeringMoves,
  changedFaces,
  evidenceOf,
  flatByMesh,
  keptArea,
  frameStates,
  judgeSequence,
  parallax,
  performedActions,
  readSequence,
  sequenceReasons,
  type ActionRun,
  type FrameSignals,
} from '../../src/liveness/sequence.js';
import type { LivenessAction } from '../../src/liveness/types.js';

/** A unit vector `degrees` away from the reference direction (its cosine similarity to it is cos(degrees)). */
function embedding(degrees: number, away = 1): Embedding {
  const vector = new Float32Array(8);
  const r = (degrees * Math.PI) / 180;
  vector[0] = Math.cos(r);
  vector[away] = Math.sin(r);
  return { model: 'test@1', vector };
}

/** A frame's signals; the mesh plays no part in these checks. */
function frame(s: Partial<FrameSignals> = {}): FrameSignals {
  return { yaw: 0, pitch: 0, ear: 0.35, aperture: 0.15, interEye: 100, mesh: [], ...s };
}

const run = (action: LivenessAction, first: number, last: number): ActionRun => ({ action, first, last, peak: first });
/** Capture times of frames 0, 1, 2, ...: five a second, as the kiosk films. */
const TIMES = Array.from({ length: 40 }, (_, i) => 300 + i * 200);

describe('sequenceReasons: the performed actions against the challenge', () => {
  it('accepts exactly the asked moves in order, and refuses missing, extra and reordered ones', () => {
    const turnThenUp = [run('turn-left', 3, 6), run('look-up', 9, 12)];
    expect(sequenceReasons(['turn-left', 'look-up'], turnThenUp, TIMES)).toEqual([]);
    expect(sequenceReasons(['look-up', 'turn-left'], turnThenUp, TIMES)).toEqual(['LIVENESS_WRONG_ORDER']);
    expect(sequenceReasons(['turn-left'], turnThenUp, TIMES)).toEqual(['LIVENESS_EXTRA_ACTION']);
    expect(sequenceReasons(['turn-left', 'look-up', 'turn-right'], turnThenUp, TIMES)).toEqual(['LIVENESS_ACTION_MISSING']);
    expect(sequenceReasons(['turn-right', 'look-up'], turnThenUp, TIMES)).toEqual(['LIVENESS_EXTRA_ACTION', 'LIVENESS_ACTION_MISSING']);
  });

  it('ignores short blinks nobody asked for (people blink every few seconds), not eyes shut on purpose', () => {
    const shut = (first: number, last: number, closure: number): ActionRun => ({ ...run('blink', first, last), closure });
    expect(sequenceReasons(['turn-left', 'look-up'], [shut(1, 1, 0.3), run('turn-left', 3, 6), shut(7, 8, 0.3), run('look-up', 9, 12)], TIMES)).toEqual([]);
    // Shut over three frames (400 ms): a recording of a challenge that asked for it. Only narrowed (a smile): not shut.
    expect(sequenceReasons(['turn-left', 'look-up'], [run('turn-left', 3, 6), shut(7, 9, 0.3), run('look-up', 11, 14)], TIMES)).toEqual(['LIVENESS_EXTRA_ACTION']);
    expect(sequenceReasons(['turn-left', 'look-up'], [run('turn-left', 3, 6), shut(7, 9, 0.8), run('look-up', 11, 14)], TIMES)).toEqual([]);
  });

  it('wants an asked blink between the moves asked before and after it', () => {
    const asked: LivenessAction[] = ['turn-left', 'blink', 'look-up'];
    expect(sequenceReasons(asked, [run('turn-left', 3, 6), run('blink', 7, 8), run('look-up', 9, 12)], TIMES)).toEqual([]);
    expect(sequenceReasons(asked, [run('blink', 1, 1), run('turn-left', 3, 6), run('look-up', 9, 12)], TIMES)).toEqual(['LIVENESS_WRONG_ORDER']);
    expect(sequenceReasons(asked, [run('turn-left', 3, 6), run('look-up', 9, 12)], TIMES)).toEqual(['LIVENESS_ACTION_MISSING']);
    // First or last in the challenge: before the first move, after the last.
    expect(sequenceReasons(['blink', 'turn-right'], [run('blink', 2, 3), run('turn-right', 5, 9)], TIMES)).toEqual([]);
    expect(sequenceReasons(['turn-right', 'blink'], [run('blink', 2, 3), run('turn-right', 5, 9)], TIMES)).toEqual(['LIVENESS_WRONG_ORDER']);
    expect(sequenceReasons(['turn-right', 'blink'], [run('turn-right', 5, 9), run('blink', 11, 12)], TIMES)).toEqual([]);
  });
});

describe('sequenceReasons: a talking head moves unasked, a recording of another challenge holds its moves', () => {
  it('passes over a move nobody asked for that is seen beyond its threshold for under deliberateMoveMs, not a held one', () => {
    // Frames 200 ms apart: one frame is 0 ms beyond the threshold, two frames 200 ms.
    expect(ACTIVE_LIVENESS.deliberateMoveMs).toBeGreaterThan(0);
    expect(ACTIVE_LIVENESS.deliberateMoveMs).toBeLessThanOrEqual(200);
    // A singer's head coming up in one frame after the asked turn (bench/liveness-real.ts).
    expect(sequenceReasons(['turn-right'], [run('turn-right', 3, 8), run('look-up', 11, 11)], TIMES)).toEqual([]);
    expect(sequenceReasons(['turn-left', 'look-up'], [run('turn-right', 1, 1), run('turn-left', 3, 6), run('look-up', 9, 12)], TIMES)).toEqual([]);
    // Held over two frames or more: an action, as a recording of another challenge performs it.
    expect(sequenceReasons(['turn-right'], [run('turn-right', 3, 8), run('look-up', 11, 12)], TIMES)).toEqual(['LIVENESS_EXTRA_ACTION']);
    expect(sequenceReasons(['turn-left', 'look-up'], [run('turn-right', 1, 2), run('turn-left', 3, 6), run('look-up', 9, 12)], TIMES)).toEqual(['LIVENESS_EXTRA_ACTION']);
  });

  it('lets a brief move answer an asked one, or be passed over when the asked one comes later', () => {
    // A quick asked turn, seen in one frame: it answers the challenge.
    expect(sequenceReasons(['turn-left', 'look-up'], [run('turn-left', 3, 3), run('look-up', 9, 12)], TIMES)).toEqual([]);
    // A brief look-up before the asked turn, then the asked look-up: the brief one is passed over.
    const runs = [run('look-up', 1, 1), run('turn-left', 3, 6), run('look-up', 9, 12)];
    expect(answeringMoves(['turn-left', 'look-up'], runs, TIMES)).toEqual([runs[1], runs[2]]);
    // Order still counts: held moves in another order than asked are refused.
    expect(sequenceReasons(['look-up', 'turn-left'], [run('turn-left', 3, 6), run('look-up', 9, 12)], TIMES)).toEqual(['LIVENESS_WRONG_ORDER']);
    expect(answeringMoves(['look-up', 'turn-left'], [run('turn-left', 3, 6), run('look-up', 9, 12)], TIMES)).toBeNull();
  });
});

describe('frameStates and performedActions: actions from pose, eyes and scale against the first frame', () => {
  it('reads a turn out and back, eyes closing and opening with the head level, and coming closer, each from and back to neutral', () => {
    const t = ACTIVE_LIVENESS;
    const frames = [
      frame(),
      frame({ yaw: t.turnYaw / 2 }),
      frame({ yaw: t.turnYaw + 5 }),
      frame({ yaw: t.turnYaw + 9, ear: 0.2 }), // eyes narrowing mid-turn are not a blink
      frame({ yaw: 2 }),
      frame({ ear: 0.35 * t.blinkRatio - 0.01 }),
      frame(),
      frame({ interEye: 100 * t.closerScale + 5 }),
      frame({ interEye: 100 * t.closerScale + 9 }),
      frame({ interEye: 100 }),
      null, // a frame without a face is passed over
      frame({ pitch: t.lookUpPitch - 4 }),
      frame({ pitch: t.lookUpPitch - 2 }),
      frame(),
    ];
    const states = frameStates(frames);
    expect(states).toEqual(['neutral', 'between', 'turn-left', 'turn-left', 'neutral', 'neutral', 'neutral', 'come-closer', 'come-closer', 'neutral', 'no-face', 'look-up', 'look-up', 'neutral']);
    expect(performedActions(states, frames, TIMES)).toEqual([
      { action: 'turn-left', first: 2, last: 3, peak: 3 },
      { action: 'blink', first: 5, last: 5, peak: 5, closure: expect.closeTo(t.blinkRatio - 0.01 / 0.35, 6) },
      { action: 'come-closer', first: 7, last: 8, peak: 8 },
      { action: 'look-up', first: 11, last: 12, peak: 11 },
    ]);
  });

  it('counts an action only when it comes back on its own axis: a head held turned, or turned and lifted at once, is no action', () => {
    const t = ACTIVE_LIVENESS;
    const held = [frame(), frame({ yaw: t.turnYaw + 3 }), frame({ yaw: t.turnYaw + 4 }), frame({ yaw: t.turnYaw + 5 })];
    expect(performedActions(frameStates(held), held, TIMES)).toEqual([]);
    const both = [
      frame(),
      frame({ yaw: t.turnYaw + 3 }),
      frame({ yaw: t.turnYaw + 4 }),
      frame({ yaw: t.turnYaw - 2, pitch: t.lookUpPitch - 5 }),
      frame({ yaw: t.turnYaw - 2, pitch: t.lookUpPitch - 6 }),
      frame(),
    ];
    expect(performedActions(frameStates(both), both, TIMES)).toEqual([]);
    // A reading dipping into the neutral band mid-turn does not make two turns of one.
    const dip = [frame(), frame({ yaw: t.turnYaw + 3 }), frame({ yaw: t.turnYaw + 4 }), frame({ yaw: t.neutralYaw - 1 }), frame({ yaw: t.turnYaw + 8 }), frame({ yaw: t.turnYaw + 2 }), frame()];
    expect(performedActions(frameStates(dip), dip, TIMES)).toEqual([{ action: 'turn-left', first: 1, last: 5, peak: 4 }]);
    // Swinging from one side through the middle to the other brings the first turn back: two actions.
    const swing = [frame(), frame({ yaw: t.turnYaw + 3 }), frame({ yaw: t.turnYaw + 4 }), frame({ yaw: -t.turnYaw - 3 }), frame({ yaw: -t.turnYaw - 4 }), frame()];
    expect(performedActions(frameStates(swing), swing, TIMES).map((r) => r.action)).toEqual(['turn-left', 'turn-right']);
  });
  it('reads the eyes while the head is lifted or turned less than an action, not while it is lowered', () => {
    const t = ACTIVE_LIVENESS;
    const closed = 0.35 * t.blinkRatio - 0.03;
    // A talking head nods a few degrees up as it blinks (a real person's, bench/liveness-real.ts).
    const lifted = [frame(), frame(), frame({ pitch: -(t.neutralPitch + 1), ear: closed }), frame(), frame()];
    expect(frameStates(lifted)[2]).toBe('between');
    expect(performedActions(frameStates(lifted), lifted, TIMES).map((r) => r.action)).toEqual(['blink']);
    // Read there, eyes closed for long are still no extra action: a head coming down from a look-up narrows them.
    const comingDown = [
      frame(),
      frame(),
      frame(),
      frame({ pitch: -(t.neutralPitch + 2), ear: 0.35 * t.shutRatio - 0.05 }),
      frame({ pitch: -(t.neutralPitch + 2), ear: 0.35 * t.shutRatio - 0.1 }),
      frame({ pitch: -(t.neutralPitch + 1), ear: 0.35 * t.shutRatio - 0.05 }),
      frame(),
      frame(),
      frame(),
    ];
    const runs = performedActions(frameStates(comingDown), comingDown, TIMES);
    expect(runs).toEqual([expect.objectContaining({ action: 'blink', first: 3, last: 5, tilted: true })]);
    expect(TIMES[5]! - TIMES[3]!).toBeGreaterThanOrEqual(t.deliberateClosureMs);
    expect(sequenceReasons(['turn-left'], runs, TIMES)).toEqual(['LIVENESS_ACTION_MISSING']);
    // Lowered, the eyes look narrower from the camera: not read.
    const lowered = [frame(), frame(), frame({ pitch: t.neutralPitch + 1, ear: closed }), frame(), frame()];
    expect(performedActions(frameStates(lowered), lowered, TIMES)).toEqual([]);
  });

  it('counts a brief dip of the eyes to dipRatio as closing when they are open on both sides of it, not eyes held narrowed', () => {
    const t = ACTIVE_LIVENESS;
    const dip = (0.35 * (t.blinkRatio + t.dipRatio)) / 2;
    expect(dip / 0.35).toBeGreaterThan(t.blinkRatio);
    // At 10 frames a second (the page's blink step), open again within dipRecoveryMs on both sides.
    const times = Array.from({ length: 8 }, (_, i) => 300 + i * 100);
    const blink = [frame(), frame(), frame(), frame({ ear: dip }), frame({ ear: 0.35 * t.dipRatio + 0.005 }), frame(), frame(), frame()];
    expect(performedActions(frameStates(blink), blink, times)).toEqual([{ action: 'blink', first: 3, last: 3, peak: 3, closure: expect.closeTo(dip / 0.35, 6) }]);
    // The same openness held (a smile, narrowed eyes): no recovery within dipRecoveryMs, no blink.
    const open = Array.from({ length: 10 }, () => frame());
    const narrowed = [...open, ...Array.from({ length: 9 }, () => frame({ ear: dip })), ...open];
    const held = Array.from({ length: narrowed.length }, (_, i) => 300 + i * 100);
    expect(performedActions(frameStates(narrowed), narrowed, held)).toEqual([]);
    // Above dipRatio, no dip counts however brief.
    const slight = blink.map((f, i) => (i === 3 ? frame({ ear: 0.35 * t.dipRatio + 0.005 }) : f));
    expect(performedActions(frameStates(slight), slight, times)).toEqual([]);
  });

  it('counts a move a real head brings back only part of the way, once it has come back at least returnFraction of it', () => {
    const t = ACTIVE_LIVENESS;
    // A real turn of 28° (read) came back to 10° and stayed there (bench/liveness-real.ts).
    const yaws = [0, t.turnYaw + 2, 22, 28, 20, 10, 10, 10];
    const partWay = yaws.map((yaw) => frame({ yaw }));
    expect(performedActions(frameStates(partWay), partWay, TIMES)).toEqual([{ action: 'turn-left', first: 1, last: 4, peak: 3 }]);
    // Less than that share of the way back, and outside the neutral band: still turned, no action yet.
    const notBack = [0, t.turnYaw + 2, 20, t.turnYaw - 1, t.turnYaw - 1].map((yaw) => frame({ yaw }));
    expect(20 * (1 - t.returnFraction)).toBeLessThan(t.turnYaw - 1);
    expect(performedActions(frameStates(notBack), notBack, TIMES)).toEqual([]);
  });
});

describe('frameStates: a look-up made mostly with the eyes, where one is asked', () => {
  const t = ACTIVE_LIVENESS;
  const wide = 0.15 * (t.eyesWidening + 0.05);
  // As bench/liveness-real.ts's one real look-up (AliaksandrSiarohin+first-order-model__10): the head lifts about
  // 5° and turns about 15° to the person's right while the eyes open wider, then comes back.
  const eyesUp = (aperture: number, pitch = t.eyesLookUpPitch - 1.5): FrameSignals[] => [
    frame(),
    frame({ aperture: 0.152 }),
    frame({ yaw: -(t.neutralYaw + 2), pitch: -3 }),
    frame({ yaw: -(t.turnYaw + 2), pitch: -3.5 }),
    frame({ yaw: -(t.turnYaw + 3), pitch, aperture }),
    frame({ yaw: -(t.turnYaw + 1), pitch, aperture }),
    frame({ yaw: -(t.neutralYaw + 1), pitch: -2 }),
    frame(),
    frame({ aperture: 0.148 }),
  ];
  const actionsOf = (frames: FrameSignals[], asked: LivenessAction[]): LivenessAction[] => performedActions(frameStates(frames, asked), frames, TIMES).map((r) => r.action);

  it('reads the excursion as one look-up, the turn that came with it included, only where a look-up is asked', () => {
    expect(actionsOf(eyesUp(wide), ['look-up'])).toEqual(['look-up']);
    expect(actionsOf(eyesUp(wide), ['look-up', 'blink'])).toEqual(['look-up']);
    // Not asked: the head's reading, a turn; eyes raised unasked are never an action of their own.
    expect(actionsOf(eyesUp(wide), ['turn-left'])).toEqual(['turn-right']);
    expect(actionsOf(eyesUp(wide), [])).toEqual(['turn-right']);
    // The turn asked too: it stays a turn (a head turning as asked may lift a little and widen its eyes).
    expect(actionsOf(eyesUp(wide), ['look-up', 'turn-right'])).toEqual(['turn-right']);
  });

  it('wants the head lifted eyesLookUpPitch, and the eyes wider than eyesWidening of their usual aperture and than any level frame', () => {
    // Too little widening (within a still print's frame-to-frame noise), or none: the turn it is.
    expect(actionsOf(eyesUp(0.15 * (t.eyesWidening - 0.03)), ['look-up'])).toEqual(['turn-right']);
    // The head not lifted enough.
    expect(actionsOf(eyesUp(wide, t.eyesLookUpPitch + 1.5), ['look-up'])).toEqual(['turn-right']);
    // A level frame already as wide: the person's own eyes vary that much.
    const noisy = eyesUp(wide);
    noisy[7] = frame({ aperture: wide + 0.001 });
    expect(actionsOf(noisy, ['look-up'])).toEqual(['turn-right']);
  });

  it('reads an unasked eye look-up with no turn as nothing, never an extra action', () => {
    const lifted = [frame(), frame(), frame({ pitch: -(t.neutralPitch + 1), aperture: wide }), frame({ pitch: -(t.neutralPitch + 1), aperture: wide }), frame(), frame()];
    expect(actionsOf(lifted, ['look-up'])).toEqual(['look-up']);
    expect(actionsOf(lifted, ['turn-left'])).toEqual([]);
    const turnThenEyes = [...lifted, frame({ yaw: t.turnYaw + 2 }), frame({ yaw: t.turnYaw + 4 }), frame(), frame()];
    const challenge = { id: 'c', nonce: 'n', actions: ['turn-left' as const], issuedAt: '2026-01-01T10:00:00Z', deadline: '2026-01-01T10:00:20Z' };
    expect(readSequence(challenge, turnThenEyes, TIMES).reasons).toEqual([]);
  });

  it('leaves a look-up of the head as it was read, and a turn made with it a turn', () => {
    const head = eyesUp(wide, t.lookUpPitch - 1);
    // The head reached the look-up: its excursion is read from the pose alone (a turn, then a look-up, neither back in between).
    expect(frameStates(head, ['look-up'])).toEqual(frameStates(head));
  });

  it('asks an eye look-up for the 3-D evidence of the turn that came with it, and finds none without one', () => {
    const frames = eyesUp(wide);
    const [lookUp] = performedActions(frameStates(frames, ['look-up']), frames, TIMES);
    // Its turn's furthest frame, tested as a turn to the right; its own peak gives a 5° lift, too little to measure.
    expect(lookUp).toMatchObject({ action: 'look-up', first: 2, last: 6 });
    expect(evidenceOf(lookUp!, frames)).toEqual({ frame: 4, action: 'turn-right' });
    const challenge = { id: 'c', nonce: 'n', actions: ['look-up' as const], issuedAt: '2026-01-01T10:00:00Z', deadline: '2026-01-01T10:00:20Z' };
    expect(readSequence(challenge, frames, TIMES).keyFrames).toContain(4);
    const still = [frame(), frame(), frame({ yaw: -3, pitch: -(t.neutralPitch + 1), aperture: wide }), frame({ pitch: -(t.neutralPitch + 2), aperture: wide }), frame(), frame()];
    const [eyesOnly] = performedActions(frameStates(still, ['look-up']), still, TIMES);
    expect(eyesOnly?.action).toBe('look-up');
    expect(evidenceOf(eyesOnly!, still)).toBeNull();
    // A head's look-up and a turn: their peaks, as before.
    expect(evidenceOf({ action: 'turn-left', first: 1, last: 3, peak: 2 }, still)).toEqual({ frame: 2, action: 'turn-left' });
  });

  it('refuses an eye look-up with no turn to measure as flat: a print can read its eyes as wide', async () => {
    const face = embedding(0);
    const still = [frame(), frame(), frame({ yaw: -3, pitch: -(t.neutralPitch + 1), aperture: wide }), frame({ pitch: -(t.neutralPitch + 2), aperture: wide }), frame(), frame(), frame()].map((f) => ({
      ...f,
      embedding: face,
    }));
    const challenge = { id: 'c', nonce: 'n', actions: ['look-up' as const, 'blink' as const], issuedAt: '2026-01-01T10:00:00Z', deadline: '2026-01-01T10:00:20Z' };
    const verdict = await judgeSequence(challenge, [...still, frame({ ear: 0.1, embedding: face }), frame({ embedding: face }), frame({ embedding: face })], TIMES, { same: 0.9, turned: 0.8 });
    expect(verdict.observed).toEqual(['look-up', 'blink']);
    expect(verdict.reasons).toEqual(['LIVENESS_FLAT_FACE']);
  });
});

describe('readSequence: the key frames are those the decision rests on', () => {
  it('embeds the heights of the moves that answer the challenge and every frame of closed eyes, asked for or not', () => {
    const t = ACTIVE_LIVENESS;
    const closed = 0.35 * t.blinkRatio - 0.05;
    // Still, eyes closed (frames 2–3: another face with narrower eyes reads so too), a turn to the left (6–8) and back.
    const frames = [
      frame(),
      frame(),
      frame({ ear: closed }),
      frame({ ear: closed }),
      frame(),
      frame(),
      frame({ yaw: t.turnYaw + 2 }),
      frame({ yaw: t.turnYaw + 6 }),
      frame({ yaw: t.turnYaw + 1 }),
      frame(),
      frame(),
      frame(),
    ];
    const challenge = (actions: LivenessAction[]) => ({ id: 'c', nonce: 'n', actions, issuedAt: '2026-01-01T10:00:00Z', deadline: '2026-01-01T10:00:20Z' });
    const turn = readSequence(challenge(['turn-left']), frames, TIMES);
    expect(turn.reasons).toEqual([]);
    expect(turn.runs.map((r) => r.action)).toEqual(['blink', 'turn-left']);
    expect(turn.keyFrames).toEqual(expect.arrayContaining([0, 2, 3, 7]));
    expect(readSequence(challenge(['blink', 'turn-left']), frames, TIMES).keyFrames).toEqual(expect.arrayContaining([0, 2, 3, 7]));
  });
});

describe('readSequence: every frame that no asked move or still moment explains is compared', () => {
  it('embeds a stretch read as a head leaning in between the asked moves (another face spliced in reads so), not the way into and out of a move or the still moments', () => {
    const t = ACTIVE_LIVENESS;
    const frames = [
      frame(),
      frame(),
      frame(),
      frame({ yaw: t.neutralYaw + 2 }), // on the way into the turn
      frame({ yaw: t.turnYaw + 2 }),
      frame({ yaw: t.turnYaw + 6 }),
      frame({ yaw: t.turnYaw + 1 }),
      frame({ yaw: t.neutralYaw + 1 }), // on the way back
      frame(),
      frame(),
      frame({ interEye: 115 }), // 10–12: nearer, in no move
      frame({ interEye: 115 }),
      frame({ interEye: 115 }),
      frame(),
      frame({ pitch: -(t.neutralPitch + 2) }), // on the way up
      frame({ pitch: t.lookUpPitch - 4 }),
      frame({ pitch: -(t.neutralPitch + 3) }), // on the way down
      frame(),
      frame(),
      frame(),
    ];
    const reading = readSequence({ id: 'c', nonce: 'n', actions: ['turn-left', 'look-up'], issuedAt: '2026-01-01T10:00:00Z', deadline: '2026-01-01T10:00:20Z' }, frames, TIMES);
    expect(reading.reasons).toEqual([]);
    expect(reading.states.slice(10, 13)).toEqual(['between', 'between', 'between']);
    expect(reading.keyFrames).toEqual(expect.arrayContaining([0, 5, 8, 9, 10, 11, 12, 13, 15]));
    for (const left of [1, 2, 3, 4, 6, 7, 14, 16, 17, 18, 19]) expect(reading.keyFrames).not.toContain(left);
  });
});

describe('judgeSequence: a real head nods while it talks', () => {
  it("allows at least one move's abrupt pose changes even when only a blink is asked", async () => {
    const t = ACTIVE_LIVENESS;
    const face = embedding(0);
    const frames = [frame(), frame(), frame({ ear: 0.1 }), frame(), frame({ pitch: -t.lookUpPitch + 1 }), frame(), frame(), frame()].map((f) => ({ ...f, embedding: face }));
    const challenge = { id: 'c', nonce: 'n', actions: ['blink' as const], issuedAt: '2026-01-01T10:00:00Z', deadline: '2026-01-01T10:00:20Z' };
    const verdict = await judgeSequence(challenge, frames, TIMES.slice(0, frames.length), { same: 0.9, turned: 0.8 });
    // One nod down and back up (two abrupt changes); a blink alone gives no 3-D evidence, so only that is refused.
    expect(abruptChanges(frames)).toBe(2);
    expect(verdict.observed).toEqual(['blink']);
    expect(verdict.reasons).toEqual(['LIVENESS_FLAT_FACE']);
  });
});

describe('abruptChanges: a head moves continuously, frames out of order jump', () => {
  it('counts a turn eased out and back as no jump, the same frames shuffled as many', () => {
    const t = ACTIVE_LIVENESS;
    const yaws = [0, 0, 5, 10, 15, 18, 18, 14, 9, 4, 0, 0, -5, -10, -15, -18, -14, -9, -4, 0];
    const smooth = yaws.map((yaw) => frame({ yaw }));
    expect(abruptChanges(smooth)).toBe(0);
    const shuffled = [0, 18, 0, -15, 5, 18, -18, 0, 15, -10, 9, -14, 0, 14, -5, 10, -9, 4, 0, -4].map((yaw) => frame({ yaw }));
    expect(abruptChanges(shuffled)).toBeGreaterThan(t.maxAbruptChangesPerMove * 2);
    // Size and pitch jump too; frames without a face are passed over.
    expect(abruptChanges([frame(), null, frame({ interEye: 100 * t.closerScale }), frame({ interEye: 100 * t.closerScale, pitch: t.lookUpPitch })])).toBe(2);
  });
});

describe('changedFaces: one face throughout, chained frame to frame', () => {
  const cut = { same: Math.cos((10 * Math.PI) / 180), turned: Math.cos((20 * Math.PI) / 180) };
  const withFaces = (angles: Array<number | null>, away: number[] = []): Array<FrameSignals | null> =>
    angles.map((a, i) => (a === null ? null : frame({ embedding: embedding(a, away.includes(i) ? 2 : 1) })));

  it('accepts a head turned far from the match frame when each frame is like the one before it', () => {
    // 0° … 45° from the match frame (frame 0) in 10–15° steps: the far frames are below the cut-off against frame 0.
    expect(changedFaces(0, withFaces([0, 12, 24, 36, 45, 30, 15, 0]), cut)).toEqual([]);
    // The chain runs both ways from a match frame in the middle, and skips frames without a face.
    expect(changedFaces(4, withFaces([36, 24, null, 12, 0, 14, 28, 40]), cut)).toEqual([]);
  });

  it('flags a face swapped in, and the frames that only resemble it, wherever it happens', () => {
    // Frames 3–4 are another face (90° away in another direction): unlike frame 2 and the match frame.
    expect(changedFaces(0, withFaces([0, 10, 10, 90, 95, 10, 0], [3, 4]), cut)).toEqual([3, 4]);
    // The match frame itself swapped: everything else is unlike it, and the chain cannot start.
    expect(changedFaces(2, withFaces([0, 5, 90, 5, 0], [2]), cut)).toEqual([0, 1, 3, 4]);
  });

  it('compares the frames that must match directly with the match frame only: no chaining a look-alike in', () => {
    // Frames 0-1 another face; frame 2 a bridge that resembles both. Chained, all are shown; compared directly, not.
    // A neutral frame 15° from the match frame is alike enough for a turned head, not for a neutral one.
    const frames = withFaces([50, 35, 20, 10, 0]);
    expect(changedFaces(4, frames, cut)).toEqual([]);
    expect(changedFaces(4, frames, cut, (i) => i < 2)).toEqual([0, 1]);
    expect(changedFaces(1, withFaces([0, 15]), cut, () => true)).toEqual([0]);
    expect(changedFaces(1, withFaces([0, 15]), cut)).toEqual([]);
  });

  it('needs the match frame to carry an embedding', () => {
    expect(() => changedFaces(1, [frame(), frame()], cut)).toThrow(RangeError);
  });
});

/**
 * A head's mesh in its own frame (x to the image's right, y down, z towards the camera; the eye centres 1 apart):
 * the outline round the face, set back at the sides, the eye corners, the forehead and the nose tip in front.
 * The other landmarks play no part in the mesh tests.
 */
function headMesh(): Point3[] {
  const mesh: Point3[] = Array.from({ length: 468 }, () => ({ x: 0, y: 0, z: 0 }));
  FACE_OVAL.forEach((i, k) => {
    const t = (2 * Math.PI * k) / FACE_OVAL.length;
    mesh[i] = { x: 1.3 * Math.sin(t), y: 0.3 - 1.7 * Math.cos(t), z: -0.9 * Math.abs(Math.sin(t)) };
  });
  mesh[33] = { x: -0.75, y: 0, z: -0.2 };
  mesh[133] = { x: -0.25, y: 0, z: -0.05 };
  mesh[362] = { x: 0.25, y: 0, z: -0.05 };
  mesh[263] = { x: 0.75, y: 0, z: -0.2 };
  mesh[151] = { x: 0, y: -1, z: 0.1 };
  mesh[1] = { x: 0, y: 0.5, z: 0.7 };
  mesh[4] = { x: 0, y: 0.4, z: 0.65 };
  return mesh;
}

/** The mesh turned by `degrees` (to the subject's left when positive), scaled by `size` and seen from the front, 100 px to the eye distance. */
function seen(mesh: readonly Point3[], degrees: number, size = 1): Point3[] {
  const c = Math.cos((degrees * Math.PI) / 180),
    s = Math.sin((degrees * Math.PI) / 180);
  return mesh.map((p) => ({ x: 320 + 100 * size * (p.x * c + p.z * s), y: 240 + 100 * size * p.y, z: 100 * size * (p.z * c - p.x * s) }));
}

describe('flatByMesh: a head keeps its size as it turns, a curled print turned far does not', () => {
  const first = frame({ mesh: seen(headMesh(), 0) });

  it('passes a head turned 30° and read as 20° (the detector under-reads a turn): its nose stands out and it keeps its size', () => {
    const turned = frame({ yaw: 20, interEye: 100 * Math.cos(Math.PI / 6), mesh: seen(headMesh(), 30) });
    expect(parallax(first, turned, 'turn-left')).toBeGreaterThan(ACTIVE_LIVENESS.minParallax);
    expect(keptArea(first, turned)).toBeGreaterThan(ACTIVE_LIVENESS.minKeptArea);
    expect(flatByMesh(first, turned, 'turn-left')).toBe(false);
  });

  it('passes a head turned 55° and read as 24°: it kept little of its area, but its nose stands out as far as that turn puts it', () => {
    const turned = frame({ yaw: 24, interEye: 100 * Math.cos((55 * Math.PI) / 180), mesh: seen(headMesh(), 55) });
    expect(keptArea(first, turned)).toBeLessThan(ACTIVE_LIVENESS.minKeptArea);
    expect(parallax(first, turned, 'turn-left')).toBeGreaterThan(ACTIVE_LIVENESS.minShrunkParallax);
    expect(flatByMesh(first, turned, 'turn-left')).toBe(false);
  });

  it("refuses a curled print turned far as the mesh read it (bench/liveness-active.ts, seed 29, Allison_Searing): narrowed to 0.61, lowered to 0.87, read 25° turned, with a head's nose parallax", () => {
    // The mesh fits the part of the face the curl leaves in view as a smaller face, its nose offset as a head's would be.
    const mesh = seen(headMesh(), 0).map((p) => ({ x: 320 + 0.61 * (p.x - 320), y: 240 + 0.87 * (p.y - 240), z: p.z }));
    for (const i of [1, 4]) mesh[i] = { ...mesh[i]!, x: mesh[i]!.x + 26 };
    const print = frame({ yaw: 25, interEye: 61, mesh });
    expect(parallax(first, print, 'turn-left')).toBeGreaterThan(ACTIVE_LIVENESS.minParallax);
    expect(flatByMesh(first, print, 'turn-left')).toBe(true);
  });
});
