/**
 * Memory an anonymous client can make the server hold: `npx tsx bench/memory-abuse.ts`.
 *
 * Starts the real server (`medface serve`, SQLite in a temp directory, default limits) as a child process on
 * loopback, then sends abusive anonymous requests to the two anonymous frame routes, POST
 * /api/v1/auth/patient-sign-in (after GET /api/v1/auth/csrf) and POST /api/v1/telemedicine/verify, one at a
 * time and 8 at once from one address (each scenario from its own loopback address, so the sign-in rate limit
 * of one scenario does not answer for the next):
 *
 * - `multipart 40×15 MiB, length declared`: 40 `frames` parts of 15 MiB with their Content-Length, sent as
 *   fast as the socket takes them (the security review's request: it grew the server by 1.4 GiB, 8 by 11.4 GiB);
 * - `multipart 40×15 MiB, chunked`: the same without a length, so the server cannot refuse it up front;
 * - `multipart 40×512 KiB`: the largest body the route takes (40 frames at the per-frame limit), read whole and
 *   refused after validation (the challenge is unknown);
 * - `JSON at the limit`: the same frames base64 in JSON, as large as the route's JSON body limit lets them be.
 *
 * For each, the server process's peak RSS (VmHWM, reset through /proc/<pid>/clear_refs before the scenario)
 * minus its RSS before, the answers by status and code, and what the client got to send before the answer.
 * Memory freed by one scenario is reused by the next, so later scenarios can read low: `--only TEXT` runs only
 * the scenarios whose name holds TEXT (e.g. `--only JSON`), on a server nothing else has run on.
 */
import { rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { MAX_FRAME_BYTES, MAX_LIVENESS_FRAMES } from '../src/services/biometrics/liveness.js';
import { MAX_IMAGE_BYTES } from '../src/server/images.js';
import { memoryOf, startServerProcess } from './server-process.js';

const MIB = 1024 * 1024;
const BOUNDARY = 'memory-abuse-boundary';
const ROUTES = ['/api/v1/auth/patient-sign-in', '/api/v1/telemedicine/verify'] as const;
const CONCURRENCY = [1, 8];

// ---- the server ----------------------------------------------------------------------------------------
const { root, port, server } = await startServerProcess('memory-abuse', 'ignore');
const pid = server.pid as number;

interface Answer {
  status: number;
  code: string;
  /** Body bytes the client had written when the answer came. */
  sent: number;
}

/** GET /api/v1/auth/csrf from `from`: the anonymous browser's cookie and token. */
function csrf(from: string): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/api/v1/auth/csrf', localAddress: from }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString('utf8')));
        res.on('end', () => resolve({ cookie: String(res.headers['set-cookie']?.[0] ?? '').split(';')[0] as string, 'x-csrf-token': (JSON.parse(body) as { csrfToken: string }).csrfToken }));
      })
      .on('error', reject);
  });
}

/**
 * One request over its own socket from `from`: the head, then the body from `chunks` as fast as the socket
 * takes it, until the body is sent or the server answers (and closes).
 */
