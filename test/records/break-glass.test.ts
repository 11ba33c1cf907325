import { beforeEach, expect, it } from 'vitest';
import { activeBreakGlassGrant, breakGlassReviewQueue, DEFAULT_BREAK_GLASS_MINUTES, openBreakGlassGrant, readBreakGlassGrant, reviewBreakGlassGrant } from '../../src/records/break-glass.js';
import { createPatient } from '../../src/records/patient.js';
import { describeEachFreshStore } from '../store/harness.js';

const MINUTE = 60_000;
const REASON = 'Unresponsive after road accident, no ID; need allergies before sedation';

describeEachFreshStore('break-glass grants', (fresh) => {
  let patientId: string;
  let otherPatientId: string;

  beforeEach(async () => {
    patientId = (await createPatient(fresh.store, { resourceType: 'Patient', name: [{ family: 'Unknown' }] })).id as string;
    otherPatientId = (await createPatient(fresh.store, { resourceType: 'Patient', name: [{ family: 'Other' }] })).id as string;
  });

  it('refuses to break the glass without a real reason, and for an unknown patient', async () => {
    for (const reason of [undefined, '', '   \n\t ', 'urgent', 'e  m  e  r', ' '.repeat(40) + 'ER' + ' '.repeat(40)]) {
      await expect(openBreakGlassGrant(fresh.store, { userId: 'er-1', patientId, reason: reason as string })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { issues: [{ path: 'reason' }] },
      });
    }
    await expect(openBreakGlassGrant(fresh.store, { userId: 'er-1', patientId, reason: 'x'.repeat(1001) })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    for (const minutes of [0, -5, 1.5, 12 * 60 + 1]) {
      await expect(openBreakGlassGrant(fresh.store, { userId: 'er-1', patientId, reason: REASON, minutes })).rejects.toMatchObject({
        details: { issues: [{ path: 'minutes' }] },
      });
    }
    await expect(openBreakGlassGrant(fresh.store, { userId: 'er-1', patientId: 'nobody', reason: REASON })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await breakGlassReviewQueue(fresh.store, 'all')).toEqual([]);
  });

  it('grants access for the default hour (or as configured) to that user and patient only, then expires', async () => {
    const t0 = new Date('2024-06-01T03:00:00.000Z');
    const grant = await openBreakGlassGrant(fresh.store, { userId: 'er-1', patientId, reason: `  ${REASON}\n`, client: '10.1.2.3', now: t0 });
    expect(grant).toMatchObject({
      userId: 'er-1',
      patientId,
      reason: REASON,
      client: '10.1.2.3',
      grantedAt: t0.toISOString(),
      expiresAt: new Date(t0.getTime() + DEFAULT_BREAK_GLASS_MINUTES * MINUTE).toISOString(),
      reviewStatus: 'pending',
    });
    expect(await readBreakGlassGrant(fresh.store, grant.id)).toEqual(grant);

    const at = (minutes: number) => new Date(t0.getTime() + minutes * MINUTE);
    expect((await activeBreakGlassGrant(fresh.store, 'er-1', patientId, at(0)))?.id).toBe(grant.id);
    expect((await activeBreakGlassGrant(fresh.store, 'er-1', patientId, at(59.99)))?.id).toBe(grant.id);
    expect(await activeBreakGlassGrant(fresh.store, 'er-1', patientId, at(60))).toBeNull();
    expect(await activeBreakGlassGrant(fresh.store, 'er-1', patientId, at(-1))).toBeNull();
    expect(await activeBreakGlassGrant(fresh.store, 'er-2', patientId, at(1))).toBeNull();
    expect(await activeBreakGlassGrant(fresh.store, 'er-1', otherPatientId, at(1))).toBeNull();

    // a second, longer grant is the one in force while both are
    const longer = await openBreakGlassGrant(fresh.store, { userId: 'er-1', patientId, reason: REASON, minutes: 120, now: at(30) });
    expect((await activeBreakGlassGrant(fresh.store, 'er-1', patientId, at(45)))?.id).toBe(longer.id);
    expect((await activeBreakGlassGrant(fresh.store, 'er-1', patientId, at(149)))?.id).toBe(longer.id);
    expect(await activeBreakGlassGrant(fresh.store, 'er-1', patientId, at(150))).toBeNull();
    await expect(readBreakGlassGrant(fresh.store, 'missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('queues every grant for review; a review records reviewer, time and note once', async () => {
    const t0 = new Date('2024-06-01T03:00:00.000Z');
    const first = await openBreakGlassGrant(fresh.store, { userId: 'er-1', patientId, reason: REASON, now: t0 });
    const second = await openBreakGlassGrant(fresh.store, { userId: 'er-2', patientId: otherPatientId, reason: REASON, now: new Date(t0.getTime() + MINUTE) });
    expect((await breakGlassReviewQueue(fresh.store)).map((g) => g.id)).toEqual([first.id, second.id]);

    await expect(reviewBreakGlassGrant(fresh.store, { grantId: first.id, reviewerId: 'po-1', note: '  ' })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { issues: [{ path: 'note' }] },
    });
    await expect(reviewBreakGlassGrant(fresh.store, { grantId: first.id, reviewerId: 'er-1', note: 'fine' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(reviewBreakGlassGrant(fresh.store, { grantId: 'missing', reviewerId: 'po-1', note: 'fine' })).rejects.toMatchObject({ code: 'NOT_FOUND' });

    const reviewedAt = new Date('2024-06-02T09:00:00.000Z');
    const reviewed = await reviewBreakGlassGrant(fresh.store, { grantId: first.id, reviewerId: 'po-1', note: 'Justified: trauma bay, chart confirms', now: reviewedAt });
    expect(reviewed).toMatchObject({ reviewStatus: 'reviewed', reviewedBy: 'po-1', reviewedAt: reviewedAt.toISOString(), reviewNote: 'Justified: trauma bay, chart confirms' });
    expect(await readBreakGlassGrant(fresh.store, first.id)).toEqual(reviewed);
    await expect(reviewBreakGlassGrant(fresh.store, { grantId: first.id, reviewerId: 'po-2', note: 'again' })).rejects.toMatchObject({ code: 'CONFLICT' });

    expect((await breakGlassReviewQueue(fresh.store)).map((g) => g.id)).toEqual([second.id]);
    expect((await breakGlassReviewQueue(fresh.store, 'reviewed')).map((g) => g.id)).toEqual([first.id]);
    expect((await breakGlassReviewQueue(fresh.store, 'all')).map((g) => g.id)).toEqual([first.id, second.id]);
    expect((await fresh.store.listBreakGlassGrants({ userId: 'er-2' })).map((g) => g.id)).toEqual([second.id]);
    expect((await fresh.store.listBreakGlassGrants({ patientId })).map((g) => g.id)).toEqual([first.id]);
  });

  it('keeps grants when someone tries to delete their patient', async () => {
    await openBreakGlassGrant(fresh.store, { userId: 'er-1', patientId, reason: REASON });
    await expect(fresh.db.raw('DELETE FROM patients WHERE id = ?', [patientId])).rejects.toThrow();
    expect(await breakGlassReviewQueue(fresh.store)).toHaveLength(1);
  });
});
