import { afterEach, beforeAll, beforeEach, expect, it, vi } from 'vitest';
import { verifyChain } from '../../src/audit/trail.js';
import { createEmbedder } from '../../src/face/embedders/index.js';
import { randomChallengeActions, type CapturedFrame } from '../../src/liveness/types.js';
import type { Actor } from '../../src/services/auditing.js';
import { startMedface, type Medface } from '../../src/services/context.js';
import { checkLiveness, issueChallenge, livenessProgress, MAX_FRAME_BYTES, MAX_LIVENESS_FRAMES, MAX_PROGRESS_FRAMES } from '../../src/services/biometrics/liveness.js';
import { describeEachStore, type TestDatabase } from '../store/harness.js';
import { faceTestKit } from './fixtures.js';
import { genuineFrames, stillFrames } from './liveness-sequences.js';

/** Length of the default recogniser's embeddings. */
const DIMENSIONS = createEmbedder().dimensions;

const who: Actor = { actor: 'kiosk-user', client: 'kiosk-1' };

/** The fixed random source a test deployment injects, so that a sequence rendered in advance answers its challenges. */
const FIXED = () => 0;
const ACTIONS = randomChallengeActions(FIXED);

const kit = faceTestKit('liveness');
const { images } = kit;
/** Alice performing the test deployment's challenge, rendered from her photo. */
let leftRight: CapturedFrame[];

beforeAll(async () => {
  leftRight = await genuineFrames(kit.pool, images.alice, ACTIONS);
}, 180_000);

