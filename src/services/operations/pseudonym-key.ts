import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MedfaceError } from '../../errors.js';
import { writeNewFile } from '../../identity/keys.js';

/**
 * The secret under which the audit trail writes patients as HMAC pseudonyms. It lives in its own file next
 * to the key file because, unlike key-encryption keys and transform seeds, it must never change: every
 * pseudonym ever written depends on it, and a privacy officer finds a patient's entries by recomputing it.
 */

const FORMAT_VERSION = 1;
const SECRET_BYTES = 32;

/** `medface-audit.key` in the key file's directory. */
export function pseudonymKeyPath(keyFile: string): string {
  return join(dirname(keyFile), 'medface-audit.key');
}

export interface LoadedPseudonymKey {
  key: Buffer;
  /** True when this call generated the file (the caller tells the operator to back it up). */
  generated: boolean;
}

/**
 * Reads the pseudonym secret; a missing file is generated (mode 0600) only while the audit trail is empty:
 * with entries written, a new secret would give every patient a second pseudonym, so that is KEY_MISSING.
 */
export async function loadPseudonymKey(path: string, auditHasEntries: boolean): Promise<LoadedPseudonymKey> {
  const existing = await readSecret(path);
  if (existing) return { key: existing, generated: false };
  if (auditHasEntries) {
    throw new MedfaceError('KEY_MISSING', `the audit pseudonym key ${path} is missing but the audit trail has entries; restore it from its backup`, { path });
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const key = randomBytes(SECRET_BYTES);
  if (!(await writeNewFile(path, `${JSON.stringify({ version: FORMAT_VERSION, key: key.toString('base64') })}\n`))) {
    // another process created it between our read and our write: there must be one secret per deployment
    return { key: (await readSecret(path))!, generated: false };
  }
  return { key, generated: true };
}

async function readSecret(path: string): Promise<Buffer | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MedfaceError('KEY_MISSING', `the audit pseudonym key ${path} cannot be read`, { path, reason: (e as NodeJS.ErrnoException).code });
  }
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch {
    throw new MedfaceError('KEY_INVALID', `the audit pseudonym key ${path} is not valid JSON`, { path });
  }
  const value = (file as { version?: unknown; key?: unknown } | null)?.key;
  const key = typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.alloc(0);
  if ((file as { version?: unknown }).version !== FORMAT_VERSION || key.length !== SECRET_BYTES) {
    throw new MedfaceError('KEY_INVALID', `the audit pseudonym key ${path} is not ${SECRET_BYTES} bytes of base64 in format ${FORMAT_VERSION}`, { path });
  }
  return key;
}
