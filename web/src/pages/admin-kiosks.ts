import type { ApiClient, ApiClientList, KioskRegistered } from '../../../src/server/contract.js';
import { api } from '../api.js';
import { confirmed, field, formValues, h, say, status, table } from '../dom.js';

/**
 * Administrator: check-in kiosks. Registering one gives a pairing link, shown once, to open in the kiosk's
 * browser; the kiosk then shows check-in and nothing else, with no staff sign-in. Revoking a kiosk (after a
 * confirmation) stops it at once.
 */
export async function renderAdminKiosks(main: HTMLElement): Promise<void> {
  const section = h('section', { class: 'card', 'aria-labelledby': 'kiosks-title' });
  const message = status();
  const once = h('div', { 'aria-live': 'polite' });

  const revoke = (kiosk: ApiClient): HTMLElement =>
    confirmed(
      `Revoke ${kiosk.name}`,
      `Revoke ${kiosk.name}? It stops checking patients in at once.`,
      `Yes, revoke ${kiosk.name}`,
      () =>
        void api('DELETE', `/api/v1/api-clients/${kiosk.id}`).then(
          () => load(),
          (e: unknown) => say(message, (e as Error).message, 'error'),
        ),
      'Keep it',
    );

  const load = async (): Promise<void> => {
    const kiosks = (await api<ApiClientList>('GET', '/api/v1/api-clients')).clients.filter((c) => c.kind === 'kiosk');
    const form = h(
      'form',
      { 'aria-labelledby': 'kiosk-create-title' },
      h('h3', { id: 'kiosk-create-title' }, 'Register a kiosk'),
      field('Kiosk name', h('input', { name: 'name', required: true, maxlength: 64, autocomplete: 'off' }), 'Where it stands, e.g. “Lobby 1”: the audit trail names the kiosk by it.'),
      h('button', { type: 'submit' }, 'Register kiosk'),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      api<KioskRegistered>('POST', '/api/v1/kiosks', { name: formValues(form).name }).then(
        async ({ kiosk, pairingPath }) => {
          once.replaceChildren(
            h(
              'div',
              { class: 'banner warning', role: 'alert' },
              h('strong', {}, `Kiosk ${kiosk.name} registered`),
              h('p', {}, 'Open this link in the kiosk’s browser within 24 hours. It works once and is shown once.'),
              h('p', {}, h('code', { 'data-pairing-link': '' }, `${location.origin}${pairingPath}`)),
            ),
          );
          await load();
        },
        (e: unknown) => say(message, (e as Error).message, 'error'),
      );
    });
    section.replaceChildren(
      h('h1', { id: 'kiosks-title' }, 'Check-in kiosks'),
      h('p', {}, 'A kiosk checks patients in and can do nothing else: no staff sign-in, no other page, no other API.'),
      table(
        ['Name', 'Registered', 'Status', ''],
        kiosks.map((k) => [
          k.name,
          new Date(k.createdAt).toLocaleDateString(),
          k.revokedAt ? `revoked ${new Date(k.revokedAt).toLocaleDateString()}` : k.pairedAt ? `paired ${new Date(k.pairedAt).toLocaleString()}` : 'waiting to be paired',
          k.revokedAt ? '' : revoke(k),
        ]),
        'Kiosks',
        'No kiosks.',
      ),
      form,
      message,
    );
  };

  main.append(once, section);
  await load();
}
