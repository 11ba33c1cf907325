import { createCipheriv, createDecipheriv, createHash, randomBytes, type KeyObject } from 'node:crypto';
import { MedfaceError } from '../errors.js';
import type { Embedding } from '../face/types.js';
import type { KeyRing } from './keys.js';

/**
 * Template protection after ISO/IEC 24745: what is stored can neither be turned back into the face
 * embedding (irreversible) nor matched against another deployment's records (unlinkable), and can be
 * re-issued without any image (renewable).
 *
 * 1. A secret per-deployment transform: a random orthogonal rotation R derived from a seed in the key
 *    file. Rotation preserves cosine similarity, so matching happens entirely in the rotated space and
 *    the raw embedding is never needed again after a probe is transformed.
 * 2. AES-256-GCM envelope encryption: a fresh 256-bit data key per record encrypts the rotated vector;
 *    the data key is itself AES-256-GCM-encrypted ("wrapped") by the key-encryption key (KEK). The model
 *    and transform ids are authenticated data, so a record moved to another model's or transform's
 *    column, or edited in any byte, fails authentication instead of decrypting to a wrong vector.
 *
 * Rotating the KEK re-wraps 60 bytes per record; renewing the transform applies R_new·R_oldᵀ to the
 * decrypted rotated vector, so even then the raw embedding is never formed.
 */

/** An AES-256-GCM envelope: payload encrypted under a per-record data key, the data key wrapped by a KEK. */
export interface Envelope {
  /** Id of the KEK in the key file that wrapped `wrappedKey`. */
  keyId: string;
  /** The data key wrapped by the KEK: 12-byte IV ‖ 32-byte ciphertext ‖ 16-byte GCM tag. */
  wrappedKey: Uint8Array;
  /** 12-byte GCM nonce of the payload. */
  iv: Uint8Array;
  ciphertext: Uint8Array;
  /** 16-byte GCM authentication tag of the payload. */
  tag: Uint8Array;
}

/** A stored face template: a rotated embedding in an envelope. */
export interface ProtectedTemplate extends Envelope {
  /** The embedder that made the embedding (`name@version`). */
  model: string;
  /** Id of the transform seed the embedding was rotated with. */
  transformId: string;
}

/** An embedding after the deployment's secret rotation: only comparable with vectors of the same model and transform. */
export interface TransformedEmbedding {
  model: string;
  transformId: string;
  vector: Float32Array;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
const DATA_KEY_BYTES = 32;
const WRAPPED_KEY_BYTES = IV_BYTES + DATA_KEY_BYTES + TAG_BYTES;

export class TemplateProtection {
  readonly #keys: KeyRing;
  /** Rotations and renewal maps by "seedIds/dimension": derivation is O(d³), application O(d²). */
  readonly #matrices = new Map<string, Float64Array>();

  constructor(keys: KeyRing) {
    this.#keys = keys;
  }

  /**
   * Rotates an embedding with the current transform and seals it in a new envelope under the current KEK.
   * `boundTo` (e.g. the patient id) is authenticated too when given, so a record copied onto another
   * patient's row fails to open; pass the same value to `unprotect`.
   */
  protect(embedding: Embedding, boundTo = ''): ProtectedTemplate {
    return this.#seal(this.transformProbe(embedding), boundTo);
  }

