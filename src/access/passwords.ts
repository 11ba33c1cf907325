import { randomBytes, randomInt } from 'node:crypto';
import { argon2id, hash, needsRehash, verify } from 'argon2';
import { MedfaceError } from '../errors.js';
import { COMMON_LONG_PASSWORDS, COMMON_WORDS } from './common-passwords.js';

/**
 * Passwords and PINs, kept only as argon2id hashes. The cost is OWASP's minimum argon2id configuration
 * (19 MiB, 2 passes, 1 lane): every sign-in pays it once, and an attacker pays it per guess.
 */
const COST = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** Sign-in always takes a second factor, so NIST SP 800-63B's multi-factor minimum would be 8; 12 leaves margin. */
export const MIN_PASSWORD_LENGTH = 12;
/** Long enough for any passphrase, short enough that hashing it costs nothing extra. */
export const MAX_PASSWORD_LENGTH = 256;
const PIN = /^[0-9]{6,12}$/;

/** Letters and digits that cannot be mistaken for one another when read out or copied by hand. */
const GENERATED_ALPHABET = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789';
const GENERATED_GROUPS = 4;
const GENERATED_GROUP_LENGTH = 5;

/** Unicode passwords compare after NFC, so the same characters typed on another keyboard still match. */
function normalise(secret: string): string {
  return secret.normalize('NFC');
}

export async function hashSecret(secret: string): Promise<string> {
  return hash(normalise(secret), { type: argon2id, ...COST });
}

/** False also for a hash that is not argon2 at all (a damaged row must not let anyone in). */
export async function verifySecret(encoded: string, secret: string): Promise<boolean> {
  try {
    return await verify(encoded, normalise(secret));
  } catch {
    return false;
  }
}

/** True when a hash was made with a lower cost than today's: rehash it at the next successful sign-in. */
export function hashIsOutdated(encoded: string): boolean {
  return needsRehash(encoded, COST);
}

let decoy: Promise<string> | undefined;

/**
 * Spends the same time as checking a real password, for a sign-in whose account does not exist, so the
 * response time does not tell which usernames exist. Always false.
 */
export async function verifyNothing(secret: string): Promise<false> {
  decoy ??= hashSecret(randomBytes(16).toString('hex'));
  await verifySecret(await decoy, secret);
  return false;
}

/** Fewer different characters than this is a repetition (`aaaaaaaaaaaa`, twelve spaces, `abcabcabcabc`). */
const MIN_DISTINCT_CHARACTERS = 5;
/** Fewer different digits than this in a PIN is a repetition (`000000`, `121212`). */
const MIN_DISTINCT_PIN_DIGITS = 3;

/**
 * Length, then what guessing tries first (NIST SP 800-63B 5.1.1.2): a common password, a common word padded
 * with digits and symbols, a repetition, or a run of consecutive characters (`abcdefghijkl`, `123456789012`).
 */
export function checkNewPassword(password: string): void {
  const chars = [...normalise(password)];
  if (chars.length < MIN_PASSWORD_LENGTH || chars.length > MAX_PASSWORD_LENGTH) {
    throw weakPassword(`a password has ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters`, `must have ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters`);
  }
  const lower = normalise(password).toLowerCase();
  const core = lower.replace(/^[^\p{L}]+|[^\p{L}]+$/gu, '');
  if (COMMON_LONG_PASSWORDS.has(lower) || COMMON_LONG_PASSWORDS.has(lower.trim()) || COMMON_WORDS.has(core)) {
    throw weakPassword('that password is among the first ones guessed: choose another (a few unrelated words work well)', 'is a common password');
  }
  if (new Set(lower).size < MIN_DISTINCT_CHARACTERS || isRun([...lower])) {
    throw weakPassword('that password repeats or runs through characters: choose another (a few unrelated words work well)', 'is repetitive or sequential');
  }
}

/** Every step to the next character is the same +1 or -1 (digits wrapping 9 to 0). */
function isRun(chars: string[]): boolean {
  const step = (a: string, b: string) => {
    const d = (b.codePointAt(0) as number) - (a.codePointAt(0) as number);
    if (a === '9' && b === '0') return 1;
    if (a === '0' && b === '9') return -1;
    return d;
  };
  const first = step(chars[0] as string, chars[1] as string);
  return Math.abs(first) === 1 && chars.slice(1).every((c, i) => step(chars[i] as string, c) === first);
}

function weakPassword(message: string, issue: string): MedfaceError {
  return new MedfaceError('VALIDATION_FAILED', message, { issues: [{ path: 'password', message: issue }] });
}

export function checkNewPin(pin: string): void {
  if (!PIN.test(pin)) {
    throw new MedfaceError('VALIDATION_FAILED', 'a PIN has 6 to 12 digits', { issues: [{ path: 'pin', message: 'must have 6 to 12 digits' }] });
  }
  if (new Set(pin).size < MIN_DISTINCT_PIN_DIGITS || isRun([...pin])) {
    throw new MedfaceError('VALIDATION_FAILED', 'that PIN repeats or counts through digits (000000, 123456, 121212): choose another', {
      issues: [{ path: 'pin', message: 'is repetitive or sequential' }],
    });
  }
}

/** A first password for a new account (about 115 bits), grouped for reading: `abcde-fghij-...`. */
export function generatePassword(): string {
  const groups: string[] = [];
  for (let g = 0; g < GENERATED_GROUPS; g++) {
    let group = '';
    for (let i = 0; i < GENERATED_GROUP_LENGTH; i++) group += GENERATED_ALPHABET[randomInt(GENERATED_ALPHABET.length)];
    groups.push(group);
  }
  return groups.join('-');
}
