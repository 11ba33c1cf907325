import { open, rm } from 'node:fs/promises';
import type { AccessContext } from '../../access/context.js';
import { guard, recordRead, type Caller } from '../../access/guard.js';
import { MedfaceError } from '../../errors.js';
import { saveKeyRing, type KeyRing } from '../../identity/keys.js';
import type { Envelope, ProtectedTemplate } from '../../identity/protection.js';
import type { ProtectedBlob, Repository } from '../../store/types.js';
import { withFailureAudit, type Actor } from '../auditing.js';
import type { Medface } from '../context.js';
import { protectedTemplate } from '../biometrics/template-reader.js';
import { staffTemplateBinding } from '../biometrics/templates.js';

/**
 * Key lifecycle: rotating the key-encryption key and renewing the template transform, both while other
 * processes keep reading, and reporting which keys protect the store.
 *
 * Both changes run in the same steps, each safe to interrupt and rerun:
 *  1. a new key is added to the key file (the old ones stay) and becomes current;
 *  2. every record is re-protected in batches, each its own transaction, until a pass finds none left;
 *  3. the old keys are retired in the store's key metadata: from then on no process can commit a record
 *     sealed under them (writers check this inside their transaction, see `assertKeysLive`);
 *  4. one more pass catches records committed between 2 and 3;
 *  5. the old keys are removed from the key file.
 * A reader holding the old key file notices a record under a key it lacks and reads the file again.
 * Recording and checking a key file's keys in the store's key metadata is services/operations/key-registry.ts.
 */

/** Passes over all records before giving up on a writer that keeps sealing under an old key. */
const MAX_PASSES = 5;

/**
 * Inside a write transaction, after its audit entry: refuses to commit a record sealed under a key that was
 * retired meanwhile (CONFLICT; a retry seals under the new key). On PostgreSQL the audit append holds the
 * log's lock until commit and the retirement appends too, so the two cannot interleave.
 */
export async function assertKeysLive(tx: Repository, blobs: readonly (ProtectedBlob & { transformId?: string })[]): Promise<void> {
  const ids = new Set(blobs.flatMap((b) => (b.transformId === undefined ? [b.keyId] : [b.keyId, b.transformId])));
  for (const id of ids) {
    const key = await tx.getKey(id);
    if (!key || key.retiredAt !== null) {
      throw new MedfaceError('CONFLICT', 'the keys were rotated while this request ran; try again', { keyId: id });
    }
  }
}

export interface KeyChangeResult {
  /** The key now current. */
  current: string;
  /** Keys retired and removed from the key file. */
  retired: string[];
  templates: number;
  /** Staff members' sign-in faces (their own table, protected the same way). */
  staffTemplates: number;
  photos: number;
}

/** `medface keys rotate`: every data key re-wrapped under a new key-encryption key; the old ones retired. */
export function rotateKeyEncryptionKey(medface: Medface, who: Actor): Promise<KeyChangeResult> {
  const { templates, store } = medface;
  return changeKeys(medface, who, 'keys.rotate', KEY_KINDS.kek, async (current) => ({
    templates: await store.rewrapTemplates((t) => (t.keyId === current ? null : templates.protection.rewrap(protectedTemplate(t)))),
    staffTemplates: await store.rewrapStaffTemplates((t) => (t.keyId === current ? null : templates.protection.rewrap(protectedTemplate(t)))),
    photos: await store.rewrapPhotos((p) => (p.keyId === current ? null : rewrapEnvelope(medface, p))),
  }));
}

/**
 * `medface keys renew-transform`: every template moved to a new secret transform without any image (and
 * without forming the raw embedding), so templates leaked before renewal no longer match anything.
 */
export function renewTemplateTransform(medface: Medface, who: Actor): Promise<KeyChangeResult> {
  const { templates, store } = medface;
  return changeKeys(medface, who, 'keys.renew-transform', KEY_KINDS.transform, async (current) => {
    const kek = templates.keys.currentKekId;
    return {
      templates: await store.rewrapTemplates((t) => (t.transformId === current && t.keyId === kek ? null : templates.protection.renew(protectedTemplate(t), t.patientId))),
      staffTemplates: await store.rewrapStaffTemplates((t) => (t.transformId === current && t.keyId === kek ? null : templates.protection.renew(protectedTemplate(t), staffTemplateBinding(t.userId)))),
      photos: 0,
    };
  });
}

/** One kind of key in the key ring, as a key change adds, reads and drops it. */
interface KeyKind {
  ids(ring: KeyRing): readonly string[];
  withNew(ring: KeyRing): KeyRing;
  currentOf(ring: KeyRing): string;
  without(ring: KeyRing, id: string): KeyRing;
}

const KEY_KINDS = {
  kek: { ids: (ring) => ring.kekIds, withNew: (ring) => ring.withNewKek(), currentOf: (ring) => ring.currentKekId, without: (ring, id) => ring.withoutKek(id) },
  transform: { ids: (ring) => ring.transformIds, withNew: (ring) => ring.withNewTransform(), currentOf: (ring) => ring.currentTransformId, without: (ring, id) => ring.withoutTransform(id) },
} satisfies Record<string, KeyKind>;

/**
 * A key change, under the key-change lock: a new key saved in the key file (reloading also rebuilds this process's
 * gallery for a new transform), every record moved to it by `move` (pass after pass while records are left), the
 * old keys' retirement audited, the records another process wrote meanwhile moved too, then the old keys dropped
 * from the file.
 */
