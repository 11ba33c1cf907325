import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { link, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MedfaceError } from '../errors.js';

/**
 * The deployment's secrets for template protection, kept in one JSON key file outside the database:
 * key-encryption keys (KEKs) that wrap each record's data key, and the seeds of the secret transform
 * applied to embeddings before encryption. Both come with ids that are stored in every record, so a
 * rotation can keep the previous KEK or seed next to the current one until every record has moved on.
 *
 * Key material never leaves this module except as a `KeyObject` or seed handed to protection.ts, and
 * never appears in an error message: a `KeyRing` prints and serialises to JSON as its ids only.
 */

/** File name of a generated key file inside the data directory. */
export const KEY_FILE_NAME = 'medface.key';

const FORMAT_VERSION = 1;
const SECRET_BYTES = 32;
const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/** The key file on disk. Secrets are base64 of 32 random bytes. */
export interface KeyFile {
  version: 1;
  /** Id of the KEK that wraps new data keys. */
  currentKek: string;
  keks: { id: string; key: string; created: string }[];
  /** Id of the transform seed applied to new templates. */
  currentTransform: string;
  transforms: { id: string; seed: string; created: string }[];
}

interface Secret {
  id: string;
  created: string;
  bytes: Buffer;
}

export class KeyRing {
  readonly #keks: ReadonlyMap<string, Secret>;
  readonly #seeds: ReadonlyMap<string, Secret>;
  readonly currentKekId: string;
  readonly currentTransformId: string;

