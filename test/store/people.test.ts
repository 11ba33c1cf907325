import { randomUUID } from 'node:crypto';
import { beforeEach, expect, it } from 'vitest';
import type { AuditEventRow, Store, UserRow } from '../../src/store/types.js';
import { describeEachFreshStore } from './harness.js';

/** The queries that put names on the ids of work lists (issue 16): patients and users by ids, users by name, audit entries by several actors or patients. */
describeEachFreshStore('people behind ids', (fresh) => {
  const patients = [randomUUID(), randomUUID(), randomUUID()];
  const now = new Date().toISOString();
  const user = (username: string): UserRow => ({ id: randomUUID(), username, displayName: null, roles: ['front-desk'], patientId: null, createdAt: now, updatedAt: now, disabledAt: null });
  const users = [user('nurse.ada'), user('nurse.bea'), user('doctor.cy')];

  beforeEach(async () => {
    for (const id of patients) {
      await fresh.store.insertPatient(
        { id, versionId: 1, lastUpdated: now, resource: { resourceType: 'Patient', id } },
        { nameTokens: [], sortName: '', birthDate: null, gender: null, identifiers: [] },
      );
    }
    for (const u of users) await fresh.store.insertUser(u);
  });

  it('reads several patients and users by id at once, skipping unknown ids', async () => {
    const found = await fresh.store.getPatients([patients[2]!, randomUUID(), patients[0]!]);
    expect(found.map((p) => p.id).sort()).toEqual([patients[0]!, patients[2]!].sort());
    expect(await fresh.store.getPatients([])).toEqual([]);
    expect((await fresh.store.getUsers([users[2]!.id, users[0]!.id, 'cli:root'])).map((u) => u.username)).toEqual(['doctor.cy', 'nurse.ada']);
    expect(await fresh.store.getUsers([])).toEqual([]);
  });

  it('finds users by the start of their username, in order, up to the limit', async () => {
    expect((await fresh.store.searchUsersByUsername('nurse', 10)).map((u) => u.username)).toEqual(['nurse.ada', 'nurse.bea']);
    expect((await fresh.store.searchUsersByUsername('nurse', 1)).map((u) => u.username)).toEqual(['nurse.ada']);
    expect((await fresh.store.searchUsersByUsername('nurse.b', 10)).map((u) => u.username)).toEqual(['nurse.bea']);
    expect(await fresh.store.searchUsersByUsername('x', 10)).toEqual([]);
  });

  it('lists audit entries by any of several actors and patients; an empty list matches nothing', async () => {
    const entry = (seq: number, actor: string, patientRef: string | null): AuditEventRow => ({
      seq,
      time: now,
      actor,
      client: null,
      action: 'patient.read',
      outcome: 'success',
      patientRef,
      details: '{}',
      prevHash: String(seq - 1).padStart(64, '0'),
      hash: String(seq).padStart(64, '0'),
    });
    const entries = [entry(1, 'a', 'r1'), entry(2, 'b', 'r2'), entry(3, 'c', 'r1'), entry(4, 'a', null)];
    for (const e of entries) await fresh.store.insertAuditEvent(e);
    const seqs = async (q: Parameters<Store['listAuditEvents']>[0]) => (await fresh.store.listAuditEvents(q)).map((e) => e.seq);
    expect(await seqs({ actors: ['a', 'c'], limit: 10 })).toEqual([1, 3, 4]);
    expect(await seqs({ patientRefs: ['r1', 'r2'], limit: 10 })).toEqual([1, 2, 3]);
    expect(await seqs({ actors: ['a'], patientRefs: ['r1'], limit: 10 })).toEqual([1]);
    expect(await seqs({ actors: [], limit: 10 })).toEqual([]);
    expect(await seqs({ patientRefs: [], limit: 10 })).toEqual([]);
  });
});
