import { createHmac } from 'node:crypto';
import { MedfaceError } from '../../errors.js';
import type { KeyRing } from '../../identity/keys.js';
import type { KeyMetadata, Repository } from '../../store/types.js';

/**
 * The store's record of which keys protect it (metadata only, never key material): every key a key file
 * holds is recorded with a check value on first use, and a key file that does not belong to the database
 * is refused before anything is opened or sealed with it.
 */

const AUDIT_PSEUDONYM_KEY_ID = 'audit-pseudonym';

/** A public value that proves which key a file holds without revealing it (HMAC of a fixed label). */
function checkValue(secret: Uint8Array): string {
  return createHmac('sha256', secret).update('medface/key-check/v1').digest('hex').slice(0, 32);
}

/**
 * Records the ring's keys (and the audit pseudonym key) in the store's key metadata, or checks them against
 * what is recorded: a key whose id is known but whose check value differs, or a current key that was
 * already retired (a key file restored from before a rotation), is KEY_INVALID.
 */
export async function registerKeys(tx: Repository, ring: KeyRing, pseudonymKey?: Buffer): Promise<void> {
  const keys: Omit<KeyMetadata, 'createdAt' | 'retiredAt'>[] = [
    ...ring.kekIds.map((id) => ({ id, purpose: 'kek', algorithm: 'AES-256-GCM key wrap', checkValue: checkValue(ring.kek(id).export()) })),
    ...ring.transformIds.map((id) => ({
      id,
      purpose: 'transform',
      algorithm: 'seeded orthogonal rotation',
      checkValue: checkValue(ring.transformSeed(id)),
    })),
  ];
  if (pseudonymKey) {
    keys.push({ id: AUDIT_PSEUDONYM_KEY_ID, purpose: 'audit-pseudonym', algorithm: 'HMAC-SHA256', checkValue: checkValue(pseudonymKey) });
  }
  for (const key of keys) {
    const stored = await tx.getKey(key.id);
    if (!stored) {
      await tx.insertKey({ ...key, createdAt: new Date().toISOString(), retiredAt: null });
    } else if (stored.checkValue !== key.checkValue) {
      throw new MedfaceError('KEY_INVALID', `the ${key.purpose} key ${key.id} in the key file is not the one this database was protected with`, {
        keyId: key.id,
      });
    } else if (stored.retiredAt !== null && (key.id === ring.currentKekId || key.id === ring.currentTransformId)) {
      throw new MedfaceError('KEY_INVALID', `the key file is older than the database: its current ${key.purpose} key ${key.id} was retired`, {
        keyId: key.id,
      });
    }
  }
}
