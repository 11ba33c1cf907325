import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isMedfaceError } from '../../src/errors.js';
import { KEY_FILE_NAME, KeyRing, keyFilePath, loadKeyRing, saveKeyRing, type KeyFile } from '../../src/identity/keys.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'medface-keys-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function codeOf(promise: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (e) {
    return isMedfaceError(e) ? e.code : `not a MedfaceError: ${String(e)}`;
  }
  return undefined;
}

describe('key file', () => {
  it('is generated on first run with mode 0600 and a one-time backup notice', async () => {
    const path = join(dir, 'data', KEY_FILE_NAME);
    const first = await loadKeyRing({ path, storeHasTemplates: false });
    expect(first.notice).toContain(path);
    expect(first.notice).toMatch(/back it up/i);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'data'))).mode & 0o077).toBe(0);

    const file = JSON.parse(await readFile(path, 'utf8')) as KeyFile;
    expect(file.version).toBe(1);
    expect(file.keks.map((k) => k.id)).toEqual([file.currentKek]);
    expect(file.transforms.map((t) => t.id)).toEqual([file.currentTransform]);
    expect(Buffer.from(file.keks[0]!.key, 'base64')).toHaveLength(32);
    expect(Buffer.from(file.transforms[0]!.seed, 'base64')).toHaveLength(32);

    const second = await loadKeyRing({ path, storeHasTemplates: true });
    expect(second.notice).toBeUndefined();
    expect(second.ring.serialize()).toBe(first.ring.serialize());
  });

  it('is not generated when the store already holds templates: KEY_MISSING', async () => {
    const path = join(dir, KEY_FILE_NAME);
    expect(await codeOf(loadKeyRing({ path, storeHasTemplates: true }))).toBe('KEY_MISSING');
    await expect(stat(path)).rejects.toThrow();
  });

  it('two processes starting at once end up with the same key', async () => {
    const path = join(dir, KEY_FILE_NAME);
    const [a, b] = await Promise.all([loadKeyRing({ path, storeHasTemplates: false }), loadKeyRing({ path, storeHasTemplates: false })]);
    expect(a.ring.serialize()).toBe(b.ring.serialize());
    expect([a.notice, b.notice].filter(Boolean)).toHaveLength(1);
  });

  it('a malformed file is KEY_INVALID without echoing its content', async () => {
    const path = join(dir, KEY_FILE_NAME);
    const good = JSON.parse(KeyRing.generate().serialize()) as KeyFile;
    const secret = good.keks[0]!.key;
    for (const text of [
      `{"version":1, "keks": "${secret}`,
      JSON.stringify({ ...good, version: 2 }),
      JSON.stringify({ ...good, currentKek: 'nope' }),
      JSON.stringify({ ...good, keks: [{ ...good.keks[0], key: secret.slice(0, 20) }] }),
      JSON.stringify({ ...good, transforms: [] }),
      JSON.stringify({ ...good, keks: [good.keks[0], good.keks[0]] }),
    ]) {
      await writeFile(path, text);
      try {
        await loadKeyRing({ path, storeHasTemplates: true });
        expect.unreachable('a malformed key file was accepted');
      } catch (e) {
        expect(isMedfaceError(e) && e.code).toBe('KEY_INVALID');
        expect(JSON.stringify(e) + String(e)).not.toContain(secret.slice(0, 12));
      }
    }
  });

  it('MEDFACE_KEY_FILE overrides the data directory', () => {
    expect(keyFilePath('/srv/data', {})).toBe(join('/srv/data', KEY_FILE_NAME));
    expect(keyFilePath('/srv/data', { MEDFACE_KEY_FILE: '/run/secrets/medface.key' })).toBe('/run/secrets/medface.key');
  });
});

describe('KeyRing', () => {
  it('never shows its secrets when printed or serialised to JSON', () => {
    const ring = KeyRing.generate();
    const file = JSON.parse(ring.serialize()) as KeyFile;
    const shown = `${inspect(ring, { showHidden: true, depth: 5 })}${JSON.stringify(ring)}${String(ring)}`;
    expect(shown).toContain(ring.currentKekId);
    for (const secret of [file.keks[0]!.key, file.transforms[0]!.seed]) {
      expect(shown).not.toContain(secret);
      expect(shown).not.toContain(Buffer.from(secret, 'base64').toString('hex'));
    }
  });

  it('rotation keeps the previous key until it is retired, and saving keeps mode 0600', async () => {
    const path = join(dir, KEY_FILE_NAME);
    const { ring } = await loadKeyRing({ path, storeHasTemplates: false });
    const rotated = ring.withNewKek().withNewTransform();
    expect(rotated.currentKekId).not.toBe(ring.currentKekId);
    expect(rotated.kekIds).toEqual([ring.currentKekId, rotated.currentKekId]);
    expect(rotated.transformIds).toEqual([ring.currentTransformId, rotated.currentTransformId]);
    expect(rotated.kek(ring.currentKekId).export().equals(ring.kek(ring.currentKekId).export())).toBe(true);

    await saveKeyRing(path, rotated);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const reloaded = await loadKeyRing({ path, storeHasTemplates: true });
    expect(reloaded.ring.serialize()).toBe(rotated.serialize());

    const retired = rotated.withoutKek(ring.currentKekId).withoutTransform(ring.currentTransformId);
    expect(retired.kekIds).toEqual([rotated.currentKekId]);
    expect(retired.transformIds).toEqual([rotated.currentTransformId]);
    expect(await codeOf(() => retired.kek(ring.currentKekId))).toBe('KEY_INVALID');
    expect(await codeOf(() => retired.withoutKek(retired.currentKekId))).toBe('INVALID_ARGUMENT');
  });
});
