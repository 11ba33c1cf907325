import { describe, expect, it } from 'vitest';
import { base32Decode, base32Encode, DEFAULT_TOTP, generateTotpSecret, hotp, matchTotp, otpauthUri, totpCode, totpStep, type TotpAlgorithm } from '../../src/access/totp.js';

/** RFC 6238 Appendix B: the seeds are ASCII digits, as long as each hash's output. */
const SEEDS: Record<TotpAlgorithm, Buffer> = {
  SHA1: Buffer.from('12345678901234567890', 'ascii'),
  SHA256: Buffer.from('12345678901234567890123456789012', 'ascii'),
  SHA512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234', 'ascii'),
};

/** RFC 6238 Appendix B: Unix time -> 8-digit TOTP with a 30 s step, per algorithm. */
const RFC6238: [number, Record<TotpAlgorithm, string>][] = [
  [59, { SHA1: '94287082', SHA256: '46119246', SHA512: '90693936' }],
  [1111111109, { SHA1: '07081804', SHA256: '68084774', SHA512: '25091201' }],
  [1111111111, { SHA1: '14050471', SHA256: '67062674', SHA512: '99943326' }],
  [1234567890, { SHA1: '89005924', SHA256: '91819424', SHA512: '93441116' }],
  [2000000000, { SHA1: '69279037', SHA256: '90698825', SHA512: '38618901' }],
  [20000000000, { SHA1: '65353130', SHA256: '77737706', SHA512: '47863826' }],
];

describe('TOTP (RFC 6238)', () => {
  for (const [seconds, codes] of RFC6238) {
    for (const algorithm of ['SHA1', 'SHA256', 'SHA512'] as const) {
      it(`gives ${codes[algorithm]} at T=${seconds} with ${algorithm}`, () => {
        const at = new Date(seconds * 1000);
        expect(totpCode(SEEDS[algorithm], at, { algorithm, digits: 8, period: 30 })).toBe(codes[algorithm]);
        expect(matchTotp(SEEDS[algorithm], codes[algorithm], at, { algorithm, digits: 8, period: 30 }, null)).toBe(totpStep(at, 30));
      });
    }
  }

  it('computes RFC 4226 Appendix D HOTP values (the building block)', () => {
    const expected = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];
    expect(expected.map((_, counter) => hotp(SEEDS.SHA1, counter, 'SHA1', 6))).toEqual(expected);
  });

  it('accepts one step either side of now and nothing further', () => {
    const secret = generateTotpSecret();
    const now = new Date('2026-03-02T09:00:10.000Z');
    const step = totpStep(now, 30);
    for (const offset of [-1, 0, 1]) {
      const code = hotp(secret, step + offset, 'SHA1', 6);
      expect(matchTotp(secret, code, now, DEFAULT_TOTP, null)).toBe(step + offset);
    }
    for (const offset of [-3, -2, 2, 3]) {
      expect(matchTotp(secret, hotp(secret, step + offset, 'SHA1', 6), now, DEFAULT_TOTP, null)).toBeNull();
    }
  });

  it('refuses a step at or before the last one used (replay), and a code of another secret', () => {
    const secret = generateTotpSecret();
    const now = new Date('2026-03-02T09:00:10.000Z');
    const step = totpStep(now, 30);
    const code = totpCode(secret, now);
    expect(matchTotp(secret, code, now, DEFAULT_TOTP, step - 1)).toBe(step);
    expect(matchTotp(secret, code, now, DEFAULT_TOTP, step)).toBeNull();
    expect(matchTotp(secret, hotp(secret, step - 1, 'SHA1', 6), now, DEFAULT_TOTP, step)).toBeNull();
    expect(matchTotp(generateTotpSecret(), code, now, DEFAULT_TOTP, null)).toBeNull();
  });

  it('refuses malformed codes', () => {
    const secret = generateTotpSecret();
    const now = new Date();
    const code = totpCode(secret, now);
    for (const bad of ['', code.slice(1), `${code}0`, `${code.slice(0, 5)}x`, ` ${code.slice(1)}`]) {
      expect(matchTotp(secret, bad, now, DEFAULT_TOTP, null)).toBeNull();
    }
  });

  it('encodes secrets in RFC 4648 base32 (test vectors) and back', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'MY'],
      ['fo', 'MZXQ'],
      ['foo', 'MZXW6'],
      ['foob', 'MZXW6YQ'],
      ['fooba', 'MZXW6YTB'],
      ['foobar', 'MZXW6YTBOI'],
    ];
    for (const [plain, encoded] of vectors) {
      expect(base32Encode(Buffer.from(plain))).toBe(encoded);
      expect(base32Decode(encoded).toString()).toBe(plain);
    }
    const secret = generateTotpSecret('SHA512');
    expect(secret).toHaveLength(64);
    expect(base32Decode(base32Encode(secret).toLowerCase())).toEqual(secret);
    expect(() => base32Decode('MZ1W')).toThrow(/base32/);
  });

  it('writes an otpauth:// URI an authenticator app can scan', () => {
    const secret = generateTotpSecret();
    const uri = new URL(otpauthUri('St. Mary Clinic', 'dr.who@example', secret));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/St. Mary Clinic:dr.who@example');
    expect(base32Decode(uri.searchParams.get('secret')!)).toEqual(secret);
    expect(Object.fromEntries(uri.searchParams)).toMatchObject({ issuer: 'St. Mary Clinic', algorithm: 'SHA1', digits: '6', period: '30' });
  });
});