  private constructor(keks: Secret[], currentKekId: string, seeds: Secret[], currentTransformId: string) {
    this.#keks = new Map(keks.map((k) => [k.id, k]));
    this.#seeds = new Map(seeds.map((s) => [s.id, s]));
    if (this.#keks.size !== keks.length || this.#seeds.size !== seeds.length) throw invalidFile('duplicate key ids');
    if (!this.#keks.has(currentKekId)) throw invalidFile('the current key-encryption key is not in the file');
    if (!this.#seeds.has(currentTransformId)) throw invalidFile('the current transform seed is not in the file');
    this.currentKekId = currentKekId;
    this.currentTransformId = currentTransformId;
  }

  /** A fresh ring with one KEK and one transform seed, both current. */
  static generate(): KeyRing {
    const kek = newSecret('kek');
    const seed = newSecret('tf');
    return new KeyRing([kek], kek.id, [seed], seed.id);
  }

  /** Reads the key file's text; malformed content is KEY_INVALID (the parser's message is dropped: it may quote key bytes). */
  static parse(text: string): KeyRing {
    let file: unknown;
    try {
      file = JSON.parse(text);
    } catch {
      throw invalidFile('it is not valid JSON');
    }
    if (!isRecord(file) || file.version !== FORMAT_VERSION) throw invalidFile(`expected format version ${FORMAT_VERSION}`);
    const { currentKek, currentTransform, keks, transforms } = file;
    if (typeof currentKek !== 'string' || typeof currentTransform !== 'string') throw invalidFile('current ids are missing');
    return new KeyRing(parseSecrets(keks, 'key'), currentKek, parseSecrets(transforms, 'seed'), currentTransform);
  }

  /** The key file's text (contains secrets: write it only with `saveKeyRing`). */
  serialize(): string {
    const file: KeyFile = {
      version: FORMAT_VERSION,
      currentKek: this.currentKekId,
      keks: [...this.#keks.values()].map((k) => ({ id: k.id, key: k.bytes.toString('base64'), created: k.created })),
      currentTransform: this.currentTransformId,
      transforms: [...this.#seeds.values()].map((s) => ({ id: s.id, seed: s.bytes.toString('base64'), created: s.created })),
    };
    return `${JSON.stringify(file, null, 2)}\n`;
  }

  get kekIds(): string[] {
    return [...this.#keks.keys()];
  }

  get transformIds(): string[] {
    return [...this.#seeds.keys()];
  }

  /** The KEK with this id; a record naming a KEK the file lacks was wrapped under another key file. */
  kek(id: string): KeyObject {
    const secret = this.#keks.get(id);
    if (!secret) throw new MedfaceError('KEY_INVALID', 'a record was wrapped under a key-encryption key that is not in the key file', { keyId: id });
    return createSecretKey(secret.bytes);
  }

  /** The transform seed with this id (for protection.ts, which derives the rotation from it). */
  transformSeed(id: string): Buffer {
    const secret = this.#seeds.get(id);
    if (!secret) throw new MedfaceError('KEY_INVALID', 'a record was protected under a transform that is not in the key file', { transformId: id });
    return Buffer.from(secret.bytes);
  }

  /** Key rotation, step 1: a new current KEK; the previous ones stay to unwrap records not yet re-wrapped. */
  withNewKek(): KeyRing {
    const kek = newSecret('kek');
    return new KeyRing([...this.#keks.values(), kek], kek.id, [...this.#seeds.values()], this.currentTransformId);
  }

  /** Key rotation, last step: drop a KEK once no record is wrapped under it any more. */
  withoutKek(id: string): KeyRing {
    if (id === this.currentKekId) throw new MedfaceError('INVALID_ARGUMENT', 'the current key-encryption key cannot be retired');
    if (!this.#keks.has(id)) throw new MedfaceError('NOT_FOUND', 'no such key-encryption key in the key file', { keyId: id });
    return new KeyRing(
      [...this.#keks.values()].filter((k) => k.id !== id),
      this.currentKekId,
      [...this.#seeds.values()],
      this.currentTransformId,
    );
  }

  /** Transform renewal, step 1: a new current seed; the previous ones stay to re-derive records not yet renewed. */
  withNewTransform(): KeyRing {
    const seed = newSecret('tf');
    return new KeyRing([...this.#keks.values()], this.currentKekId, [...this.#seeds.values(), seed], seed.id);
  }

  /** Transform renewal, last step: drop a seed once no record is protected under it any more. */
  withoutTransform(id: string): KeyRing {
    if (id === this.currentTransformId) throw new MedfaceError('INVALID_ARGUMENT', 'the current transform cannot be retired');
    if (!this.#seeds.has(id)) throw new MedfaceError('NOT_FOUND', 'no such transform in the key file', { transformId: id });
    return new KeyRing(
      [...this.#keks.values()],
      this.currentKekId,
      [...this.#seeds.values()].filter((s) => s.id !== id),
      this.currentTransformId,
    );
  }

  /** Ids only: a ring that ends up in a log or a JSON response shows no secret. */
  toJSON(): { currentKek: string; keks: string[]; currentTransform: string; transforms: string[] } {
    return { currentKek: this.currentKekId, keks: this.kekIds, currentTransform: this.currentTransformId, transforms: this.transformIds };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `KeyRing ${JSON.stringify(this.toJSON())}`;
  }
}

/** Where the key file lives: `MEDFACE_KEY_FILE` when set, otherwise `medface.key` in the data directory. */
export function keyFilePath(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.MEDFACE_KEY_FILE || join(dataDir, KEY_FILE_NAME);
}

export interface LoadedKeyRing {
  ring: KeyRing;
  path: string;
  /** Set only when this call generated the key file: a one-time message the caller must show the operator. */
  notice?: string;
}

/**
 * Opens the deployment's key ring. A missing key file is generated (mode 0600) only while the store holds
 * no template: with templates stored, a fresh key could never read them, so that is KEY_MISSING instead.
 */
export async function loadKeyRing(options: { path: string; storeHasTemplates: boolean }): Promise<LoadedKeyRing> {
  const { path, storeHasTemplates } = options;
  const existing = await readKeyFile(path);
  if (existing !== undefined) return { ring: KeyRing.parse(existing), path };
  if (storeHasTemplates) {
    throw new MedfaceError('KEY_MISSING', `the key file ${path} is missing but the store holds protected templates; restore the key file from its backup (or set MEDFACE_KEY_FILE)`, { path });
  }
  const ring = KeyRing.generate();
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  if (!(await writeNewFile(path, ring.serialize()))) {
    // another process generated it between our read and write: use theirs, there must be one key per deployment
    return { ring: KeyRing.parse((await readKeyFile(path))!), path };
  }
  return {
    ring,
    path,
    notice:
      `medface generated a new key file at ${path}. Back it up now and keep the backup apart from database backups: ` +
      'without it the stored face templates cannot be read, and anyone holding both can. This message is shown only once.',
  };
}

/** Replaces the key file atomically (write beside it, then rename), keeping mode 0600. */
export async function saveKeyRing(path: string, ring: KeyRing): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeNew(temporary, ring.serialize());
    await rename(temporary, path);
  } finally {
    await rm(temporary, { force: true });
  }
  await syncDirectory(dirname(path));
}

async function readKeyFile(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MedfaceError('KEY_MISSING', `the key file ${path} cannot be read`, { path, reason: (e as NodeJS.ErrnoException).code });
  }
}

/**
 * Creates `path` holding `text` (mode 0600) unless it exists: false when it does. The text is written and
 * synced under a temporary name first and then hard-linked into place, so the file never exists with part
 * of its content — neither after a crash in the middle of a first run (which would leave a key file no
 * start could read) nor for a second process starting at the same moment.
 */
export async function writeNewFile(path: string, text: string): Promise<boolean> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeNew(temporary, text);
    try {
      await link(temporary, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
    await syncDirectory(dirname(path));
    return true;
  } finally {
    await rm(temporary, { force: true });
  }
}

/** Creates `path` exclusively with mode 0600 and syncs it; false when it already exists. */
async function writeNew(path: string, text: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    await handle.chmod(0o600); // the process umask applies to open(); the mode must not depend on it
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function newSecret(prefix: string): Secret {
  return { id: `${prefix}_${randomBytes(6).toString('hex')}`, created: new Date().toISOString(), bytes: randomBytes(SECRET_BYTES) };
}

function parseSecrets(entries: unknown, field: 'key' | 'seed'): Secret[] {
  if (!Array.isArray(entries) || entries.length === 0) throw invalidFile(`no ${field} entries`);
  return entries.map((entry: unknown) => {
    if (!isRecord(entry) || typeof entry.id !== 'string' || !ID_PATTERN.test(entry.id)) throw invalidFile(`a ${field} entry has no valid id`);
    const value = entry[field];
    const bytes = typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.alloc(0);
    if (bytes.length !== SECRET_BYTES) throw invalidFile(`${field} ${entry.id} is not ${SECRET_BYTES} bytes of base64`);
    return { id: entry.id, created: typeof entry.created === 'string' ? entry.created : '', bytes };
  });
}

function invalidFile(why: string): MedfaceError {
  return new MedfaceError('KEY_INVALID', `the key file is not usable: ${why}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
