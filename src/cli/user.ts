import type { Command } from 'commander';
import type { CreatedUser, UserAccount } from '../access/users.js';
import { MedfaceError } from '../errors.js';
import { action, print } from './output.js';
import { asOperator } from './operator.js';
import { withSessionOptions, type SessionOptions } from './session.js';

interface CreateOptions extends SessionOptions {
  username: string;
  role: string[];
  displayName?: string;
  patient?: string;
  totp?: boolean;
  passwordStdin?: boolean;
  pinStdin?: boolean;
}

/**
 * A secret piped on standard input (from a password manager or a file), never on the command line where
 * the shell history and the process list would keep it. A terminal is refused: what is typed would show.
 */
async function readSecretFromStdin(what: string): Promise<string> {
  if (process.stdin.isTTY) throw new MedfaceError('INVALID_ARGUMENT', `pipe the ${what} on standard input (a terminal would show it)`);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const secret = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (secret === '') throw new MedfaceError('INVALID_ARGUMENT', `no ${what} on standard input`);
  return secret;
}

export function registerUser(program: Command): void {
  const user = program.command('user').description('Staff and patient accounts');

  withSessionOptions(
    user
      .command('create')
      .description('Create an account; prints a one-time first password (replaced at first sign-in) unless one is piped in')
      .requiredOption('--username <name>', 'sign-in name (letters, digits, . _ @ -; case-insensitive)')
      .requiredOption('--role <role...>', 'front-desk, clinician, emergency, privacy-officer, admin, or patient (alone)')
      .option('--display-name <name>', 'the name shown to colleagues')
      .option('--patient <id>', "a patient account's own patient record")
      .option('--totp', 'enrol TOTP and print its otpauth:// URI (shown once)')
      .option('--password-stdin', 'read the first password from standard input instead of generating one')
      .option('--pin-stdin', "read a patient's PIN (6-12 digits) from standard input"),
  ).action(
    action(async (opts: CreateOptions) => {
      if (opts.passwordStdin && opts.pinStdin) throw new MedfaceError('INVALID_ARGUMENT', 'standard input carries either a password or a PIN');
      const password = opts.passwordStdin ? await readSecretFromStdin('password') : undefined;
      const pin = opts.pinStdin ? await readSecretFromStdin('PIN') : undefined;
      const { createUser } = await import('../access/users.js');
      const created = await asOperator(opts, (ctx, caller) =>
        createUser(ctx, caller, {
          username: opts.username,
          roles: opts.role,
          displayName: opts.displayName ?? null,
          patientId: opts.patient ?? null,
          ...(password !== undefined && { password }),
          ...(pin !== undefined && { pin }),
          totp: opts.totp === true,
        }),
      );
      const qr = created.totpUri && !opts.json ? await (await import('./qr.js')).terminalQr(created.totpUri) : '';
      print(created, opts, (r) => renderCreated(r, qr));
    }),
  );

  withSessionOptions(user.command('list').description('Every account, with its roles and whether it is disabled')).action(
    action(async (opts: SessionOptions) => {
      const { listUsers } = await import('../access/users.js');
      print(await asOperator(opts, listUsers), opts, (users) => (users.length === 0 ? 'no accounts' : users.map(renderUser).join('\n')));
    }),
  );

  withSessionOptions(user.command('disable').description('Disable an account and end its sessions').argument('<username>')).action(
    action(async (username: string, opts: SessionOptions) => {
      const { disableUser } = await import('../access/users.js');
      const result = await asOperator(opts, (ctx, caller) => disableUser(ctx, caller, username));
      print(result, opts, (r) => `disabled ${r.user.username}; ${r.sessionsEnded} session(s) ended`);
    }),
  );

  withSessionOptions(user.command('enable').description('Let a disabled account sign in again').argument('<username>')).action(
    action(async (username: string, opts: SessionOptions) => {
      const { enableUser } = await import('../access/users.js');
      print(await asOperator(opts, (ctx, caller) => enableUser(ctx, caller, username)), opts, (u) => `enabled ${u.username}`);
    }),
  );

  withSessionOptions(user.command('unlock').description('Lift a sign-in delay or lockout before it runs out').argument('<username>')).action(
    action(async (username: string, opts: SessionOptions) => {
      const { unlockUser } = await import('../access/users.js');
      print(await asOperator(opts, (ctx, caller) => unlockUser(ctx, caller, username)), opts, (u) => `unlocked ${u.username}`);
    }),
  );

  withSessionOptions(
    user
      .command('reset-password')
      .description("Set a new one-time password (replaced at next sign-in) and end the account's sessions")
      .argument('<username>')
      .option('--password-stdin', 'read the password from standard input instead of generating one'),
  ).action(
    action(async (username: string, opts: SessionOptions & { passwordStdin?: boolean }) => {
      const password = opts.passwordStdin ? await readSecretFromStdin('password') : undefined;
      const { resetPassword } = await import('../access/users.js');
      const result = await asOperator(opts, (ctx, caller) => resetPassword(ctx, caller, username, password));
      print(result, opts, (r) => [`password of ${r.user.username} reset; ${r.sessionsEnded} session(s) ended`, ...(r.password ? [oneTimePassword(r.password)] : [])].join('\n'));
    }),
  );

  withSessionOptions(user.command('totp').description('Enrol (or replace) TOTP; prints the otpauth:// URI once').argument('<username>')).action(
    action(async (username: string, opts: SessionOptions) => {
      const { enrolTotp } = await import('../access/users.js');
      const result = await asOperator(opts, (ctx, caller) => enrolTotp(ctx, caller, username));
      const qr = opts.json ? '' : await (await import('./qr.js')).terminalQr(result.totpUri);
      print(result, opts, (r) => `${totpLine(r.totpUri, qr)}\nAny earlier authenticator of ${r.user.username} no longer works.`);
    }),
  );
}

function renderUser(u: UserAccount): string {
  const state = u.disabledAt === null ? 'active' : `disabled ${u.disabledAt}`;
  return `${u.username}\t${u.roles.join(',')}\t${state}\t${u.displayName ?? ''}\t${u.id}`;
}

function oneTimePassword(password: string): string {
  return `one-time password (shown once; must be replaced at first sign-in): ${password}`;
}

function totpLine(uri: string, qr: string): string {
  return `TOTP (shown once; scan the code into an authenticator app): ${uri}\n${qr}`;
}

function renderCreated(r: CreatedUser, qr: string): string {
  const lines = [`created ${r.user.username} (${r.user.roles.join(', ')}), id ${r.user.id}`];
  if (r.password) lines.push(oneTimePassword(r.password));
  if (r.totpUri) lines.push(totpLine(r.totpUri, qr));
  if (!r.user.roles.includes('patient') && !r.totpUri) {
    lines.push(`no TOTP enrolled: the user enrols their own at the first sign-in (a sign-in without a code answers with it), or run \`medface user totp ${r.user.username}\``);
  }
  return lines.join('\n');
}
