import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import path from 'node:path';
import sharp from 'sharp';
import { base32Decode, totpCode } from '../../src/access/totp.js';
import { createUser } from '../../src/access/users.js';
import { accessContext } from '../../src/services/access.js';
import { openMedface } from '../../src/services/context.js';
import { OPERATOR } from '../server/harness.js';

/** Where a test's medface lives: the data directory (key files, and the SQLite database) and PostgreSQL's URL. */
export interface Site {
  dataDir: string;
  databaseUrl: string | undefined;
}

// resolved here rather than imported from src/face/runtime.ts, which would load tfjs into the test process
const FACE_API_DIR = path.resolve(path.dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api')), '..');
const HUMAN_DIR = path.resolve(path.dirname(createRequire(import.meta.url).resolve('@vladmandic/human')), '..');
const REPO = path.resolve(import.meta.dirname, '../..');
const CHILD = path.join(import.meta.dirname, 'server-child.ts');
const LOG_TAIL_CHARS = 4000;

/** The real server in a child process on a loopback port, to be killed. */
export interface ChildServer {
  url: string;
  child: ChildProcess;
  /** SIGKILL: no shutdown code runs. Resolves once the process is gone. */
  kill(): Promise<void>;
  /** The end of what the server printed (its warnings and errors), to explain an unexpected answer. */
  logTail(): string;
}

/** A port free on loopback right now (PORT must name one: medface refuses 0). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

export async function startChildServer(site: Site): Promise<ChildServer> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    cwd: REPO,
    env: { ...process.env, MEDFACE_DATA_DIR: site.dataDir, DATABASE_URL: site.databaseUrl ?? '', PORT: String(port), MEDFACE_KEY_FILE: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Its output is read to the end, so a chatty server never blocks on a full pipe; the tail is kept.
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString('utf8')).slice(-LOG_TAIL_CHARS));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const url = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const match = /medface-test-server listening at (\S+)/.exec(output);
      if (match) {
        child.stdout?.off('data', onData);
        resolve(match[1]!);
      }
    };
    child.stdout?.on('data', onData);
    void exited.then(() => reject(new Error(`the server exited before listening:\n${output}`)));
  });
  return {
    url,
    child,
    logTail: () => output,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A staff account made before the server first starts (so no first-run administrator is needed). */
export interface Account {
  username: string;
  password: string;
  totpSecret: Buffer;
}

export async function createAccount(site: Site, roles: ('front-desk' | 'admin' | 'privacy-officer')[]): Promise<Account> {
  const medface = await openMedface({ dataDir: site.dataDir, databaseUrl: site.databaseUrl, keyFile: undefined });
  try {
    const username = 'resilience-tester';
    const password = 'first password of the resilience tester';
    const created = await createUser(await accessContext(medface), OPERATOR, { username, roles, password, totp: true });
    return { username, password, totpSecret: base32Decode(new URL(created.totpUri as string).searchParams.get('secret') as string) };
  } finally {
    await medface.close();
  }
}

/**
 * A signed-in browser talking to a server over real HTTP. The session lives in the store, so it carries over
 * to the next server started on the same store (`at`).
 */
export class Client {
  #cookie = '';
  #csrf = '';

  constructor(public url: string) {}

  at(url: string): this {
    this.url = url;
    return this;
  }

  async signIn(account: Account): Promise<void> {
    const csrf = await fetch(`${this.url}/api/v1/auth/csrf`);
    this.#cookie = (csrf.headers.get('set-cookie') ?? '').split(';')[0]!;
    this.#csrf = ((await csrf.json()) as { csrfToken: string }).csrfToken;
    const response = await this.request('POST', '/api/v1/auth/sign-in', {
      username: account.username,
      password: account.password,
      code: totpCode(account.totpSecret, new Date()),
      newPassword: `${account.password} renewed`,
    });
    if (response.status !== 200) throw new Error(`sign-in failed: ${response.status} ${JSON.stringify(response.body)}`);
  }

  /**
   * One request; `status` 0 when no answer came (the server died, or was killed, first). `retryAfterSeconds`
   * is the server's Retry-After, when it sent one.
   */
  async request(method: string, route: string, body?: unknown): Promise<{ status: number; body: unknown; retryAfterSeconds?: number }> {
    try {
      const response = await fetch(`${this.url}${route}`, {
        method,
        headers: {
          cookie: this.#cookie,
          ...(method !== 'GET' && { 'x-csrf-token': this.#csrf }),
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      // as a browser keeps cookies (a sign-in sets the session cookie and binds the CSRF cookie to it)
      const jar = new Map(
        this.#cookie
          .split('; ')
          .filter(Boolean)
          .map((c) => [c.slice(0, c.indexOf('=')), c] as const),
      );
      for (const c of response.headers.getSetCookie().map((line) => line.split(';')[0]!)) jar.set(c.slice(0, c.indexOf('=')), c);
      this.#cookie = [...jar.values()].filter((c) => !c.endsWith('=')).join('; ');
      const text = await response.text();
      const retryAfter = response.headers.get('retry-after');
      return {
        status: response.status,
        body: text === '' ? null : (JSON.parse(text) as unknown),
        ...(retryAfter !== null && { retryAfterSeconds: Number(retryAfter) }),
      };
    } catch {
      return { status: 0, body: null };
    }
  }
}

/**
 * Four different people, each cut with a generous margin from a demo photo shipped in an npm package (boxes
 * found once with the face engine; `test/services/fixtures.ts` picks the same faces, FACE_PICKS), as JPEG.
 */
const CROPS = [
  { photo: path.join(FACE_API_DIR, 'demo', 'sample5.jpg'), left: 57, top: 624, width: 814, height: 774 },
  { photo: path.join(FACE_API_DIR, 'demo', 'sample3.jpg'), left: 298, top: 78, width: 795, height: 795 },
  { photo: path.join(HUMAN_DIR, 'assets', 'screenshot-facedetect.jpg'), left: 0, top: 270, width: 228, height: 293 },
  { photo: path.join(FACE_API_DIR, 'demo', 'sample6.jpg'), left: 0, top: 239, width: 753, height: 795 },
] as const;

export async function fourFaces(): Promise<Buffer[]> {
  return Promise.all(CROPS.map(({ photo, ...box }) => sharp(readFileSync(photo)).rotate().extract(box).resize({ width: 400 }).jpeg({ quality: 92 }).toBuffer()));
}
