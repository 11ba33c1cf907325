import { cpSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditContext } from '../../src/services/operations/audit.js';
import { verifyAuditBundle, type AuditBundle } from '../../src/audit/export.js';
import { entryHash, type AuditEvent } from '../../src/audit/trail.js';
import type { AuditVerification } from '../../src/services/operations/audit.js';
import type { AuditEventRow } from '../../src/store/types.js';
import { operatorEnv, runCli, type CliRun } from './run.js';

/** Runs the CLI as an operator would (through the TypeScript loader) on one data directory, SQLite only. */
function medface(dataDir: string, ...args: string[]): Promise<CliRun> {
  return runCli(args, operatorEnv(dataDir));
}

const work = mkdtempSync(path.join(tmpdir(), 'medface-audit-cli-'));
const dataDir = path.join(work, 'data');

/** A copy of the data directory whose audit log `sql` changed, as someone holding the database file can: past the trigger that refuses it. */
function tamperedCopy(name: string, trigger: string, sql: string): string {
  const copy = path.join(work, name);
  cpSync(dataDir, copy, { recursive: true });
  const db = new Database(path.join(copy, 'medface.db'));
  try {
    db.exec(`DROP TRIGGER ${trigger}`);
    db.prepare(sql).run();
  } finally {
    db.close();
  }
  return copy;
}
const patientId = 'c0ffee00-0000-4000-8000-000000000002';
let times: string[] = [];