  /** Opens a template: the vector comes back still rotated, ready for matching against transformed probes. */
  unprotect(template: ProtectedTemplate, boundTo = ''): TransformedEmbedding {
    const payload = openEnvelope(this.#keys, template, templateAad(template.model, template.transformId, boundTo));
    try {
      if (payload.length === 0 || payload.length % 4 !== 0) throw tampered();
      const vector = new Float32Array(payload.length / 4);
      for (let i = 0; i < vector.length; i++) vector[i] = payload.readFloatLE(i * 4);
      return { model: template.model, transformId: template.transformId, vector };
    } finally {
      payload.fill(0);
    }
  }

  /** Applies the current transform to a fresh embedding (a probe) so it can be compared with stored templates. */
  transformProbe(embedding: Embedding): TransformedEmbedding {
    const { vector } = embedding;
    if (vector.length === 0 || !vector.every(Number.isFinite)) {
      throw new MedfaceError('INVALID_ARGUMENT', `an embedding of ${embedding.model} must be a non-empty vector of finite numbers`);
    }
    const transformId = this.#keys.currentTransformId;
    return { model: embedding.model, transformId, vector: multiply(this.#rotation(transformId, vector.length), vector) };
  }

  /** Key rotation: the same payload, its data key re-wrapped under the current KEK (the payload is untouched). */
  rewrap(template: ProtectedTemplate): ProtectedTemplate {
    if (template.keyId === this.#keys.currentKekId) return template;
    const dataKey = unwrapDataKey(this.#keys, template);
    try {
      return { ...template, keyId: this.#keys.currentKekId, wrappedKey: wrapDataKey(this.#keys, dataKey) };
    } finally {
      dataKey.fill(0);
    }
  }

  /**
   * Transform renewal: moves a template to the current transform by applying R_new·R_oldᵀ to its rotated
   * vector (no image, and no raw embedding formed), then seals it in a new envelope under the current KEK.
   */
  renew(template: ProtectedTemplate, boundTo = ''): ProtectedTemplate {
    const current = this.#keys.currentTransformId;
    if (template.transformId === current) return this.rewrap(template);
    const old = this.unprotect(template, boundTo);
    try {
      const moved = multiply(this.#renewal(old.transformId, current, old.vector.length), old.vector);
      return this.#seal({ model: old.model, transformId: current, vector: moved }, boundTo);
    } finally {
      old.vector.fill(0);
    }
  }

  /** Seals arbitrary bytes (an enrolment photo kept for human review) in the same kind of envelope. */
  protectBytes(bytes: Uint8Array, boundTo = ''): Envelope {
    return sealEnvelope(this.#keys, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytesAad(boundTo));
  }

  unprotectBytes(envelope: Envelope, boundTo = ''): Buffer {
    return openEnvelope(this.#keys, envelope, bytesAad(boundTo));
  }

  #seal(transformed: TransformedEmbedding, boundTo: string): ProtectedTemplate {
    const payload = Buffer.alloc(transformed.vector.length * 4);
    transformed.vector.forEach((x, i) => payload.writeFloatLE(x, i * 4));
    try {
      const envelope = sealEnvelope(this.#keys, payload, templateAad(transformed.model, transformed.transformId, boundTo));
      return { model: transformed.model, transformId: transformed.transformId, ...envelope };
    } finally {
      payload.fill(0);
    }
  }

  #rotation(transformId: string, dimension: number): Float64Array {
    const cacheKey = `${transformId}/${dimension}`;
    let matrix = this.#matrices.get(cacheKey);
    if (!matrix) {
      matrix = rotationFromSeed(this.#keys.transformSeed(transformId), dimension);
      this.#matrices.set(cacheKey, matrix);
    }
    return matrix;
  }

  #renewal(fromId: string, toId: string, dimension: number): Float64Array {
    const cacheKey = `${fromId}>${toId}/${dimension}`;
    let matrix = this.#matrices.get(cacheKey);
    if (!matrix) {
      matrix = multiplyByTranspose(this.#rotation(toId, dimension), this.#rotation(fromId, dimension), dimension);
      this.#matrices.set(cacheKey, matrix);
    }
    return matrix;
  }
}

/**
 * A Haar-random orthogonal d×d matrix (row-major) determined by the seed: Gram–Schmidt QR of a Gaussian
 * matrix whose entries come from SHAKE256(seed), an extendable-output function, so the stream is both
 * reproducible and unpredictable without the seed. Gram–Schmidt yields R with a positive diagonal, which
 * is what makes Q uniformly (Haar) distributed; it is run twice per column for orthogonality to 1e-15.
 */
export function rotationFromSeed(seed: Uint8Array, dimension: number): Float64Array {
  if (!Number.isInteger(dimension) || dimension < 1) throw new MedfaceError('INVALID_ARGUMENT', 'rotation dimension must be a positive integer');
  const d = dimension;
  const gaussians = gaussianStream(seed, d, d * d);
  // columns of Q are built in place as rows of `q` (q[j] = j-th column), then transposed into R = Q
  const q = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    const cj = j * d;
    for (let i = 0; i < d; i++) q[cj + i] = gaussians[i * d + j]!;
    for (let pass = 0; pass < 2; pass++) {
      for (let ck = 0; ck < cj; ck += d) {
        let projection = 0;
        for (let i = 0; i < d; i++) projection += q[ck + i]! * q[cj + i]!;
        for (let i = 0; i < d; i++) q[cj + i]! -= projection * q[ck + i]!;
      }
    }
    let norm = 0;
    for (let i = 0; i < d; i++) norm += q[cj + i]! * q[cj + i]!;
    norm = Math.sqrt(norm);
    for (let i = 0; i < d; i++) q[cj + i]! /= norm;
  }
  const rotation = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) rotation[i * d + j] = q[j * d + i]!;
  return rotation;
}

/** `count` standard normal numbers from SHAKE256(domain ‖ d ‖ seed), by Box–Muller on 53-bit uniforms in (0, 1). */
function gaussianStream(seed: Uint8Array, dimension: number, count: number): Float64Array {
  const pairs = Math.ceil(count / 2);
  const domain = Buffer.alloc(4);
  domain.writeUInt32BE(dimension);
  const bytes = createHash('shake256', { outputLength: pairs * 16 })
    .update('medface/rotation/v1\0')
    .update(domain)
    .update(seed)
    .digest();
  const out = new Float64Array(pairs * 2);
  const uniform = (offset: number): number => ((bytes.readUInt32BE(offset) >>> 11) * 2 ** 32 + bytes.readUInt32BE(offset + 4) + 0.5) / 2 ** 53;
  for (let p = 0; p < pairs; p++) {
    const radius = Math.sqrt(-2 * Math.log(uniform(p * 16)));
    const angle = 2 * Math.PI * uniform(p * 16 + 8);
    out[2 * p] = radius * Math.cos(angle);
    out[2 * p + 1] = radius * Math.sin(angle);
  }
  return out.subarray(0, count);
}

function multiply(matrix: Float64Array, vector: Float32Array): Float32Array {
  const d = vector.length;
  const out = new Float32Array(d);
  for (let i = 0; i < d; i++) {
    let sum = 0;
    for (let j = 0; j < d; j++) sum += matrix[i * d + j]! * vector[j]!;
    out[i] = sum;
  }
  return out;
}

/** A·Bᵀ for d×d row-major matrices. */
function multiplyByTranspose(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let sum = 0;
      for (let k = 0; k < d; k++) sum += a[i * d + k]! * b[j * d + k]!;
      out[i * d + j] = sum;
    }
  }
  return out;
}

function templateAad(model: string, transformId: string, boundTo: string): Buffer {
  return Buffer.from(JSON.stringify(['medface/template/v1', model, transformId, boundTo]), 'utf8');
}

function bytesAad(boundTo: string): Buffer {
  return Buffer.from(JSON.stringify(['medface/bytes/v1', boundTo]), 'utf8');
}

function wrapAad(keyId: string): Buffer {
  return Buffer.from(JSON.stringify(['medface/data-key/v1', keyId]), 'utf8');
}

function sealEnvelope(keys: KeyRing, payload: Buffer, aad: Buffer): Envelope {
  const dataKey = randomBytes(DATA_KEY_BYTES);
  try {
    const iv = randomBytes(IV_BYTES);
    const { ciphertext, tag } = gcmEncrypt(dataKey, iv, payload, aad);
    return { keyId: keys.currentKekId, wrappedKey: wrapDataKey(keys, dataKey), iv, ciphertext, tag };
  } finally {
    dataKey.fill(0);
  }
}

/** The payload, or KEY_INVALID when the KEK is wrong or any byte of the record or its context changed. */
function openEnvelope(keys: KeyRing, envelope: Envelope, aad: Buffer): Buffer {
  const dataKey = unwrapDataKey(keys, envelope);
  try {
    if (envelope.iv.length !== IV_BYTES || envelope.tag.length !== TAG_BYTES) throw tampered();
    return gcmDecrypt(dataKey, envelope.iv, envelope.ciphertext, envelope.tag, aad);
  } finally {
    dataKey.fill(0);
  }
}

function wrapDataKey(keys: KeyRing, dataKey: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const { ciphertext, tag } = gcmEncrypt(keys.kek(keys.currentKekId), iv, dataKey, wrapAad(keys.currentKekId));
  return Buffer.concat([iv, ciphertext, tag]);
}

function unwrapDataKey(keys: KeyRing, envelope: Envelope): Buffer {
  const kek = keys.kek(envelope.keyId);
  const wrapped = Buffer.from(envelope.wrappedKey);
  if (wrapped.length !== WRAPPED_KEY_BYTES) throw tampered();
  return gcmDecrypt(kek, wrapped.subarray(0, IV_BYTES), wrapped.subarray(IV_BYTES, IV_BYTES + DATA_KEY_BYTES), wrapped.subarray(IV_BYTES + DATA_KEY_BYTES), wrapAad(envelope.keyId));
}

function gcmEncrypt(key: Buffer | KeyObject, iv: Buffer, plaintext: Buffer, aad: Buffer): { ciphertext: Buffer; tag: Buffer } {
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { ciphertext, tag: cipher.getAuthTag() };
}

function gcmDecrypt(key: Buffer | KeyObject, iv: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, aad: Buffer): Buffer {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    throw tampered();
  }
}

function tampered(): MedfaceError {
  return new MedfaceError('KEY_INVALID', 'a protected record failed authentication: the key file does not match the one it was written with, or the record was altered');
}