function send(from: string, url: string, headers: Record<string, string>, chunks: () => Generator<Buffer>, chunked: boolean): Promise<Answer> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: from });
    let received = '';
    let sent = 0;
    let answered = false;
    const finish = (answer: Answer) => {
      if (answered) return;
      answered = true;
      socket.destroy();
      resolve(answer);
    };
    socket.on('data', (c: Buffer) => {
      received += c.toString('latin1');
      const split = received.indexOf('\r\n\r\n');
      if (split < 0) return;
      const length = Number(/content-length: (\d+)/i.exec(received.slice(0, split))?.[1] ?? 0);
      if (received.length < split + 4 + length) return;
      const body = received.slice(split + 4, split + 4 + length);
      let code = '';
      try {
        code = (JSON.parse(body) as { error?: { code?: string } }).error?.code ?? '';
      } catch {
        code = 'unparsable';
      }
      finish({ status: Number(received.split(' ')[1]), code, sent });
    });
    socket.on('error', () => finish({ status: 0, code: 'closed by the server while the body was still being sent', sent }));
    socket.on('close', () => finish({ status: 0, code: 'closed by the server while the body was still being sent', sent }));
    const head = [`POST ${url} HTTP/1.1`, 'Host: 127.0.0.1', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)].join('\r\n');
    socket.write(`${head}\r\n\r\n`);
    const body = chunks();
    const pump = () => {
      for (;;) {
        if (answered || socket.destroyed) return;
        const next = body.next();
        if (next.done) {
          if (chunked) socket.write('0\r\n\r\n');
          return;
        }
        sent += next.value.length;
        const framed = chunked ? Buffer.concat([Buffer.from(`${next.value.length.toString(16)}\r\n`), next.value, Buffer.from('\r\n')]) : next.value;
        if (!socket.write(framed)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
}

const partHead = (name: string, i: number) => Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"; filename="frame-${i}.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`);
const textPart = (name: string, value: string) => Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
const CHALLENGE = 'c0ffee00-0000-4000-8000-00000000beef';

/** `frames` file parts of `bytes` each (1 MiB pieces of one reused buffer), then the text fields. */
function* multipartFrames(count: number, bytes: number, url: string): Generator<Buffer> {
  const piece = Buffer.alloc(Math.min(bytes, MIB), 0xd8);
  for (let i = 0; i < count; i++) {
    yield partHead('frames', i);
    for (let left = bytes; left > 0; left -= piece.length) yield left >= piece.length ? piece : piece.subarray(0, left);
    yield Buffer.from('\r\n');
  }
  yield textPart('at', Array.from({ length: count }, (_, i) => String(i * 100)).join(','));
  yield textPart('challengeId', CHALLENGE);
  yield url.endsWith('patient-sign-in') ? textPart('birthDate', '1980-01-01') : textPart('checkId', 'a'.repeat(64));
  yield Buffer.from(`--${BOUNDARY}--\r\n`);
}

function multipartLength(count: number, bytes: number, url: string): number {
  let n = 0;
  for (const chunk of multipartFrames(count, Math.min(bytes, 1), url)) n += chunk.length;
  return n + count * (bytes - Math.min(bytes, 1));
}

/** The frames base64 in JSON, each as large as the schema lets a frame be. */
function* jsonFrames(url: string): Generator<Buffer> {
  const frame = Buffer.alloc(MAX_FRAME_BYTES, 0xd8).toString('base64');
  const second = url.endsWith('patient-sign-in') ? '"birthDate":"1980-01-01"' : `"checkId":"${'a'.repeat(64)}"`;
  yield Buffer.from(`{"challengeId":"${CHALLENGE}",${second},"frames":[`);
  for (let i = 0; i < MAX_LIVENESS_FRAMES; i++) yield Buffer.from(`${i ? ',' : ''}{"image":"${frame}","at":${i * 100}}`);
  yield Buffer.from(']}');
}

interface Scenario {
  name: string;
  headers: (url: string) => Record<string, string>;
  body: (url: string) => () => Generator<Buffer>;
  chunked: boolean;
}

const multipartType = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };
const SCENARIOS: Scenario[] = [
  {
    name: `multipart 40×15 MiB, length declared`,
    headers: (url) => ({ ...multipartType, 'content-length': String(multipartLength(MAX_LIVENESS_FRAMES, MAX_IMAGE_BYTES, url)) }),
    body: (url) => () => multipartFrames(MAX_LIVENESS_FRAMES, MAX_IMAGE_BYTES, url),
    chunked: false,
  },
  {
    name: `multipart 40×15 MiB, chunked`,
    headers: () => ({ ...multipartType, 'transfer-encoding': 'chunked' }),
    body: (url) => () => multipartFrames(MAX_LIVENESS_FRAMES, MAX_IMAGE_BYTES, url),
    chunked: true,
  },
  {
    name: `multipart 40×512 KiB (the route's largest)`,
    headers: (url) => ({ ...multipartType, 'content-length': String(multipartLength(MAX_LIVENESS_FRAMES, MAX_FRAME_BYTES, url)) }),
    body: (url) => () => multipartFrames(MAX_LIVENESS_FRAMES, MAX_FRAME_BYTES, url),
    chunked: false,
  },
  {
    name: 'JSON at the limit (40 frames of 512 KiB, base64)',
    headers: (url) => {
      let n = 0;
      for (const c of jsonFrames(url)) n += c.length;
      return { 'content-type': 'application/json', 'content-length': String(n) };
    },
    body: (url) => () => jsonFrames(url),
    chunked: false,
  },
];

const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

try {
  for (;;) {
    if (server.exitCode !== null) throw new Error(`the server exited (${server.exitCode})`);
    const ready = await new Promise<number>((resolve) => http.get({ host: '127.0.0.1', port, path: '/ready' }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on('error', () => resolve(0)));
    if (ready === 200) break;
    await settle(250);
  }
  await settle(2_000);
  const rows: string[] = [];
  let address = 1;
  process.stdout.write(`memory-abuse: server pid ${pid}, RSS ${memoryOf(pid).rss.toFixed(0)} MiB after start\n`);
  for (const url of ROUTES) {
    for (const scenario of SCENARIOS.filter((s) => only === undefined || s.name.includes(only))) {
      for (const concurrency of CONCURRENCY) {
        const from = `127.0.${Math.floor(address / 250) + 1}.${(address++ % 250) + 1}`;
        const browsers = await Promise.all(Array.from({ length: concurrency }, () => csrf(from)));
        await settle(1_000);
        const before = memoryOf(pid).rss;
        writeFileSync(`/proc/${pid}/clear_refs`, '5'); // the peak (VmHWM) starts again from now
        const started = performance.now();
        const answers = await Promise.all(browsers.map((b) => send(from, url, { ...b, ...scenario.headers(url) }, scenario.body(url), scenario.chunked)));
        const seconds = (performance.now() - started) / 1000;
        await settle(500);
        const peak = memoryOf(pid).peak;
        const byAnswer = new Map<string, number>();
        for (const a of answers) byAnswer.set(`${a.status} ${a.code}`, (byAnswer.get(`${a.status} ${a.code}`) ?? 0) + 1);
        const maxSent = Math.max(...answers.map((a) => a.sent)) / MIB;
        const row = `| ${url} | ${scenario.name} | ${concurrency} | ${(peak - before).toFixed(1)} | ${[...byAnswer].map(([k, n]) => `${n}× ${k}`).join(', ')} | ${maxSent.toFixed(1)} | ${seconds.toFixed(1)} |`;
        rows.push(row);
        process.stdout.write(`${row}\n`);
      }
    }
  }
  process.stdout.write(`\n| route | request | at once | RSS growth (MiB) | answers | MiB sent before the answer (most) | s |\n|---|---|---|---|---|---|---|\n${rows.join('\n')}\n`);
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(root, { recursive: true, force: true });
}
