import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { base32Decode, totpCode } from '../../src/access/totp.js';
import type { Config } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server/lifecycle.js';
import { LogCapture } from './harness.js';

/** The server as `medface serve` runs it: a real listening socket on 127.0.0.1, a fresh data directory. */

const roots: string[] = [];
const running: RunningServer[] = [];

afterEach(async () => {
  for (const server of running.splice(0)) await server.close().catch(() => undefined);
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

function freshConfig(overrides: Partial<Config> = {}): Config {
  const root = mkdtempSync(path.join(os.tmpdir(), 'medface-serve-'));
  roots.push(root);
  return { dataDir: path.join(root, 'data'), databaseUrl: undefined, keyFile: undefined, port: 0, tls: undefined, trustProxy: false, ...overrides };
}

async function start(config: Config, logs = new LogCapture()): Promise<RunningServer> {
  const server = await startServer(config, { host: '127.0.0.1', deployment: { startFaces: 'on-first-use' }, webRoot: null, log: { stream: logs } });
  running.push(server);
  return server;
}

/** A browser's CSRF cookie and token. */
async function csrfOf(url: string): Promise<{ cookie: string; token: string }> {
  const response = await fetch(`${url}/api/v1/auth/csrf`);
  return { cookie: (response.headers.get('set-cookie') ?? '').split(';')[0]!, token: ((await response.json()) as { csrfToken: string }).csrfToken };
}

describe('first run', () => {
  it('creates the data directory and one administrator whose one-time password works once; later starts create none', async () => {
    const config = freshConfig();
    expect(existsSync(config.dataDir)).toBe(false);
    const first = await start(config);
    expect(statSync(config.dataDir).mode & 0o777).toBe(0o700);
    const admin = first.firstAdministrator;
    expect(admin).not.toBeNull();
    expect(admin!.username).toBe('admin');
    expect(admin!.totpUri).toMatch(/^otpauth:\/\/totp\//);

    const { cookie, token } = await csrfOf(first.url);
    const code = totpCode(base32Decode(new URL(admin!.totpUri).searchParams.get('secret')!), new Date());
    const signIn = (body: object) =>
      fetch(`${first.url}/api/v1/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': token }, body: JSON.stringify(body) });
    const unchanged = await signIn({ username: 'admin', password: admin!.password, code });
    expect(unchanged.status).toBe(403);
    expect(((await unchanged.json()) as { error: { code: string } }).error.code).toBe('PASSWORD_CHANGE_REQUIRED');
    const changed = await signIn({ username: 'admin', password: admin!.password, code, newPassword: 'a passphrase of my own choosing' });
    expect(changed.status).toBe(200);
    // the session cookie, and the CSRF cookie bound to the session (token.mac)
    expect(changed.headers.getSetCookie()).toEqual([
      expect.stringMatching(/^medface_session=mfs_[\w-]{43}; Path=\/; HttpOnly; SameSite=Strict$/),
      expect.stringMatching(/^medface_csrf=[\w-]{43}\.[\w-]{43}; Path=\/; HttpOnly; SameSite=Strict$/),
    ]);
    await first.close();
    running.splice(running.indexOf(first), 1);

    const second = await start(config);
    expect(second.firstAdministrator).toBeNull();
    const users = await second.deployment.medface.store.listUsers();
    expect(users.map((u) => [u.username, u.roles])).toEqual([['admin', ['admin']]]);
  });
});

describe('graceful shutdown', () => {
  it('stops accepting, finishes the request in flight, then closes the store', async () => {
    const server = await start(freshConfig());
    const { port } = new URL(server.url);
    const { cookie, token } = await csrfOf(server.url);
    const body = JSON.stringify({ username: 'nobody', password: 'not the password', code: '123456' });

    const request = http.request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/api/v1/auth/sign-in',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), cookie, 'x-csrf-token': token },
    });
    const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
      request.on('response', (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      });
      request.on('error', reject);
    });
    request.write(body.slice(0, 10)); // in flight: headers in, body still coming
    await delay(200);

    let closed = false;
    const stopping = server.close().then(() => (closed = true));
    await delay(300);
    expect(closed).toBe(false);
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();

    request.end(body.slice(10));
    const response = await answered;
    expect(response.status).toBe(401);
    expect(JSON.parse(response.body)).toEqual({ error: { code: 'SIGN_IN_FAILED', message: 'sign-in failed' } });
    await stopping;
    expect(closed).toBe(true);
    await expect(server.deployment.medface.store.listUsers()).rejects.toThrow();
    running.splice(running.indexOf(server), 1);
  });
});

describe('TLS', () => {
  it('serves HTTPS from the configured PEM files, with HSTS and Secure cookies', async () => {
    const config = freshConfig();
    const dir = path.dirname(config.dataDir);
    const certFile = path.join(dir, 'cert.pem');
    const keyFile = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], {
      stdio: 'ignore',
    });
    const server = await start({ ...config, tls: { certFile, keyFile } });
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      https.get(`${server.url}/api/v1/auth/csrf`, { ca: readFileSync(certFile) }, resolve).on('error', reject);
    });
    let body = '';
    for await (const chunk of response) body += String(chunk);
    expect(response.statusCode).toBe(200);
    expect(response.headers['strict-transport-security']).toMatch(/max-age=31536000/);
    // the server reads its cookies under those names: the same cookie without the prefix is no CSRF cookie
    const token = (JSON.parse(body) as { csrfToken: string }).csrfToken;
    const csrfCookie = String(response.headers['set-cookie']).split(';')[0]!;
    const signOut = (cookie: string) =>
      new Promise<number>((resolve, reject) => {
        const request = https.request(
          `${server.url}/api/v1/auth/sign-out`,
          { method: 'POST', ca: readFileSync(certFile), headers: { cookie, 'x-csrf-token': token } },
          (r) => (r.resume(), resolve(r.statusCode ?? 0)),
        );
        request.on('error', reject).end();
      });
    expect(await signOut(csrfCookie)).toBe(200);
    expect(await signOut(csrfCookie.replace('__Host-', ''))).toBe(403);
    // over HTTPS every cookie is __Host- prefixed: only this origin, over TLS, can set it
    expect(String(response.headers['set-cookie'])).toMatch(/^__Host-medface_csrf=[\w-]{43}; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
    expect(String(response.headers['content-security-policy'])).toContain('upgrade-insecure-requests');
  });
});