beforeAll(async () => {
  const ctx = await openAuditContext({ dataDir, databaseUrl: undefined, keyFile: undefined });
  try {
    for (let i = 0; i < 6; i++) {
      await ctx.store.transaction((tx) =>
        ctx.audit.append(tx, {
          actor: i % 2 === 0 ? 'fd-1' : 'er-1',
          client: '10.0.0.7',
          action: i === 3 ? 'breakglass.open' : 'patient.read',
          outcome: i === 4 ? 'denied' : 'success',
          patientId: i < 4 ? patientId : null,
        }),
      );
      await new Promise((r) => setTimeout(r, 3));
    }
    times = (await ctx.store.listAuditEvents({ limit: 10 })).map((e) => e.time);
  } finally {
    await ctx.store.close();
  }
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('medface audit', () => {
  it('verify exits 0 on an intact log and prints its head', async () => {
    const { code, stdout } = await medface(dataDir, 'audit', 'verify', '--json');
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as AuditVerification;
    expect(result).toMatchObject({ ok: true, count: 6, head: { seq: 6 }, breaks: [], checkpoints: { checked: 0, invalidLines: [] } });
    const plain = await medface(dataDir, 'audit', 'verify');
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/intact: 6 entries; .*\nhead 6:[0-9a-f]{64}/);
  }, 60_000);

  it('export writes exactly the asked range as a Bundle that verifies, and records the export', async () => {
    const out = path.join(work, 'export.json');
    const { code, stdout } = await medface(dataDir, 'audit', 'export', '--from', times[1]!, '--to', times[4]!, '--out', out, '--json');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ file: out, entries: 3 });
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const bundle = JSON.parse(readFileSync(out, 'utf8')) as AuditBundle;
    expect(bundle.entry.map((e) => e.resource.id)).toEqual(['2', '3', '4']);
    expect(verifyAuditBundle(bundle)).toEqual({ ok: true, count: 3 });
    expect(readFileSync(out, 'utf8')).not.toContain(patientId);

    const toStdout = await medface(dataDir, 'audit', 'export', '--from', '2000-01-01', '--to', '2999-01-01');
    expect(toStdout.code).toBe(0);
    const all = JSON.parse(toStdout.stdout) as AuditBundle;
    // the six entries, and the first export's own entry
    expect(all.entry.map((e) => e.resource.subtype.at(-1)?.code)).toEqual([...Array(3).fill('patient.read'), 'breakglass.open', 'patient.read', 'patient.read', 'audit.export']);

    const bad = await medface(dataDir, 'audit', 'export', '--from', 'yesterday', '--to', '2999-01-01', '--json');
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
  }, 60_000);

  it('search finds a patient through the pseudonym, and filters by actor, action and outcome', async () => {
    const byPatient = await medface(dataDir, 'audit', 'search', '--patient', patientId, '--json');
    expect(byPatient.code).toBe(0);
    expect((JSON.parse(byPatient.stdout) as AuditEvent[]).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    const denied = await medface(dataDir, 'audit', 'search', '--actor', 'fd-1', '--outcome', 'denied', '--json');
    expect((JSON.parse(denied.stdout) as AuditEvent[]).map((e) => e.seq)).toEqual([5]);
    const glass = await medface(dataDir, 'audit', 'search', '--action', 'breakglass.open');
    expect(glass.stdout.trim().split('\n')).toHaveLength(1);
    expect(glass.stdout).toMatch(/^4 .* er-1 .* breakglass\.open {2}success/);
    const badOutcome = await medface(dataDir, 'audit', 'search', '--outcome', 'maybe', '--json');
    expect(badOutcome.code).toBe(1);
  }, 60_000);

  it('verify exits non-zero and names the entry after a row is edited in the SQLite file', async () => {
    const copy = tamperedCopy('tampered', 'audit_events_no_update', "UPDATE audit_events SET actor = 'nobody' WHERE seq = 3");
    const { code, stdout } = await medface(copy, 'audit', 'verify', '--json');
    expect(code).toBe(2);
    expect(JSON.parse(stdout)).toMatchObject({ ok: false, count: 2, firstBadSeq: 3, problem: 'altered', breaks: [{ seq: 3, problem: 'altered' }], breakCount: 1 });

    const plain = await medface(copy, 'audit', 'verify');
    expect(plain.code).toBe(2);
    expect(plain.stdout).toMatch(/BROKEN: 1 break\(s\)[^]*entry 3: altered/);
  }, 60_000);

  it('verify exits non-zero when an entry is deleted from the SQLite file', async () => {
    const copy = tamperedCopy('cut', 'audit_events_no_delete', 'DELETE FROM audit_events WHERE seq = 2');
    const { code, stdout } = await medface(copy, 'audit', 'verify', '--json');
    expect(code).toBe(2);
    expect(JSON.parse(stdout)).toMatchObject({ ok: false, count: 1, firstBadSeq: 2, problem: 'missing', breaks: [{ seq: 2, problem: 'missing' }] });
  }, 60_000);

  /**
   * Issue 15, finding 10: whoever holds the database can edit an entry and recompute every hash after it;
   * the chain then verifies by itself. A keyed checkpoint in the file beside the key, and a head the privacy
   * officer recorded, both expose it; so does a checkpoint file edited to match.
   */
  it('a log rewritten and re-chained in the database fails against the keyed checkpoint and the recorded head', async () => {
    const copy = path.join(work, 'rewritten');
    const { appendFileSync, rmSync: remove, writeFileSync } = await import('node:fs');
    cpSync(dataDir, copy, { recursive: true });
    const written = await medface(copy, 'audit', 'checkpoint', '--json');
    expect(written.code).toBe(0);
    const { written: checkpoint } = JSON.parse(written.stdout) as { written: { seq: number; hash: string } };
    expect(checkpoint.seq).toBeGreaterThanOrEqual(6);
    const recorded = `${checkpoint.seq}:${checkpoint.hash}`;
    expect((await medface(copy, 'audit', 'verify', '--expect-head', recorded, '--json')).code).toBe(0);

    const db = new Database(path.join(copy, 'medface.db'));
    try {
      db.exec('DROP TRIGGER audit_events_no_update');
      type Row = { seq: number; time: string; actor: string; client: string | null; action: string; outcome: string; patient_ref: string | null; details: string; prev_hash: string; hash: string };
      const rows = db.prepare('SELECT * FROM audit_events ORDER BY seq').all() as Row[];
      let prevHash = rows[0]!.hash;
      for (const r of rows.slice(1)) {
        const actor = r.seq === 4 ? 'someone-else' : r.actor;
        const unhashed: Omit<AuditEventRow, 'hash'> = {
          seq: r.seq,
          time: r.time,
          actor,
          client: r.client,
          action: r.action,
          outcome: r.outcome as AuditEventRow['outcome'],
          patientRef: r.patient_ref,
          details: r.details,
          prevHash,
        };
        const hash = entryHash(unhashed);
        db.prepare('UPDATE audit_events SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?').run(actor, prevHash, hash, r.seq);
        prevHash = hash;
      }
    } finally {
      db.close();
    }
    const checkpointFile = path.join(copy, 'medface-audit-checkpoints.jsonl');
    const saved = readFileSync(checkpointFile, 'utf8');

    // the checkpoint exposes the rewrite
    const verified = await medface(copy, 'audit', 'verify', '--json');
    expect(verified.code).toBe(2);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: false, problem: 'rewritten', breaks: [{ seq: checkpoint.seq, problem: 'rewritten' }] });
    const plain = await medface(copy, 'audit', 'verify');
    expect(plain.stdout).toMatch(new RegExp(`entry ${checkpoint.seq}: rewritten`));

    // without the checkpoint file the chain alone verifies; the recorded head still exposes the rewrite
    remove(checkpointFile);
    expect((await medface(copy, 'audit', 'verify', '--json')).code).toBe(0);
    const expecting = await medface(copy, 'audit', 'verify', '--expect-head', recorded, '--json');
    expect(expecting.code).toBe(2);
    expect(JSON.parse(expecting.stdout)).toMatchObject({ ok: false, breaks: [{ seq: checkpoint.seq, problem: 'rewritten' }] });

    // a checkpoint edited (or forged without the key) to name the new head is not accepted
    const newHead = (JSON.parse((await medface(copy, 'audit', 'verify', '--json')).stdout) as AuditVerification).head!;
    const forged = JSON.parse(saved.trim()) as Record<string, unknown>;
    writeFileSync(checkpointFile, JSON.stringify({ ...forged, hash: newHead.hash }) + '\n', { mode: 0o600 });
    const withForged = await medface(copy, 'audit', 'verify', '--json');
    expect(withForged.code).toBe(2);
    expect(JSON.parse(withForged.stdout)).toMatchObject({ ok: false, breakCount: 0, checkpoints: { checked: 0, invalidLines: [1] } });
    // and a log that does not verify gets no new checkpoint
    appendFileSync(checkpointFile, saved);
    const refused = await medface(copy, 'audit', 'checkpoint', '--json');
    expect(refused.code).toBe(2);
    expect(JSON.parse(refused.stdout)).toMatchObject({ written: null });

    const badHead = await medface(copy, 'audit', 'verify', '--expect-head', 'latest', '--json');
    expect(badHead.code).toBe(1);
    expect(JSON.parse(badHead.stdout)).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
  }, 120_000);
});