function changeKeys(medface: Medface, who: Actor, action: 'keys.rotate' | 'keys.renew-transform', kind: KeyKind, move: (current: string) => Promise<Moved>): Promise<KeyChangeResult> {
  const { templates } = medface;
  return withFailureAudit(medface, who, action, null, () =>
    withKeyChangeLock(templates.keyFile, async () => {
      await templates.reloadKeys();
      const previous = [...kind.ids(templates.keys)];
      await saveKeyRing(templates.keyFile, kind.withNew(templates.keys));
      await templates.reloadKeys();
      const current = kind.currentOf(templates.keys);
      const pass = () => move(current);
      const moved = await untilNoneLeft(pass);
      await retire(medface, who, action, previous, { current, ...moved });
      const stragglers = await untilNoneLeft(pass);
      await saveKeyRing(
        templates.keyFile,
        previous.reduce((ring, id) => kind.without(ring, id), templates.keys),
      );
      await templates.reloadKeys();
      return { current, retired: previous, ...sum(moved, stragglers) };
    }),
  );
}

/** Re-wraps a photo's data key; only the wrapping changes (its payload and authenticated data stay). */
function rewrapEnvelope(medface: Medface, envelope: Envelope): ProtectedBlob {
  const asTemplate: ProtectedTemplate = { ...envelope, model: '', transformId: '' };
  const { keyId, wrappedKey, iv, ciphertext, tag } = medface.templates.protection.rewrap(asTemplate);
  return { keyId, wrappedKey, iv, ciphertext, tag };
}

/** Records re-protected by a pass, per kind. */
type Moved = Pick<KeyChangeResult, 'templates' | 'staffTemplates' | 'photos'>;

function sum(a: Moved, b: Moved): Moved {
  return { templates: a.templates + b.templates, staffTemplates: a.staffTemplates + b.staffTemplates, photos: a.photos + b.photos };
}

async function untilNoneLeft(pass: () => Promise<Moved>): Promise<Moved> {
  let total: Moved = { templates: 0, staffTemplates: 0, photos: 0 };
  for (let i = 0; i < MAX_PASSES; i++) {
    const moved = await pass();
    if (moved.templates + moved.staffTemplates + moved.photos === 0) return total;
    total = sum(total, moved);
  }
  throw new MedfaceError('CONFLICT', 'records keep arriving under the old key; stop the process that writes them with an old key file and run again');
}

async function retire(medface: Medface, who: Actor, action: string, ids: readonly string[], details: { current: string } & Moved): Promise<void> {
  const at = new Date().toISOString();
  await medface.store.transaction(async (tx) => {
    for (const id of ids) await tx.retireKey(id, at);
    await medface.audit.append(tx, { ...who, action, outcome: 'success', details: { ...details, retired: [...ids] } });
  });
}

/** One key change at a time per key file: two would each write their own ring and drop the other's new key. */
async function withKeyChangeLock<T>(keyFile: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${keyFile}.lock`;
  try {
    await (await open(lock, 'wx', 0o600)).close();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    throw new MedfaceError('CONFLICT', `another key change is running (or one crashed: then remove ${lock} and run again)`, { path: lock });
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

export interface KeyStatusEntry {
  id: string;
  purpose: string;
  algorithm: string;
  createdAt: string;
  retiredAt: string | null;
  /** The key new records are sealed with (KEK) or probes are rotated with (transform). */
  current: boolean;
  /** Records under this key (KEK) or in this transform's space. */
  records: { templates: number; staffTemplates: number; photos: number };
}

export interface KeyStatus {
  keys: KeyStatusEntry[];
  /** When the current KEK replaced an earlier one (null: never rotated). */
  lastRotation: string | null;
  /** When the current transform replaced an earlier one (null: never renewed). */
  lastTransformRenewal: string | null;
}

/**
 * Which keys protect the store and how many records each protects: ids, dates and counts only (key status
 * for administrators, `keys.read`). Check values stay out too: they are for matching a key file, not for display.
 */
export async function keyStatus(medface: Medface, access: AccessContext, caller: Caller): Promise<KeyStatus> {
  await guard(access, caller, 'keys.read');
  const [metadata, counts] = await Promise.all([medface.store.listKeys(), medface.store.countProtectedRecordsByKey()]);
  const field = { template: 'templates', 'staff-template': 'staffTemplates', photo: 'photos' } as const;
  const currentIds = new Set([medface.templates.keys.currentKekId, medface.templates.keys.currentTransformId]);
  const keys = metadata
    .filter((k) => k.purpose === 'kek' || k.purpose === 'transform')
    .map((k): KeyStatusEntry => {
      const records = { templates: 0, staffTemplates: 0, photos: 0 };
      for (const c of counts) if ((k.purpose === 'kek' ? c.keyId : c.transformId) === k.id) records[field[c.kind]] += c.count;
      return { id: k.id, purpose: k.purpose, algorithm: k.algorithm, createdAt: k.createdAt, retiredAt: k.retiredAt, current: currentIds.has(k.id), records };
    });
  const replacedAt = (purpose: string) => {
    const ofPurpose = keys.filter((k) => k.purpose === purpose);
    const current = ofPurpose.find((k) => k.current);
    return current && ofPurpose.some((k) => k.retiredAt !== null) ? current.createdAt : null;
  };
  await recordRead(access, caller, 'keys.read', { keys: keys.length });
  return { keys, lastRotation: replacedAt('kek'), lastTransformRenewal: replacedAt('transform') };
}