describeEachStore('liveness challenges and checks', (h) => {
  let db: TestDatabase;
  let medface: Medface;

  beforeEach(async () => {
    db = await h.create();
    const keyFile = kit.newKeyFile();
    medface = await startMedface(await db.open(), { keyFile, thresholdsFile: kit.thresholdsFile, faces: kit.pool, liveness: { random: FIXED } });
  });

  afterEach(async () => {
    await medface.close();
    await db.drop();
  });

  const checks = () => medface.audit.search(medface.store, { action: 'liveness.check', limit: 100 });
  const later = (iso: string, ms: number) => new Date(Date.parse(iso) + ms);

  it('issues 2–3 distinct actions from the CSPRNG, with a nonce and a deadline 20 s on', async () => {
    const plain = await startMedface(await db.open(), { keyFile: medface.templates.keyFile, thresholdsFile: kit.thresholdsFile, faces: kit.pool });
    try {
      const seen = new Set<string>();
      for (let i = 0; i < 12; i++) {
        const c = await issueChallenge(plain, { purpose: 'check-in' });
        expect(c.actions.length).toBeGreaterThanOrEqual(2);
        expect(c.actions.length).toBeLessThanOrEqual(3);
        expect(new Set(c.actions).size).toBe(c.actions.length);
        expect(Date.parse(c.deadline) - Date.parse(c.issuedAt)).toBe(20_000);
        expect(c.nonce.length).toBeGreaterThanOrEqual(20);
        seen.add(c.actions.join());
      }
      expect(seen.size).toBeGreaterThan(1);
    } finally {
      await plain.close();
    }
  });

  it('passes a genuine sequence of the asked actions and hands back the match frame’s embedding; audited without images', async () => {
    const challenge = await issueChallenge(medface, { purpose: 'check-in' });
    expect(challenge.actions).toEqual(ACTIONS);
    const result = await checkLiveness(medface, 'check-in', { challengeId: challenge.id, frames: leftRight }, who, { now: later(challenge.issuedAt, 5000) });
    expect(result.verdict).toMatchObject({ passed: true, reasons: [], observed: ACTIONS });
    expect(result.verdict.matchFrame).not.toBeNull();
    expect(result.embedding?.vector).toHaveLength(DIMENSIONS);
    const [entry] = await checks();
    expect(entry).toMatchObject({ outcome: 'success', actor: 'kiosk-user', details: { challengeId: challenge.id, purpose: 'check-in', passed: true, frames: leftRight.length } });
    expect(JSON.stringify(entry)).not.toMatch(/vector|embedding|image/i);
  }, 120_000);

  it('tells while filming which asked actions the frames so far show; the check then observes no frame again', async () => {
    const challenge = await issueChallenge(medface, { purpose: 'check-in' });
    const now = later(challenge.issuedAt, 5000);
    const observe = vi.spyOn(kit.pool, 'observe');
    const embedObserved = vi.spyOn(kit.pool, 'embedObserved');
    try {
      const answers = [];
      for (let i = 0; i < leftRight.length; i += MAX_PROGRESS_FRAMES) answers.push(await livenessProgress(medface, challenge.id, leftRight.slice(i, i + MAX_PROGRESS_FRAMES), now));
      // the still frames first: nothing seen, the first action awaited; at the end every action, in order
      expect(answers[0]).toEqual({ seen: [], awaiting: ACTIONS[0], face: true });
      expect(answers.map((a) => a.seen.length)).toEqual([...answers.map((a) => a.seen.length)].sort((a, b) => a - b));
      expect(answers.some((a) => a.seen.length === 1 && a.awaiting === ACTIONS[1])).toBe(true);
      expect(answers.at(-1)).toEqual({ seen: ACTIONS, awaiting: null, face: true });
      expect(observe.mock.calls.map(([, embed]) => embed)).toEqual(leftRight.map(() => false));
      observe.mockClear();
      const result = await checkLiveness(medface, 'check-in', { challengeId: challenge.id, frames: leftRight }, who, { now });
      expect(result.verdict).toMatchObject({ passed: true, observed: ACTIONS });
      // only the embeddings the decision needs are left to compute, of the faces observed already
      expect(observe).not.toHaveBeenCalled();
      expect(embedObserved.mock.calls.length).toBeGreaterThan(0);
      expect(embedObserved.mock.calls.length).toBeLessThan(leftRight.length / 2);
    } finally {
      observe.mockRestore();
      embedObserved.mockRestore();
    }
    // consumed: no more feedback on it; and feedback is refused for challenges the check would refuse
    await expect(livenessProgress(medface, challenge.id, leftRight.slice(0, 1), now)).rejects.toMatchObject({ code: 'CHALLENGE_USED' });
    await expect(livenessProgress(medface, '6f1c1a52-4d47-4a3c-9d8e-2b1f1d1e0c11', leftRight.slice(0, 1), now)).rejects.toMatchObject({ code: 'CHALLENGE_UNKNOWN' });
    const expired = await issueChallenge(medface, { purpose: 'check-in' });
    await expect(livenessProgress(medface, expired.id, leftRight.slice(0, 1), later(expired.deadline, 1))).rejects.toMatchObject({ code: 'CHALLENGE_EXPIRED' });
    await expect(livenessProgress(medface, expired.id, leftRight.slice(0, MAX_PROGRESS_FRAMES + 1), now)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    // feedback grants and consumes nothing
    expect((await medface.store.getLivenessChallenge(expired.id))?.consumedAt).toBeNull();
    expect((await checks()).map((e) => e.outcome)).toEqual(['success']);
  }, 240_000);

  it('refuses a second use of a challenge, and audits it', async () => {
    const challenge = await issueChallenge(medface, { purpose: 'check-in' });
    const now = later(challenge.issuedAt, 5000);
    await checkLiveness(medface, 'check-in', { challengeId: challenge.id, frames: leftRight }, who, { now });
    await expect(checkLiveness(medface, 'check-in', { challengeId: challenge.id, frames: leftRight }, who, { now })).rejects.toMatchObject({ code: 'CHALLENGE_USED', status: 410 });
    expect((await checks()).map((e) => [e.outcome, e.details.code])).toEqual([
      ['success', undefined],
      ['failure', 'CHALLENGE_USED'],
    ]);
  }, 120_000);

  it('refuses an expired challenge, using it up', async () => {
    const challenge = await issueChallenge(medface, { purpose: 'check-in' });
    const late = later(challenge.deadline, 1);
    await expect(checkLiveness(medface, 'check-in', { challengeId: challenge.id, frames: leftRight }, who, { now: late })).rejects.toMatchObject({ code: 'CHALLENGE_EXPIRED' });
    expect((await medface.store.getLivenessChallenge(challenge.id))?.consumedAt).not.toBeNull();
    expect((await checks())[0]).toMatchObject({ outcome: 'failure', details: { code: 'CHALLENGE_EXPIRED' } });
  });

  it('refuses an unknown challenge id, and one issued for another flow or patient', async () => {
    const attempt = (challengeId: string) => ({ challengeId, frames: leftRight });
    await expect(checkLiveness(medface, 'check-in', attempt('6f1c1a52-4d47-4a3c-9d8e-2b1f1d1e0c11'), who)).rejects.toMatchObject({ code: 'CHALLENGE_UNKNOWN', status: 404 });
    const portal = await issueChallenge(medface, { purpose: 'portal-sign-in' });
    await expect(checkLiveness(medface, 'check-in', attempt(portal.id), who)).rejects.toMatchObject({ code: 'CHALLENGE_UNKNOWN' });
    const forBob = await issueChallenge(medface, { purpose: 'verify', subject: 'patient-bob' });
    await expect(checkLiveness(medface, 'verify', attempt(forBob.id), who, { subject: 'patient-alice' })).rejects.toMatchObject({ code: 'CHALLENGE_UNKNOWN' });
    // refused before use: the rightful flow can still use them
    expect((await medface.store.getLivenessChallenge(portal.id))?.consumedAt).toBeNull();
    expect((await checks()).every((e) => e.outcome === 'failure' && e.details.code === 'CHALLENGE_UNKNOWN')).toBe(true);
    expect(await checks()).toHaveLength(3);
  });

  it('fails a still photo held up for the whole challenge, with reason codes in the audit trail', async () => {
    const challenge = await issueChallenge(medface, { purpose: 'check-in' });
    const result = await checkLiveness(medface, 'check-in', { challengeId: challenge.id, frames: stillFrames(images.alice) }, who, {
      now: later(challenge.issuedAt, 5000),
    });
    expect(result.verdict.passed).toBe(false);
    expect(result.verdict.reasons).toContain('LIVENESS_ACTION_MISSING');
    // the same photo as a live face passes (first test): the refusal is the still photo's, not the face's
    expect(result.embedding).toBeNull();
    const [entry] = await checks();
    expect(entry).toMatchObject({ outcome: 'failure', details: { passed: false, actions: ACTIONS, observed: [] } });
    expect(entry!.details.reasons).toContain('LIVENESS_ACTION_MISSING');
    expect((await verifyChain(medface.store)).ok).toBe(true);
  }, 120_000);

  it('refuses too many frames and oversized frames before looking at them', async () => {
    const challenge = await issueChallenge(medface, { purpose: 'check-in' });
    const many = stillFrames(images.alice, MAX_LIVENESS_FRAMES + 1);
    await expect(checkLiveness(medface, 'check-in', { challengeId: challenge.id, frames: many }, who)).rejects.toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
    const huge = [{ image: new Uint8Array(MAX_FRAME_BYTES + 1), at: 300 }, ...leftRight];
    await expect(checkLiveness(medface, 'check-in', { challengeId: challenge.id, frames: huge }, who)).rejects.toMatchObject({ code: 'IMAGE_TOO_LARGE', status: 413 });
    // the challenge was not used by malformed attempts
    expect((await medface.store.getLivenessChallenge(challenge.id))?.consumedAt).toBeNull();
    expect((await checks()).map((e) => e.details.code)).toEqual(['VALIDATION_FAILED', 'IMAGE_TOO_LARGE']);
  });
});
