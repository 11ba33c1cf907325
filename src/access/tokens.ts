import { createHash, randomBytes } from 'node:crypto';

/**
 * Opaque bearer secrets (session tokens, API keys, a kiosk's pairing code and device token): 256 random bits behind a prefix that says what they are
 * (so secret scanners and people recognise a leaked one). Only their SHA-256 is stored: unlike passwords
 * they are far too random to guess, so a fast hash is enough and lets the store find them by it.
 */
export type TokenKind = 'session' | 'api-key' | 'kiosk-pairing' | 'kiosk-device';

const PREFIX: Record<TokenKind, string> = { session: 'mfs_', 'api-key': 'mfk_', 'kiosk-pairing': 'mfp_', 'kiosk-device': 'mfd_' };
const TOKEN = /^mf[skpd]_[A-Za-z0-9_-]{43}$/;

export function newToken(kind: TokenKind): { token: string; hash: string } {
  const token = PREFIX[kind] + randomBytes(32).toString('base64url');
  return { token, hash: hashToken(token) };
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Whether `token` has the shape of one of ours (checked before any lookup). */
export function looksLikeToken(token: string, kind: TokenKind): boolean {
  return TOKEN.test(token) && token.startsWith(PREFIX[kind]);
}
