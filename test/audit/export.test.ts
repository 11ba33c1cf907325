import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ACTION_SYSTEM, classifyAction, exportAuditBundle, fromFhirAuditEvent, PATIENT_PSEUDONYM_SYSTEM, toFhirAuditEvent, verifyAuditBundle, type AuditBundle } from '../../src/audit/export.js';
import { AuditTrail, type AuditEntry } from '../../src/audit/trail.js';
import type { AuditEventRow } from '../../src/store/types.js';
import { r4SchemaErrors } from '../records/fhir-schema.js';
import { describeEachFreshStore } from '../store/harness.js';

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';

describe('classifyAction', () => {
  it('codes medface actions with the DICOM and FHIR audit vocabularies, keeping the action as a subtype', () => {
    const codes = (action: string, details?: Record<string, unknown>) => {
      const c = classifyAction(action, details);
      return { type: c.type.code, subtype: c.subtype.map((s) => s.code), action: c.action, purpose: c.purposeOfEvent?.[0]?.coding[0]?.code };
    };
    expect(codes('patient.read')).toEqual({ type: 'rest', subtype: ['read', 'patient.read'], action: 'R', purpose: undefined });
    expect(codes('patient.create')).toMatchObject({ type: 'rest', subtype: ['create', 'patient.create'], action: 'C' });
    expect(codes('record.write')).toMatchObject({ type: 'rest', subtype: ['update', 'record.write'], action: 'U' });
    expect(codes('biometric.erase')).toMatchObject({ type: 'rest', subtype: ['delete', 'biometric.erase'], action: 'D' });
    expect(codes('patient.search')).toMatchObject({ type: 'rest', subtype: ['search-type', 'patient.search'], action: 'E' });
    expect(codes('biometric.identify')).toMatchObject({ type: 'rest', subtype: ['operation', 'biometric.identify'], action: 'E' });
    expect(codes('session.sign-in')).toMatchObject({ type: '110114', subtype: ['110122', 'session.sign-in'], action: 'E' });
    expect(codes('session.sign-out')).toMatchObject({ type: '110114', subtype: ['110123', 'session.sign-out'], action: 'E' });
    expect(codes('breakglass.open')).toEqual({ type: '110113', subtype: ['110127', 'breakglass.open'], action: 'C', purpose: 'BTG' });
    expect(codes('breakglass.review')).toMatchObject({ type: 'rest', action: 'U', purpose: 'BTG' });
    // a read that rested on a break-glass grant says so through its purpose
    expect(codes('record.read', { breakGlassGrantId: 'g-1' })).toMatchObject({ type: 'rest', action: 'R', purpose: 'BTG' });
    expect(codes('keys.rotate')).toMatchObject({ type: '110113', subtype: ['110129', 'keys.rotate'] });
    expect(codes('user.set-roles')).toMatchObject({ type: '110113', subtype: ['110136', 'user.set-roles'] });
    expect(codes('user.disable')).toMatchObject({ type: '110113', subtype: ['110137', 'user.disable'] });
    expect(codes('audit.export')).toMatchObject({ type: '110106', action: 'R' });
    expect(codes('something.unheard-of')).toMatchObject({ type: '110100', action: 'E' });
    expect(classifyAction('patient.read').type.system).toBe('http://terminology.hl7.org/CodeSystem/audit-event-type');
    expect(classifyAction('keys.rotate').type.system).toBe(DCM);
  });
});

function row(overrides: Partial<AuditEventRow>): AuditEventRow {
  return {
    seq: 1,
    time: '2024-01-01T00:00:00.000Z',
    actor: 'u-1',
    client: null,
    action: 'patient.read',
    outcome: 'success',
    patientRef: null,
    details: '{}',
    prevHash: '0'.repeat(64),
    hash: 'f'.repeat(64),
    ...overrides,
  };
}

