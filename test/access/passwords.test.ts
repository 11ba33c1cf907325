import { describe, expect, it } from 'vitest';
import { checkNewPassword, checkNewPin, generatePassword, hashIsOutdated, hashSecret, verifyNothing, verifySecret } from '../../src/access/passwords.js';
import { SecretBox } from '../../src/access/secret-box.js';
import { randomBytes } from 'node:crypto';

describe('passwords', () => {
  it('hashes with argon2id, salted, and verifies only the right password', async () => {
    const a = await hashSecret('correct horse battery staple');
    const b = await hashSecret('correct horse battery staple');
    expect(a).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    expect(a).not.toBe(b); // a fresh salt each time
    expect(a).not.toContain('correct horse');
    expect(await verifySecret(a, 'correct horse battery staple')).toBe(true);
    expect(await verifySecret(b, 'correct horse battery staple')).toBe(true);
    expect(await verifySecret(a, 'correct horse battery stapler')).toBe(false);
    expect(await verifySecret(a, 'Correct horse battery staple')).toBe(false);
    expect(await verifySecret(a, '')).toBe(false);
    expect(hashIsOutdated(a)).toBe(false);
  });

  it('matches the same characters however they were composed (NFC)', async () => {
    const hash = await hashSecret('caf\u00e9 au lait 2026');
    expect(await verifySecret(hash, 'cafe\u0301 au lait 2026')).toBe(true);
  });

  it('never lets a damaged or foreign hash verify, and spends a hash on unknown accounts', async () => {
    expect(await verifySecret('not a hash', 'anything')).toBe(false);
    expect(await verifySecret('$argon2id$v=19$m=19456,t=2,p=1$AAAA$BBBB', 'anything')).toBe(false);
    expect(await verifyNothing('whatever')).toBe(false);
  });

  it('flags hashes made at a lower cost for rehashing', async () => {
    const { hash, argon2id } = await import('argon2');
    const cheap = await hash('old password hashed cheaply', { type: argon2id, memoryCost: 4096, timeCost: 1, parallelism: 1 });
    expect(hashIsOutdated(cheap)).toBe(true);
    expect(await verifySecret(cheap, 'old password hashed cheaply')).toBe(true);
  });

  it('generates first passwords that are long, varied and pass the policy', () => {
    const many = Array.from({ length: 200 }, generatePassword);
    expect(new Set(many).size).toBe(200);
    for (const p of many) {
      expect(p).toMatch(/^[a-zA-Z2-9]{5}(-[a-zA-Z2-9]{5}){3}$/);
      expect(p).not.toMatch(/[01ilIoO]/);
      expect(() => checkNewPassword(p)).not.toThrow();
    }
  });

  it('refuses common, padded, repetitive and sequential passwords, and PINs anyone would try (issue 15, low)', () => {
    const weak = [
      'aaaaaaaaaaaa',
      ' '.repeat(12),
      'abcabcabcabc',
      'password1234',
      'Password1234!',
      'PASSWORD2026!!',
      '  welcome2024!!  ',
      'iloveyou1234',
      'administrator',
      'correct horse battery staple',
      'qwertyuiop123',
      '123456789012',
      'abcdefghijkl',
      'lkjihgfedcba',
      'Medface2026!!',
    ];
    for (const password of weak) expect(() => checkNewPassword(password), password).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    for (const password of ['violet kettle ferry 81', 'twelve chars', 'ilovemy cat tremendously', 'hospital roof garden at dawn']) {
      expect(() => checkNewPassword(password), password).not.toThrow();
    }
    for (const pin of ['000000', '111111', '123456', '654321', '121212', '1234567890', '8901234567', '99999999']) {
      expect(() => checkNewPin(pin), pin).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    }
    for (const pin of ['482913', '40417711', '102938']) expect(() => checkNewPin(pin), pin).not.toThrow();
  });

  it('refuses short passwords and malformed PINs', () => {
    expect(() => checkNewPassword('short-pass')).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    expect(() => checkNewPassword('x'.repeat(257))).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    expect(() => checkNewPassword('twelve chars')).not.toThrow();
    for (const bad of ['12345', '1234567890123', '12a456', '']) expect(() => checkNewPin(bad)).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    expect(() => checkNewPin('482913')).not.toThrow();
  });
});

describe('SecretBox', () => {
  it('opens what it sealed only with the same key and context', () => {
    const box = new SecretBox(randomBytes(32));
    const secret = randomBytes(20);
    const sealed = box.seal(secret, 'user-1');
    expect(sealed.includes(secret)).toBe(false);
    expect(box.open(sealed, 'user-1')).toEqual(secret);
    expect(() => box.open(sealed, 'user-2')).toThrow(expect.objectContaining({ code: 'KEY_INVALID' }));
    expect(() => new SecretBox(randomBytes(32)).open(sealed, 'user-1')).toThrow(expect.objectContaining({ code: 'KEY_INVALID' }));
    const altered = Buffer.from(sealed);
    altered[altered.length - 1]! ^= 1;
    expect(() => box.open(altered, 'user-1')).toThrow(expect.objectContaining({ code: 'KEY_INVALID' }));
  });

  it('derives separate keys per label from one deployment secret', () => {
    const master = randomBytes(32);
    const sealed = SecretBox.derive(master, 'a').seal(Buffer.from('x'), 'c');
    expect(SecretBox.derive(master, 'a').open(sealed, 'c').toString()).toBe('x');
    expect(() => SecretBox.derive(master, 'b').open(sealed, 'c')).toThrow(expect.objectContaining({ code: 'KEY_INVALID' }));
  });
});
