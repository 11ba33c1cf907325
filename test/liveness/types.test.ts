import { describe, expect, it } from 'vitest';
import { LIVENESS_ACTIONS, POSE_ACTIONS, randomChallengeActions } from '../../src/liveness/types.js';

/** A fixed pseudo-random source (Park-Miller), so each case is reproducible. */
function seeded(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647;
  };
}

describe('randomChallengeActions', () => {
  it('draws 2 or 3 distinct actions, always including a pose action, in varying orders', () => {
    const seen = new Set<string>();
    const lengths = new Set<number>();
    const firsts = new Set<string>();
    for (let seed = 1; seed <= 400; seed++) {
      const actions = randomChallengeActions(seeded(seed * 1_000_003));
      expect(new Set(actions).size).toBe(actions.length);
      expect(actions.length === 2 || actions.length === 3).toBe(true);
      for (const a of actions) expect(LIVENESS_ACTIONS).toContain(a);
      expect(actions.some((a) => POSE_ACTIONS.includes(a))).toBe(true);
      seen.add(actions.join());
      lengths.add(actions.length);
      firsts.add(actions[0]!);
    }
    expect(lengths).toEqual(new Set([2, 3]));
    // Every action can come first (a non-pose one too), and many different challenges occur.
    expect(firsts).toEqual(new Set(LIVENESS_ACTIONS));
    expect(seen.size).toBeGreaterThan(40);
  });

  it('is reproducible with a fixed source and unpredictable without one', () => {
    expect(randomChallengeActions(seeded(9))).toEqual(randomChallengeActions(seeded(9)));
    const draws = new Set(Array.from({ length: 50 }, () => randomChallengeActions().join()));
    expect(draws.size).toBeGreaterThan(5);
  });
});