describe('toFhirAuditEvent', () => {
  it('maps outcomes to DICOM outcome codes, clients to network addresses', () => {
    expect(toFhirAuditEvent(row({})).outcome).toBe('0');
    expect(toFhirAuditEvent(row({ outcome: 'denied', details: '{"reason":"not-permitted"}' })).outcome).toBe('4');
    const refused = toFhirAuditEvent(row({ outcome: 'failure', details: '{"code":"QUALITY_REJECTED"}' }));
    expect([refused.outcome, refused.outcomeDesc]).toEqual(['4', 'QUALITY_REJECTED']);
    expect(toFhirAuditEvent(row({ outcome: 'failure', details: '{"code":"STORE_UNAVAILABLE"}' })).outcome).toBe('8');
    expect(toFhirAuditEvent(row({ outcome: 'failure', details: '{"code":"INTERNAL"}' })).outcome).toBe('8');
    expect(toFhirAuditEvent(row({ client: '10.0.0.7' })).agent[0]?.network).toEqual({ address: '10.0.0.7', type: '2' });
    expect(toFhirAuditEvent(row({ client: '2001:db8::1' })).agent[0]?.network?.type).toBe('2');
    expect(toFhirAuditEvent(row({ client: 'kiosk-lobby-2' })).agent[0]?.network).toEqual({ address: 'kiosk-lobby-2', type: '1' });
    expect(toFhirAuditEvent(row({})).agent[0]?.network).toBeUndefined();
    expect(toFhirAuditEvent(row({})).entity).toBeUndefined();
  });

  it('round-trips every field the hash covers', () => {
    const r = row({ seq: 42, client: 'kiosk-1', outcome: 'denied', patientRef: 'ab'.repeat(32), details: '{"a":[1,"x"],"b":null}' });
    expect(fromFhirAuditEvent(toFhirAuditEvent(r))).toEqual(r);
    const event = toFhirAuditEvent(r);
    expect(() => fromFhirAuditEvent({ ...event, subtype: event.subtype.filter((c) => c.system !== ACTION_SYSTEM) })).toThrow(/action/);
    expect(() => fromFhirAuditEvent({ ...event, id: 'x' })).toThrow(/id/);
  });
});

