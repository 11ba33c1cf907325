import { mkdtempSync, readFileSync, rmSync, watch } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { loadKeyRing } from '../../src/identity/keys.js';
import { loadPseudonymKey } from '../../src/services/operations/pseudonym-key.js';

/**
 * A first run killed while it writes the key file or the audit pseudonym key must not leave a file with
 * part of a key in it: no later start could read it (KEY_INVALID), although nothing was ever encrypted, and a
 * second process starting at the same moment must not read half a key. So the file must never be seen
 * under its name with less than its whole content: the directory is watched while key files are generated,
 * and the file is read the moment it appears.
 */
it('a key file and an audit pseudonym key appear under their names only whole', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medface-keyfiles-'));
  const seen: { file: string; text: string }[] = [];
  const watcher = watch(dir, (_event, name) => {
    if (name !== 'medface.key' && name !== 'medface-audit.key') return;
    try {
      seen.push({ file: name, text: readFileSync(path.join(dir, name), 'utf8') });
    } catch {
      // gone again (a test run's cleanup)
    }
  });
  try {
    for (let i = 0; i < 20; i++) {
      await loadKeyRing({ path: path.join(dir, 'medface.key'), storeHasTemplates: false });
      await loadPseudonymKey(path.join(dir, 'medface-audit.key'), false);
      await new Promise((resolve) => setTimeout(resolve, 20));
      rmSync(path.join(dir, 'medface.key'));
      rmSync(path.join(dir, 'medface-audit.key'));
    }
  } finally {
    watcher.close();
    rmSync(dir, { recursive: true, force: true });
  }
  expect(seen.length).toBeGreaterThanOrEqual(20);
  for (const { file, text } of seen) expect(() => JSON.parse(text), `${file} seen as ${JSON.stringify(text.slice(0, 20))}`).not.toThrow();
});
