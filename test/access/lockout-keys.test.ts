import { expect, it } from 'vitest';
import { accountSubject, addressSubject, blockedNow, DEFAULT_THROTTLE, recordFailure } from '../../src/access/lockout.js';
import { describeEachStore } from '../store/harness.js';

/**
 * A throttle key comes back from the store exactly as counted, whatever was typed: a name holding a lone
 * surrogate (not Unicode; stored as U+FFFD) once read back as another key, matched no subject, and the sign-in
 * after the first delay failed with a TypeError (found by the fuzz, bench/fuzz.ts).
 */
describeEachStore('sign-in throttle keys', (harness) => {
  it('blocks a name that is not well-formed Unicode like any other', async () => {
    const db = await harness.create();
    const store = await db.open();
    try {
      const now = new Date('2026-01-01T00:00:00Z');
      const subjects = [accountSubject('ghost\uD800 name'), addressSubject('192.0.2.1\uDC00')];
      expect(subjects.map((s) => s.key)).toEqual(['account:ghost\uFFFD name', 'address:192.0.2.1\uFFFD']);
      for (let i = 0; i < DEFAULT_THROTTLE.account.freeFailures + 1; i++) await recordFailure(store, subjects[0]!, DEFAULT_THROTTLE, now);
      const blocked = await blockedNow(store, subjects, DEFAULT_THROTTLE, now);
      expect(blocked?.subject).toEqual(subjects[0]);
      expect(blocked?.until.getTime()).toBe(now.getTime() + DEFAULT_THROTTLE.account.baseDelayMs);
    } finally {
      await store.close();
      await db.drop();
    }
  });
});
