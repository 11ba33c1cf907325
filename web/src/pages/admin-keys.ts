import { api } from '../api.js';
import { h, noticeList, table } from '../dom.js';
import type { KeyStatus } from '../../../src/server/contract.js';

/** Administrator: which keys protect the stored templates and photos, and how many each (never key material). */
export async function renderAdminKeys(main: HTMLElement): Promise<void> {
  const { keys, lastRotation, lastTransformRenewal } = await api<KeyStatus>('GET', '/api/v1/admin/keys');
  const when = (at: string | null) => (at ? new Date(at).toLocaleString() : 'never');
  const current = keys.find((k) => k.current && k.purpose === 'kek');
  main.append(
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'keys-title' },
      h('h1', { id: 'keys-title' }, 'Key status'),
      noticeList('Key summary', [
        ['Active key-encryption key', current ? `${current.id}, created ${when(current.createdAt)}` : 'unknown'],
        ['Last key rotation', when(lastRotation)],
        ['Last transform renewal', when(lastTransformRenewal)],
      ]),
      table(
        ['Key', 'Purpose', 'Created', 'Status', 'Patient templates', 'Staff sign-in faces', 'Photos'],
        keys.map((k) => [
          h('code', {}, k.id),
          k.purpose === 'kek' ? 'key encryption' : 'template transform',
          when(k.createdAt),
          k.current ? 'active' : k.retiredAt ? `retired ${when(k.retiredAt)}` : 'not in use',
          String(k.records.templates),
          String(k.records.staffTemplates),
          k.purpose === 'kek' ? String(k.records.photos) : '—',
        ]),
        'Keys and the records they protect',
      ),
      h('p', {}, 'Rotate with `medface keys rotate` and `medface keys renew-transform` on the server (back up the key file first).'),
    ),
  );
}
