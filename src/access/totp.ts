import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { MedfaceError } from '../errors.js';

/**
 * Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP), written on node:crypto's HMAC so every
 * step can be checked against the RFCs' test vectors. Pure: no storage, no clock of its own.
 */

export type TotpAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

export interface TotpParameters {
  algorithm: TotpAlgorithm;
  digits: number;
  /** Seconds per time step. */
  period: number;
}

/** What every authenticator app understands (many ignore the algorithm, digits and period they are given). */
export const DEFAULT_TOTP: TotpParameters = { algorithm: 'SHA1', digits: 6, period: 30 };

/** Steps either side of the current one that are still accepted: a code typed as it rolls over, small clock drift. */
export const TOTP_WINDOW = 1;

const HMAC_NAME: Record<TotpAlgorithm, string> = { SHA1: 'sha1', SHA256: 'sha256', SHA512: 'sha512' };
/** RFC 4226 §4 requires at least 128 bits and recommends 160; RFC 6238's seeds match each hash's output size. */
const SECRET_BYTES: Record<TotpAlgorithm, number> = { SHA1: 20, SHA256: 32, SHA512: 64 };

export function generateTotpSecret(algorithm: TotpAlgorithm = DEFAULT_TOTP.algorithm): Buffer {
  return randomBytes(SECRET_BYTES[algorithm]);
}

export function checkTotpParameters(p: TotpParameters): void {
  if (!(p.algorithm in HMAC_NAME)) throw new MedfaceError('INVALID_ARGUMENT', 'TOTP algorithm must be SHA1, SHA256 or SHA512');
  if (!Number.isInteger(p.digits) || p.digits < 6 || p.digits > 8) throw new MedfaceError('INVALID_ARGUMENT', 'TOTP codes have 6 to 8 digits');
  if (!Number.isInteger(p.period) || p.period < 1) throw new MedfaceError('INVALID_ARGUMENT', 'the TOTP period is a positive number of seconds');
}

/** RFC 4226 HOTP: HMAC of the 8-byte big-endian counter, dynamically truncated to `digits` decimal digits. */
export function hotp(secret: Uint8Array, counter: number, algorithm: TotpAlgorithm, digits: number): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(HMAC_NAME[algorithm], secret).update(message).digest();
  const offset = (mac[mac.length - 1] as number) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** The RFC 6238 time step (T0 = 0, the Unix epoch) that `at` falls in. */
export function totpStep(at: Date, period: number): number {
  return Math.floor(at.getTime() / 1000 / period);
}

export function totpCode(secret: Uint8Array, at: Date, p: TotpParameters = DEFAULT_TOTP): string {
  return hotp(secret, totpStep(at, p.period), p.algorithm, p.digits);
}

/**
 * The time step whose code `code` is, searching TOTP_WINDOW steps either side of `at`'s step, or null.
 * A step at or before `lastUsedStep` is never accepted, so a code (or an older one) cannot be used twice.
 */
export function matchTotp(secret: Uint8Array, code: string, at: Date, p: TotpParameters, lastUsedStep: number | null): number | null {
  if (code.length !== p.digits || !/^[0-9]+$/.test(code)) return null;
  const current = totpStep(at, p.period);
  const typed = Buffer.from(code, 'ascii');
  let found: number | null = null;
  // Every candidate is computed and compared in constant time, so timing does not tell which step matched.
  for (let step = current - TOTP_WINDOW; step <= current + TOTP_WINDOW; step++) {
    const expected = Buffer.from(hotp(secret, step, p.algorithm, p.digits), 'ascii');
    if (timingSafeEqual(expected, typed) && found === null && (lastUsedStep === null || step > lastUsedStep)) found = step;
  }
  return found;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding, as authenticator apps expect secrets. */
export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31];
  return out;
}

export function base32Decode(text: string): Buffer {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const out: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const c of clean) {
    const value = BASE32.indexOf(c);
    if (value < 0) throw new MedfaceError('INVALID_ARGUMENT', 'not a base32 string');
    buffer = (buffer << 5) | value;
    bits += 5;
    if (bits >= 8) {
      out.push((buffer >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
    buffer &= (1 << bits) - 1;
  }
  return Buffer.from(out);
}

/**
 * The Key Uri Format authenticator apps scan (usually as a QR code): `otpauth://totp/Issuer:account?...`.
 * It contains the secret: show it once, to the user enrolling, and never log it.
 */
export function otpauthUri(issuer: string, account: string, secret: Uint8Array, p: TotpParameters = DEFAULT_TOTP): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const query = new URLSearchParams({
    secret: base32Encode(secret),
    issuer,
    algorithm: p.algorithm,
    digits: String(p.digits),
    period: String(p.period),
  });
  return `otpauth://totp/${label}?${query.toString()}`;
}
