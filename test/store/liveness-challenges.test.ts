import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import type { LivenessChallengeRow } from '../../src/store/types.js';
import { describeEachFreshStore } from './harness.js';

function challenge(over: Partial<LivenessChallengeRow> = {}): LivenessChallengeRow {
  const issued = Date.parse('2026-05-01T10:00:00.000Z');
  return {
    id: randomUUID(),
    nonce: 'n-' + randomUUID(),
    actions: ['turn-left', 'blink'],
    purpose: 'check-in',
    subject: null,
    issuedAt: new Date(issued).toISOString(),
    deadline: new Date(issued + 20_000).toISOString(),
    consumedAt: null,
    ...over,
  };
}

describeEachFreshStore('liveness challenges', (fresh) => {
  it('stores a challenge and reads it back as issued', async () => {
    const row = challenge({ subject: randomUUID(), actions: ['look-up', 'turn-right', 'come-closer'] });
    await fresh.store.insertLivenessChallenge(row);
    expect(await fresh.store.getLivenessChallenge(row.id)).toEqual(row);
    expect(await fresh.store.getLivenessChallenge(randomUUID())).toBeNull();
  });

  it('is consumed once: a second consumption is refused', async () => {
    const row = challenge();
    await fresh.store.insertLivenessChallenge(row);
    const at = '2026-05-01T10:00:05.000Z';
    expect(await fresh.store.consumeLivenessChallenge(row.id, at)).toBe(true);
    expect(await fresh.store.consumeLivenessChallenge(row.id, '2026-05-01T10:00:06.000Z')).toBe(false);
    expect((await fresh.store.getLivenessChallenge(row.id))?.consumedAt).toBe(at);
    expect(await fresh.store.consumeLivenessChallenge(randomUUID(), at)).toBe(false);
  });

  it('lets exactly one of many concurrent consumers win', async () => {
    const row = challenge();
    await fresh.store.insertLivenessChallenge(row);
    const results = await Promise.all(Array.from({ length: 8 }, () => fresh.store.consumeLivenessChallenge(row.id, new Date().toISOString())));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('purges challenges past their deadline, keeping the others', async () => {
    const old = challenge({ issuedAt: '2026-05-01T09:00:00.000Z', deadline: '2026-05-01T09:00:20.000Z' });
    const current = challenge();
    await fresh.store.insertLivenessChallenge(old);
    await fresh.store.insertLivenessChallenge(current);
    expect(await fresh.store.deleteLivenessChallengesBefore('2026-05-01T10:00:00.000Z')).toBe(1);
    expect(await fresh.store.getLivenessChallenge(old.id)).toBeNull();
    expect(await fresh.store.getLivenessChallenge(current.id)).not.toBeNull();
  });

  it('refuses a deadline that is not after the issue time', async () => {
    await expect(fresh.store.insertLivenessChallenge(challenge({ deadline: '2026-05-01T10:00:00.000Z' }))).rejects.toThrow();
  });
});
