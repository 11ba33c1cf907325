import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import QRCode from 'qrcode';
import { signInWithTotp } from '../../src/access/authenticate.js';
import { base32Decode, totpCode } from '../../src/access/totp.js';
import { loadConfig } from '../../src/config.js';
import { accessContext } from '../../src/services/access.js';
import { openMedface } from '../../src/services/context.js';
import { runCli, type CliRun } from './run.js';

const dir = mkdtempSync(path.join(tmpdir(), 'medface-cli-user-'));
const env = { ...process.env, MEDFACE_DATA_DIR: path.join(dir, 'data'), DATABASE_URL: '', MEDFACE_KEY_FILE: '' };

/** Runs the CLI as an operator would, on a data directory of its own, with `input` piped to stdin. */
function medface(args: string[], input = ''): Promise<CliRun> {
  return runCli(args, env, input);
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('medface user', () => {
  it('creates, lists and disables accounts; the first password and TOTP work for sign-in', async () => {
    const created = await medface(['user', 'create', '--username', 'Dr.Grey', '--role', 'clinician', 'emergency', '--display-name', 'M. Grey', '--totp', '--json']);
    expect(created.code).toBe(0);
    const r = JSON.parse(created.stdout) as { user: { id: string; username: string; roles: string[] }; password: string; totpUri: string };
    expect(r.user).toMatchObject({ username: 'dr.grey', roles: ['clinician', 'emergency'] });
    expect(r.password).toMatch(/^[A-Za-z2-9]{5}(-[A-Za-z2-9]{5}){3}$/);
    expect(r.totpUri).toMatch(/^otpauth:\/\/totp\/medface:dr\.grey\?secret=[A-Z2-7]+&/);

    // a server on the same data directory signs the account in with what the command printed
    const m = await openMedface(loadConfig(env));
    try {
      const ctx = await accessContext(m);
      const secret = base32Decode(new URL(r.totpUri).searchParams.get('secret')!);
      const signIn = await signInWithTotp(ctx, {
        username: 'dr.grey',
        password: r.password,
        newPassword: 'my own passphrase now',
        code: totpCode(secret, new Date()),
        client: null,
      });
      expect(signIn.user.id).toBe(r.user.id);
      const created = await m.audit.search(m.store, { action: 'user.create' });
      expect(created.map((e) => [e.actor.startsWith('cli:'), e.outcome, e.details.userId])).toEqual([[true, 'success', r.user.id]]);
    } finally {
      await m.close();
    }

    expect((await medface(['user', 'create', '--username', 'dr.grey', '--role', 'admin'])).stderr).toContain('CONFLICT');
    const disabled = await medface(['user', 'disable', 'DR.GREY', '--json']);
    expect(JSON.parse(disabled.stdout)).toMatchObject({ user: { username: 'dr.grey' }, sessionsEnded: 1 });
    const list = JSON.parse((await medface(['user', 'list', '--json'])).stdout) as { username: string; disabledAt: string | null }[];
    expect(list).toEqual([expect.objectContaining({ username: 'dr.grey', disabledAt: expect.any(String) })]);
  });

  it('reads a chosen first password from standard input and never prints it', async () => {
    const piped = await medface(['user', 'create', '--username', 'desk1', '--role', 'front-desk', '--password-stdin'], 'a password from the vault\n');
    expect(piped.code).toBe(0);
    expect(piped.stdout).toContain('created desk1 (front-desk)');
    expect(piped.stdout).toContain('no TOTP enrolled');
    expect(piped.stdout + piped.stderr).not.toContain('a password from the vault');
    const short = await medface(['user', 'create', '--username', 'desk2', '--role', 'front-desk', '--password-stdin', '--json'], 'short\n');
    expect(short.code).toBe(1);
    expect(JSON.parse(short.stdout)).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
  });

  it('shows a TOTP enrolment as a QR code that encodes its otpauth URI', async () => {
    await medface(['user', 'create', '--username', 'desk3', '--role', 'front-desk', '--password-stdin'], 'a password from the vault\n');
    const enrolled = await medface(['user', 'totp', 'desk3']);
    expect(enrolled.code).toBe(0);
    const uri = /otpauth:\/\/\S+/.exec(enrolled.stdout)?.[0];
    expect(uri).toBeDefined();
    // the half-block rows (dark blocks on a light background) read back into modules, two module rows a line
    const rows = enrolled.stdout
      .split('\n')
      .map((line) => stripVTControlCharacters(line))
      .filter((line) => /^[█▀▄ ]{20,}$/.test(line));
    const modules = rows.flatMap((line) => [[...line].map((c) => c === '█' || c === '▀'), [...line].map((c) => c === '█' || c === '▄')]);
    const qr = QRCode.create(uri!, { errorCorrectionLevel: 'M' });
    const size = qr.modules.size;
    // the drawing has a quiet zone around the symbol; find the symbol's top-left corner by its finder pattern
    const top = modules.findIndex((row) => row.includes(true));
    const left = modules[top]!.indexOf(true);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) expect(modules[top + y]![left + x], `module ${x},${y}`).toBe(qr.modules.get(y, x) === 1);
    }
  });

  it('refuses unknown roles with a non-zero exit', async () => {
    const bad = await medface(['user', 'create', '--username', 'who', '--role', 'surgeon']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('unknown role surgeon');
  });
});

describe('medface api-client', () => {
  it('creates a client with its key shown once, and revokes it', async () => {
    const created = await medface(['api-client', 'create', '--name', 'telemedicine', '--scope', 'verify:patient', '--json']);
    const { client, key } = JSON.parse(created.stdout) as { client: { id: string; scopes: string[] }; key: string };
    expect(client.scopes).toEqual(['verify:patient']);
    expect(key).toMatch(/^mfk_/);
    expect((await medface(['api-client', 'revoke', 'telemedicine'])).stdout).toContain('revoked');
    const list = JSON.parse((await medface(['api-client', 'list', '--json'])).stdout) as { id: string; revokedAt: string | null }[];
    expect(list).toEqual([expect.objectContaining({ id: client.id, revokedAt: expect.any(String) })]);
    expect(JSON.stringify(list)).not.toContain(key.slice(4));
  });
});

describe('medface kiosk', () => {
  it('registers a kiosk with a one-time pairing link, lists it, and revokes it (and no integration by that command)', async () => {
    const registered = await medface(['kiosk', 'register', '--name', 'Lobby 1', '--url', 'https://medface.clinic.example/']);
    expect(registered.code, registered.stderr).toBe(0);
    const link = /https:\/\/medface\.clinic\.example\/kiosk\/pair#(mfp_[A-Za-z0-9_-]{43})/.exec(registered.stdout);
    expect(link, registered.stdout).not.toBeNull();
    expect(registered.stdout).toContain('waiting to be paired');
    await medface(['api-client', 'create', '--name', 'portal-bridge', '--scope', 'verify:patient']);
    const list = JSON.parse((await medface(['kiosk', 'list', '--json'])).stdout) as { name: string; kind: string; scopes: string[] }[];
    expect(list).toEqual([expect.objectContaining({ name: 'Lobby 1', kind: 'kiosk', scopes: ['checkin:patient'] })]);
    expect(JSON.stringify(list)).not.toContain((link as RegExpExecArray)[1]!.slice(4));
    expect((await medface(['kiosk', 'revoke', 'portal-bridge'])).code).not.toBe(0);
    expect((await medface(['kiosk', 'revoke', 'Lobby 1'])).stdout).toContain('revoked');
  });
});
