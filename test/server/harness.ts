import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { createApiClient } from '../../src/access/api-clients.js';
import type { Caller } from '../../src/access/guard.js';
import type { Role, Scope } from '../../src/access/policy.js';
import { base32Decode, totpCode } from '../../src/access/totp.js';
import { createUser } from '../../src/access/users.js';
import { buildServer, type ServerOptions } from '../../src/server/app.js';
import { Deployment, type DeploymentOptions } from '../../src/services/operations/deployment.js';

/** The console operator: creates the accounts and API clients the tests act as. */
export const OPERATOR: Caller = { principal: { kind: 'operator', id: 'cli:test' }, client: null };

/** Log lines written by the server, kept to be searched. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  }
  get text(): string {
    return this.lines.join('\n');
  }
}

/** A browser's state: the session and CSRF cookies, and the CSRF token to echo. */
export interface Browser {
  cookie: string;
  csrf: string;
}

/**
 * The browser after a response, as a browser keeps its cookies: those the response set replace those it had,
 * those it cleared are gone. A sign-in sets the session cookie and binds the CSRF cookie to it.
 */
export function afterResponse<B extends Browser>(browser: B, response: { cookies: unknown }): B {
  const jar = new Map(
    browser.cookie
      .split(/;\s*/)
      .filter(Boolean)
      .map((c) => [c.slice(0, c.indexOf('=')), c.slice(c.indexOf('=') + 1)] as const),
  );
  for (const { name, value } of response.cookies as { name: string; value: string }[]) {
    if (value === '') jar.delete(name);
    else jar.set(name, value);
  }
  return { ...browser, cookie: [...jar].map(([name, value]) => `${name}=${value}`).join('; ') };
}

export interface TestServer {
  app: FastifyInstance;
  deployment: Deployment;
  dataDir: string;
  logs: LogCapture;
  /** The CSRF cookie and token a browser gets before signing in. */
  newBrowser(): Promise<Browser>;
  /** A staff account with those roles, signed in through the API with password and TOTP. */
  signIn(roles: Role[], username?: string): Promise<Browser & { userId: string }>;
  /** An integration's API key with those scopes. */
  apiKey(scopes: Scope[], name?: string): Promise<{ key: string; clientId: string }>;
  /** A request as the browser makes it (cookies, and the CSRF token on state-changing methods). */
  as(browser: Browser | null, options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export interface TestServerOptions extends Omit<ServerOptions, 'deployment' | 'log'> {
  deployment?: DeploymentOptions;
}

let accounts = 0;

/** medface on a fresh SQLite data directory, served by the real Fastify app (requests by inject). */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'medface-server-'));
  const dataDir = path.join(root, 'data');
  const deployment = await Deployment.start({ dataDir, databaseUrl: undefined, keyFile: undefined }, options.deployment);
  const logs = new LogCapture();
  const { deployment: _, ...serverOptions } = options;
  const app = await buildServer({ webRoot: null, ...serverOptions, deployment, log: { stream: logs } });
  await app.ready();

  const as = (browser: Browser | null, request: InjectOptions) => {
    const unsafe = !['GET', 'HEAD', undefined].includes(request.method as string | undefined);
    return app.inject({
      ...request,
      headers: {
        ...(browser && { cookie: browser.cookie }),
        ...(browser && unsafe && { 'x-csrf-token': browser.csrf }),
        ...request.headers,
      },
    });
  };

  const newBrowser = async (): Promise<Browser> => {
    const response = await app.inject({ method: 'GET', url: '/api/v1/auth/csrf' });
    const cookie = (response.cookies as { name: string; value: string }[]).map((c) => `${c.name}=${c.value}`).join('; ');
    return { cookie, csrf: response.json<{ csrfToken: string }>().csrfToken };
  };

  return {
    app,
    deployment,
    dataDir,
    logs,
    newBrowser,
    as,
    async signIn(roles, username = `staff-${++accounts}`) {
      const password = `first password ${accounts} for ${username}`;
      const created = await createUser(deployment.access, OPERATOR, { username, roles, password, totp: true });
      const secret = base32Decode(new URL(created.totpUri as string).searchParams.get('secret') as string);
      const browser = await newBrowser();
      const response = await as(browser, {
        method: 'POST',
        url: '/api/v1/auth/sign-in',
        payload: { username, password, code: totpCode(secret, new Date()), newPassword: `${password} renewed` },
      });
      if (response.statusCode !== 200) throw new Error(`sign-in failed: ${response.statusCode} ${response.body}`);
      return { ...afterResponse(browser, response), userId: created.user.id };
    },
    async apiKey(scopes, name = `integration ${++accounts}`) {
      const { client, key } = await createApiClient(deployment.access, OPERATOR, { name, scopes });
      return { key, clientId: client.id };
    },
    async close() {
      await app.close();
      await deployment.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The routes the server answers, from Fastify's route tree: `GET /api/v1/patients/:patientId`. */
export function routesOf(app: FastifyInstance): string[] {
  const routes: string[] = [];
  const prefixes: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^(?<indent>[│ ]*)[├└]── (?<segment>.*?)(?: \((?<methods>[A-Z, ]+)\))?$/u.exec(line);
    if (!match?.groups) continue;
    const depth = match.groups.indent!.length / 4;
    prefixes.length = depth;
    const url = prefixes.join('') + match.groups.segment;
    prefixes.push(match.groups.segment!);
    for (const method of match.groups.methods?.split(', ') ?? []) routes.push(`${method} ${url}`);
  }
  return routes;
}
