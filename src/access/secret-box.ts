import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { MedfaceError } from '../errors.js';

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/**
 * Seals small secrets the store keeps for access control (TOTP shared secrets) with AES-256-GCM. Each sealed
 * value is bound to a context (the owning user id) as authenticated data, so a row copied onto another
 * account does not open. Layout: version byte | iv | tag | ciphertext.
 */
export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Uint8Array) {
    if (key.length !== KEY_BYTES) throw new MedfaceError('KEY_INVALID', `a secret box key is ${KEY_BYTES} bytes`);
    this.#key = Buffer.from(key);
  }

  /** A box whose key is derived (HKDF-SHA256) from a deployment secret under its own label, so it is separate from other uses of that secret. */
  static derive(deploymentSecret: Uint8Array, label: string): SecretBox {
    return new SecretBox(Buffer.from(hkdfSync('sha256', deploymentSecret, Buffer.alloc(0), `medface/${label}`, KEY_BYTES)));
  }

  seal(plaintext: Uint8Array, context: string): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), ciphertext]);
  }

  /** KEY_INVALID when the value was sealed under another key or context, or was altered. */
  open(sealed: Uint8Array, context: string): Buffer {
    const bytes = Buffer.from(sealed);
    if (bytes.length < 1 + IV_BYTES + TAG_BYTES || bytes[0] !== VERSION) {
      throw new MedfaceError('KEY_INVALID', 'a sealed secret is damaged or of an unknown format');
    }
    const decipher = createDecipheriv('aes-256-gcm', this.#key, bytes.subarray(1, 1 + IV_BYTES));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(bytes.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(bytes.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]);
    } catch {
      throw new MedfaceError('KEY_INVALID', 'a sealed secret does not open with this deployment key (wrong key, or altered)');
    }
  }
}