describeEachFreshStore('audit export', (fresh) => {
  const trail = new AuditTrail(randomBytes(32));
  const patientId = 'c0ffee00-0000-4000-8000-000000000001';

  const ENTRIES: AuditEntry[] = [
    { actor: 'fd-1', client: '10.0.0.7', action: 'session.sign-in', outcome: 'success' },
    { actor: 'fd-1', client: '10.0.0.7', action: 'patient.read', outcome: 'success', patientId },
    { actor: 'kiosk', client: 'kiosk-lobby-2', action: 'biometric.identify', outcome: 'failure', details: { code: 'QUALITY_REJECTED', reasons: ['blurry'] } },
    { actor: 'er-1', client: '10.0.0.9', action: 'breakglass.open', outcome: 'success', patientId, details: { grantId: 'g-1', minutes: 60 } },
    { actor: 'er-1', client: '10.0.0.9', action: 'record.read', outcome: 'success', patientId, details: { breakGlassGrantId: 'g-1' } },
    { actor: 'fd-2', action: 'record.read', outcome: 'denied', patientId, details: { reason: 'not-permitted' } },
    { actor: 'po-1', action: 'breakglass.review', outcome: 'success', patientId, details: { grantId: 'g-1' } },
    { actor: 'system', action: 'keys.rotate', outcome: 'success' },
  ];

  /** Appends the entries a few milliseconds apart, so each has its own time; returns them as stored. */
  async function appendAll(): Promise<AuditEventRow[]> {
    for (const entry of ENTRIES) {
      await fresh.store.transaction((tx) => trail.append(tx, entry));
      await sleep(3);
    }
    return fresh.store.listAuditEvents({ limit: 100 });
  }

  it('exports exactly the entries recorded in [from, to) as a valid R4 Bundle of AuditEvents', async () => {
    const rows = await appendAll();
    const from = new Date(rows[2]!.time);
    const to = new Date(rows[6]!.time);
    const bundle = await exportAuditBundle(fresh.store, { from, to }, new Date('2024-07-01T00:00:00Z'));

    // the entry recorded at `from` is in, the one recorded at `to` is out
    expect(bundle.entry.map((e) => e.resource.id)).toEqual(['3', '4', '5', '6']);
    expect(bundle.entry.map((e) => fromFhirAuditEvent(e.resource))).toEqual(rows.slice(2, 6));
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'collection', timestamp: '2024-07-01T00:00:00.000Z' });
    expect(bundle.link?.[0]?.url).toContain(`from=${from.toISOString()}&to=${to.toISOString()}`);

    expect(r4SchemaErrors(bundle)).toEqual([]);
    for (const e of bundle.entry) expect(r4SchemaErrors(e.resource)).toEqual([]);
    const broken = structuredClone(bundle);
    (broken.entry[0]!.resource as { outcome: string }).outcome = '5';
    expect(r4SchemaErrors(broken)).not.toEqual([]);

    // patients appear only as pseudonyms
    expect(JSON.stringify(bundle)).not.toContain(patientId);
    const glass = bundle.entry[1]!.resource;
    expect(glass.entity).toEqual([expect.objectContaining({ what: { identifier: { system: PATIENT_PSEUDONYM_SYSTEM, value: trail.patientRef(patientId) } } })]);
    expect(glass.purposeOfEvent?.[0]?.coding[0]?.code).toBe('BTG');
    expect(bundle.entry[3]!.resource).toMatchObject({ outcome: '4', action: 'R' });

    // the whole log, and an empty period
    const all = await exportAuditBundle(fresh.store, { from: new Date(rows[0]!.time), to: new Date(Date.now() + 1000) });
    expect(all.entry).toHaveLength(ENTRIES.length);
    expect(r4SchemaErrors(all)).toEqual([]);
    expect((await exportAuditBundle(fresh.store, { from: new Date('2000-01-01'), to: new Date('2000-01-02') })).entry).toEqual([]);
  }, 60_000);

  it('crosses pages without losing or repeating entries', async () => {
    await fresh.store.transaction(async (tx) => {
      for (let i = 0; i < 2100; i++) await trail.append(tx, { actor: `u-${i % 7}`, action: 'patient.search', outcome: 'success', details: { i } });
    });
    const bundle = await exportAuditBundle(fresh.store, { from: new Date('2000-01-01'), to: new Date(Date.now() + 1000) });
    expect(bundle.entry.map((e) => Number(e.resource.id))).toEqual(Array.from({ length: 2100 }, (_, i) => i + 1));
    expect(verifyAuditBundle(bundle)).toEqual({ ok: true, count: 2100 });
  }, 120_000);

  it('verifies an exported bundle by itself and names the first edited, relinked or reordered event', async () => {
    await appendAll();
    const bundle = await exportAuditBundle(fresh.store, { from: new Date('2000-01-01'), to: new Date(Date.now() + 1000) });
    expect(verifyAuditBundle(bundle)).toEqual({ ok: true, count: ENTRIES.length });

    const copy = (): AuditBundle => structuredClone(bundle);
    const edited = copy();
    edited.entry[4]!.resource.agent[0]!.who.identifier.value = 'someone-else';
    expect(verifyAuditBundle(edited)).toEqual({ ok: false, count: 4, firstBadSeq: 5, problem: 'altered' });

    const recorded = copy();
    recorded.entry[2]!.resource.recorded = '2001-01-01T00:00:00.000Z';
    expect(verifyAuditBundle(recorded)).toMatchObject({ ok: false, firstBadSeq: 3, problem: 'altered' });

    const swapped = copy();
    [swapped.entry[3], swapped.entry[4]] = [swapped.entry[4]!, swapped.entry[3]!];
    expect(verifyAuditBundle(swapped)).toEqual({ ok: false, count: 4, firstBadSeq: 4, problem: 'out-of-order' });

    // an event cut out and the rest renumbered to close the gap: noticed at the first renumbered one
    const renumbered = copy();
    renumbered.entry.splice(2, 1);
    for (const [i, e] of renumbered.entry.entries()) e.resource.id = String(i + 1);
    expect(verifyAuditBundle(renumbered)).toMatchObject({ ok: false, firstBadSeq: 3 });
  }, 60_000);

  it('keeps an empty client as unknown, so its event still verifies after export (FHIR has no empty strings)', async () => {
    const stored = await fresh.store.transaction((tx) => trail.append(tx, { actor: 'u-1', client: '', action: 'patient.read', outcome: 'success' }));
    expect(stored.client).toBeNull();
    const bundle = await exportAuditBundle(fresh.store, { from: new Date(stored.time), to: new Date(Date.now() + 1000) });
    expect(bundle.entry[0]!.resource.agent[0]!.network).toBeUndefined();
    expect(verifyAuditBundle(bundle)).toEqual({ ok: true, count: 1 });
  });

  it('refuses an empty or inverted range', async () => {
    const t = new Date('2024-01-01T00:00:00Z');
    await expect(exportAuditBundle(fresh.store, { from: t, to: t })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(exportAuditBundle(fresh.store, { from: t, to: new Date('2023-01-01') })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(exportAuditBundle(fresh.store, { from: new Date('nope'), to: t })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
