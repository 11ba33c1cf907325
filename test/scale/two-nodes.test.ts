import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { Client, createAccount, fourFaces, startChildServer, type ChildServer, type Site } from '../resilience/harness.js';
import { describeOnPostgres } from '../store/harness.js';

/**
 * Two real server processes (the server as `medface serve` starts it, one face worker each) on different ports
 * against one PostgreSQL schema, spoken to over real HTTP. Sessions live in the store; each node's in-memory
 * gallery follows the other's commits through LISTEN/NOTIFY.
 */

/** An identification sent this long after the other node answered an enrolment or erasure must see it. */
const SYNC_MS = 1000;

interface Identified {
  match: boolean;
  candidates: { patientId: string }[];
}

interface Integrity {
  ok: boolean;
  stored: number;
  indexed: number;
}

describeOnPostgres('two nodes on one PostgreSQL', (postgres) => {
  it('share sessions; enrol on A is identified on B, erase on B is gone on A, each within 1 s', async () => {
    const db = await postgres.create();
    const root = mkdtempSync(path.join(tmpdir(), 'medface-two-nodes-'));
    // one key file for both nodes (in production: the same file on every node, see docs/scaling.md)
    const site: Site = { dataDir: path.join(root, 'data'), databaseUrl: db.config.databaseUrl };
    const nodes: ChildServer[] = [];
    try {
      const account = await createAccount(site, ['front-desk', 'privacy-officer']);
      nodes.push(...(await Promise.all([startChildServer(site), startChildServer(site)])));
      const [a, b] = nodes as [ChildServer, ChildServer];
      expect(a.url).not.toBe(b.url);
      const [alice, stranger] = await fourFaces();
      const client = new Client(a.url);
      const on = (node: ChildServer) => client.at(node.url);

      // a session opened on A is valid on B
      await client.signIn(account);
      expect((await on(b).request('GET', '/api/v1/auth/session')).status).toBe(200);
      expect((await on(a).request('GET', '/api/v1/auth/session')).status).toBe(200);

      // both warm (models load on first use) and neither knows the face yet
      const identifyOn = async (node: ChildServer, image: Buffer) => {
        const { status, body } = await on(node).request('POST', '/api/v1/identify', { image: image!.toString('base64') });
        expect(status).toBe(200);
        return body as Identified;
      };
      for (const node of [a, b]) expect(await identifyOn(node, alice!)).toMatchObject({ match: false, candidates: [] });
      expect(await identifyOn(b, stranger!)).toMatchObject({ match: false });

      const registered = await on(a).request('POST', '/api/v1/patients', { resourceType: 'Patient', name: [{ family: 'Twonodes', given: ['Alice'] }], birthDate: '1990-04-01' });
      expect(registered.status).toBe(201);
      const patientId = (registered.body as { id: string }).id;
      expect((await on(a).request('POST', `/api/v1/patients/${patientId}/consent`, { notice: 'v1' })).status).toBe(201);
      const enrolled = await on(a).request('POST', `/api/v1/patients/${patientId}/enrol`, { images: [alice!.toString('base64')] });
      expect(enrolled.status).toBe(201);
      const enrolledAt = performance.now();

      // identify on B: the first request sent within 1 s of A's answer that finds her
      let found: { sentAfterMs: number } | undefined;
      while (!found && performance.now() - enrolledAt <= SYNC_MS) {
        const sentAfterMs = performance.now() - enrolledAt;
        if ((await identifyOn(b, alice!)).candidates[0]?.patientId === patientId) found = { sentAfterMs };
      }
      expect(found, `B did not identify the patient with a request sent within ${SYNC_MS} ms of the enrolment on A`).toBeDefined();
      console.info(`[two-nodes] enrolment on A identified on B by a request sent ${found!.sentAfterMs.toFixed(0)} ms after A answered`);
      expect(await identifyOn(b, stranger!)).toMatchObject({ match: false });
      expect((await on(b).request('GET', '/api/v1/integrity')).body).toMatchObject({ ok: true, stored: 1, indexed: 1 } satisfies Partial<Integrity>);

      // erase on B: A's gallery lets go of the template (not merely hides it at search time)
      expect((await on(b).request('DELETE', `/api/v1/patients/${patientId}/biometrics`)).status).toBe(200);
      const erasedAt = performance.now();
      let forgottenAfterMs: number | undefined;
      while (forgottenAfterMs === undefined && performance.now() - erasedAt <= SYNC_MS) {
        const sentAfterMs = performance.now() - erasedAt;
        const integrity = (await on(a).request('GET', '/api/v1/integrity')).body as Integrity;
        if (integrity.ok && integrity.indexed === 0) forgottenAfterMs = sentAfterMs;
        else await sleep(20);
      }
      expect(forgottenAfterMs, `A's gallery still held the erased template ${SYNC_MS} ms after the erasure on B`).toBeDefined();
      console.info(`[two-nodes] erasure on B gone from A's gallery, seen by a request sent ${forgottenAfterMs!.toFixed(0)} ms after B answered`);
      expect(await identifyOn(a, alice!)).toMatchObject({ match: false, candidates: [] });
    } finally {
      await Promise.all(nodes.map((n) => n.kill()));
      await db.drop();
      rmSync(root, { recursive: true, force: true });
    }
  }, 300_000);
});
