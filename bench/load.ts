/**
 * Load over HTTP: `npx tsx bench/load.ts [--patients 24] [--seconds 8] [--max 400]` (or `npm run bench:load`).
 *
 * Starts the real server (`medface serve`, SQLite in a temp directory, default workers, default limits) as a
 * child process on loopback, takes the first-run administrator, creates a front-desk clinician account and API
 * clients for the face routes (one client per 60 requests a minute: the biometric rate limit is per caller,
 * as it would be for a hospital's many kiosks), registers patients with consent and enrols a face each
 * (LFW photos from ../shared/eval/lfw-dev: the enrolment's first photo, verification and identification
 * with the second). Then, from this process, closed-loop phases at concurrency 1, 2, 4, 8 and 16 for verify
 * (1:1), identify (1:N) and record reads (FHIR Patient read and the chart, alternately), each bounded by
 * `--seconds` and `--max` requests; then an open-loop phase per face route at twice the best throughput
 * measured (three times `--seconds`, at most twice `--max`), which is beyond capacity by construction.
 * Reports throughput, p50/p99 latency, answers by status and error code, and the server process's peak RSS
 * (its face workers are threads of it).
 */
import { readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { base32Decode, totpCode } from '../src/access/totp.js';
import { memoryOf, startServerProcess } from './server-process.js';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

const PATIENTS = option('patients', 24);
const SECONDS = option('seconds', 8);
const MAX_REQUESTS = option('max', 400);
const CONCURRENCY = [1, 2, 4, 8, 16];
const LFW = path.resolve(import.meta.dirname, '../../shared/eval/lfw-dev');

const agent = new http.Agent({ keepAlive: true, maxSockets: 2048 });

interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

function request(port: number, method: string, url: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path: url, headers: { ...headers, ...(body !== undefined && { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }) }, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

// ---- the server ----------------------------------------------------------------------------------------
const { root, port, server } = await startServerProcess('load', 'pipe');
let stdout = '';
server.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
server.stderr?.on('data', () => undefined);
const stopServer = async () => {
  if (server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  rmSync(root, { recursive: true, force: true });
};

try {
  const bootStarted = performance.now();
  for (;;) {
    if (server.exitCode !== null) throw new Error(`the server exited (${server.exitCode})`);
    const ready = await request(port, 'GET', '/ready', {}).catch(() => null);
    if (ready?.status === 200) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const bootSeconds = (performance.now() - bootStarted) / 1000;

  // ---- accounts ----------------------------------------------------------------------------------------
  const line = (label: string) => new RegExp(`${label}:\\s+(\\S+)`).exec(stdout)?.[1] as string;
  const browser = async () => {
    const csrf = await request(port, 'GET', '/api/v1/auth/csrf', {});
    const cookie = String(csrf.headers['set-cookie']?.[0] ?? '').split(';')[0] as string;
    return { cookie, csrf: (JSON.parse(csrf.body) as { csrfToken: string }).csrfToken };
  };
  const signIn = async (username: string, password: string, totpUri: string) => {
    const b = await browser();
    const secret = base32Decode(new URL(totpUri).searchParams.get('secret') as string);
    const answer = await request(
      port,
      'POST',
      '/api/v1/auth/sign-in',
      { cookie: b.cookie, 'x-csrf-token': b.csrf },
      JSON.stringify({ username, password, code: totpCode(secret, new Date()), newPassword: `${password} (renewed for the load run)` }),
    );
    if (answer.status !== 200) throw new Error(`sign-in ${username}: ${answer.status} ${answer.body}`);
    const session = String(answer.headers['set-cookie']?.find((c) => c.startsWith('medface_session=')) ?? '').split(';')[0];
    return { cookie: `${b.cookie}; ${session}`, 'x-csrf-token': b.csrf };
  };
  const admin = await signIn(line('username'), line('one-time password'), line('TOTP enrolment'));
  const staffAnswer = await request(
    port,
    'POST',
    '/api/v1/users',
    admin,
    JSON.stringify({ username: 'load-staff', roles: ['front-desk', 'clinician'], password: 'load staff first password', totp: true }),
  );
  const staff = await signIn('load-staff', 'load staff first password', (JSON.parse(staffAnswer.body) as { totpUri: string }).totpUri);
  const keys: string[] = [];
  for (let i = 0; i < 96; i++) {
    const created = await request(port, 'POST', '/api/v1/api-clients', admin, JSON.stringify({ name: `kiosk ${i}`, scopes: ['verify:patient', 'identify:patient'] }));
    keys.push((JSON.parse(created.body) as { key: string }).key);
  }
  let nextKey = 0;
  const kiosk = () => ({ authorization: `Bearer ${keys[nextKey++ % keys.length]}` });

  // ---- patients --------------------------------------------------------------------------------------------
  const rows = readFileSync(path.join(LFW, 'manifest.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(','));
  const byIdentity = new Map<string, string[]>();
  for (const [file, identity] of rows) byIdentity.set(identity!, [...(byIdentity.get(identity!) ?? []), file!]);
  const patients: Array<{ id: string; probe: string }> = [];
  const seedStarted = performance.now();
  for (const [identity, files] of byIdentity) {
    if (patients.length >= PATIENTS) break;
    if (files.length < 2) continue;
    const [given, ...family] = identity.split('_');
    const created = await request(
      port,
      'POST',
      '/api/v1/patients',
      staff,
      JSON.stringify({ resourceType: 'Patient', name: [{ family: family.join(' ') || 'Unknown', given: [given] }], birthDate: '1970-01-01' }),
    );
    const id = (JSON.parse(created.body) as { id: string }).id;
    await request(port, 'POST', `/api/v1/patients/${id}/consent`, staff, JSON.stringify({ notice: 'v1' }));
    const photo = readFileSync(path.join(LFW, files[0]!)).toString('base64');
    const enrolled = await request(port, 'POST', `/api/v1/patients/${id}/enrol`, staff, JSON.stringify({ images: [photo], overrideDuplicate: 'load benchmark' }));
    if (enrolled.status !== 201) continue;
    patients.push({ id, probe: readFileSync(path.join(LFW, files[1]!)).toString('base64') });
  }
  const seedSeconds = (performance.now() - seedStarted) / 1000;

  // ---- phases ------------------------------------------------------------------------------------------------
  type Route = 'verify' | 'identify' | 'read';
  let turn = 0;
  const send = (route: Route): Promise<Answer> => {
    const p = patients[turn++ % patients.length]!;
    switch (route) {
      case 'verify':
        return request(port, 'POST', `/api/v1/patients/${p.id}/verify`, kiosk(), JSON.stringify({ image: p.probe }));
      case 'identify':
        return request(port, 'POST', '/api/v1/identify', kiosk(), JSON.stringify({ image: p.probe }));
      case 'read':
        return turn % 2 ? request(port, 'GET', `/fhir/Patient/${p.id}`, staff) : request(port, 'GET', `/api/v1/patients/${p.id}/chart`, staff);
    }
  };

  interface Phase {
    route: Route;
    load: string;
    requests: number;
    seconds: number;
    throughput: number;
    p50: number;
    p99: number;
    answers: Record<string, number>;
    peakRssMiB: number;
  }
  const phases: Phase[] = [];
  const percentile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

  async function measure(route: Route, load: string, drive: (one: () => Promise<void>) => Promise<void>): Promise<Phase> {
    const latencies: number[] = [];
    const answers: Record<string, number> = {};
    let peak = memoryOf(server.pid as number).rss;
    const sampler = setInterval(() => (peak = Math.max(peak, memoryOf(server.pid as number).rss)), 100);
    const started = performance.now();
    await drive(async () => {
      const t = performance.now();
      let key: string;
      try {
        const answer = await send(route);
        key = answer.status < 400 ? String(answer.status) : `${answer.status} ${(JSON.parse(answer.body) as { error?: { code?: string } }).error?.code ?? 'OperationOutcome'}`;
      } catch (e) {
        key = `no answer (${(e as NodeJS.ErrnoException).code ?? 'error'})`;
      }
      latencies.push(performance.now() - t);
      answers[key] = (answers[key] ?? 0) + 1;
    });
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    latencies.sort((a, b) => a - b);
    const ok = Object.entries(answers)
      .filter(([k]) => k.startsWith('2'))
      .reduce((n, [, v]) => n + v, 0);
    const phase = {
      route,
      load,
      requests: latencies.length,
      seconds: Math.round(seconds * 10) / 10,
      throughput: Math.round((ok / seconds) * 10) / 10,
      p50: Math.round(percentile(latencies, 0.5)),
      p99: Math.round(percentile(latencies, 0.99)),
      answers,
      peakRssMiB: Math.round(peak),
    };
    phases.push(phase);
    process.stdout.write(`${JSON.stringify(phase)}\n`);
    return phase;
  }

  /** `concurrency` clients, each sending its next request when the last one is answered. */
  const closedLoop = (concurrency: number) => async (one: () => Promise<void>) => {
    const deadline = performance.now() + SECONDS * 1000;
    let sent = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < deadline && sent < MAX_REQUESTS) {
          sent++;
          await one();
        }
      }),
    );
  };

  /**
   * Requests arriving at `rate` a second whatever the answers, for three phases' time: at twice the capacity
   * the backlog grows by the capacity every second, long enough to fill the face pool's queue and the intake.
   */
  const openLoop = (rate: number) => async (one: () => Promise<void>) => {
    const total = Math.min(MAX_REQUESTS * 2, Math.round(rate * SECONDS * 3));
    const running: Array<Promise<void>> = [];
    const started = performance.now();
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      running.push(one());
    }
    await Promise.all(running);
  };

  const loadAverage = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  process.stdout.write(`load average at start: ${loadAverage}; ${patients.length} patients enrolled in ${seedSeconds.toFixed(1)} s; server ready in ${bootSeconds.toFixed(1)} s\n`);
  for (const route of ['verify', 'identify', 'read'] as const) {
    let best = 0;
    for (const c of CONCURRENCY) best = Math.max(best, (await measure(route, `${c} concurrent`, closedLoop(c))).throughput);
    if (route !== 'read') await measure(route, `open loop ${Math.round(2 * best * 10) / 10}/s (2x best)`, openLoop(2 * best));
    // let the queue drain and the rate-limit windows of the kiosks turn over a little between routes
    await new Promise((r) => setTimeout(r, 1000));
  }
  const memory = memoryOf(server.pid as number);
  const summary = {
    loadAverageAtStart: loadAverage,
    loadAverageAtEnd: os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
    cpus: os.cpus().length,
    patients: patients.length,
    serverPeakRssMiB: Math.round(memory.peak),
    phases,
  };
  process.stdout.write(`SUMMARY ${JSON.stringify(summary)}\n`);
} finally {
  agent.destroy();
  await stopServer();
}
