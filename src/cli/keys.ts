import type { Command } from 'commander';
import type { KeyChangeResult } from '../services/operations/keys.js';
import { action, print } from './output.js';
import { withMedface, withSessionOptions, type SessionOptions } from './session.js';

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('Key file maintenance (safe while the server runs)');

  withSessionOptions(keys.command('rotate').description('Re-wrap every data key under a new key-encryption key, then retire the old one')).action(
    action(async (opts: SessionOptions) => {
      const { rotateKeyEncryptionKey } = await import('../services/operations/keys.js');
      print(await withMedface(opts, (medface, who) => rotateKeyEncryptionKey(medface, who)), opts, render('key-encryption key'));
    }),
  );

  withSessionOptions(keys.command('renew-transform').description('Move every template to a new secret transform (no image needed), then retire the old one')).action(
    action(async (opts: SessionOptions) => {
      const { renewTemplateTransform } = await import('../services/operations/keys.js');
      print(await withMedface(opts, (medface, who) => renewTemplateTransform(medface, who)), opts, render('transform'));
    }),
  );
}

function render(what: string): (r: KeyChangeResult) => string {
  return (r) => `new ${what} ${r.current}: ${r.templates} template(s) and ${r.photos} photo(s) re-protected; retired ${r.retired.join(', ') || 'none'}. ` + 'Back up the key file now.';
}
