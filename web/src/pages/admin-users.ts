import type { AccountRequest, AccountRequestList, AccountRequested, ApiClientCreated, ApiClientList, Role, UserCreated, UserList } from '../../../src/server/contract.js';
import { api } from '../api.js';
import { confirmed, field, formValues, h, say, status, table } from '../dom.js';
import { enrolmentQr } from '../qr.js';

const STAFF_ROLES: Role[] = ['front-desk', 'clinician', 'emergency', 'privacy-officer', 'admin'];
/** Roles another administrator must approve (the server's ROLES_NEEDING_APPROVAL): their users enrol their own TOTP. */
const APPROVED_ROLES: Role[] = ['clinician', 'emergency', 'admin'];
const REQUESTED = 'Requested: another administrator approves it under "Requests awaiting approval", and hands over the one-time password.';
const SCOPES = ['verify:patient', 'identify:patient', 'checkin:patient', 'metrics:read'];

/** Administrator: staff accounts and roles (create, disable, enable, reset password, unlock) and API clients. */
export async function renderAdminUsers(main: HTMLElement): Promise<void> {
  const users = h('section', { class: 'card', 'aria-labelledby': 'users-title' });
  const clients = h('section', { class: 'card', 'aria-labelledby': 'clients-title' });
  const usersMessage = status();
  const clientsMessage = status();
  /** A secret shown once (a first password, a TOTP enrolment, an API key), with what it is. */
  const once = h('div', { 'aria-live': 'polite' });
  const showOnce = (title: string, rows: [string, string][]): void => {
    once.replaceChildren(
      h(
        'div',
        { class: 'banner warning', role: 'alert' },
        h('strong', {}, title),
        h('p', {}, 'Shown once: hand it over now, it cannot be shown again.'),
        h('dl', {}, ...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, h('code', {}, v), v.startsWith('otpauth://') && enrolmentQr(v))])),
      ),
    );
  };

  const post = (path: string, done: (result: Record<string, unknown>) => void = () => undefined) =>
    void api<Record<string, unknown>>('POST', path, {}).then(
      async (result) => {
        // a 202 answers the request alone; an approval answers the request with what it did
        if ('request' in result && !('user' in result)) say(usersMessage, REQUESTED, 'ok');
        else done(result);
        await loadUsers();
      },
      (e: unknown) => say(usersMessage, (e as Error).message, 'error'),
    );
  const act = (label: string, path: string, done?: (result: Record<string, unknown>) => void) => h('button', { type: 'button', class: 'secondary', onclick: () => post(path, done) }, label);

  const loadUsers = async (): Promise<void> => {
    const [{ users: accounts }, { requests }] = await Promise.all([api<UserList>('GET', '/api/v1/users'), api<AccountRequestList>('GET', '/api/v1/account-requests')]);
    const nameOf = (id: string) => accounts.find((a) => a.id === id)?.username ?? id;
    const describe = (r: AccountRequest) =>
      r.action === 'user.create' ? `create ${r.username} (${(r.details.roles ?? []).join(', ')})` : `${r.action === 'user.password-reset' ? 'reset the password' : 'reset the TOTP'} of ${r.username}`;
    const pending = h(
      'section',
      { 'aria-labelledby': 'requests-title' },
      h('h2', { id: 'requests-title' }, 'Requests awaiting approval'),
      table(
        ['Request', 'By', 'When', 'Decision'],
        requests.map((r) => [
          describe(r),
          nameOf(r.requestedBy),
          new Date(r.requestedAt).toLocaleString(),
          h(
            'div',
            { class: 'actions' },
            act(`Approve: ${describe(r)}`, `/api/v1/account-requests/${r.id}/approve`, (done) =>
              showOnce(`Approved: ${describe(r)}`, [['One-time password (the user replaces it and enrols their own authenticator at first sign-in)', String(done.password ?? '')]]),
            ),
            act(`Reject: ${describe(r)}`, `/api/v1/account-requests/${r.id}/reject`),
          ),
        ]),
        'Account requests',
        'No requests.',
      ),
    );
    const staff = accounts.filter((a) => !a.roles.includes('patient'));
    const createForm = h(
      'form',
      { 'aria-labelledby': 'create-title' },
      h('h2', { id: 'create-title' }, 'Create a staff account'),
      h(
        'div',
        { class: 'row' },
        field('New username', h('input', { name: 'username', required: true, autocomplete: 'off', pattern: '[A-Za-z0-9][A-Za-z0-9._@\\-]{1,63}' })),
        field('Display name', h('input', { name: 'displayName', autocomplete: 'off' })),
        field('Role of the new account', h('select', { name: 'role' }, ...STAFF_ROLES.map((r) => h('option', { value: r }, r)))),
      ),
      h(
        'div',
        { class: 'actions' },
        h('input', { type: 'checkbox', id: 'create-totp', name: 'totp', checked: true }),
        h('label', { for: 'create-totp' }, 'Enrol an authenticator app (TOTP); clinician, emergency and admin accounts are approved by another administrator and enrol their own'),
      ),
      h('button', { type: 'submit' }, 'Create account'),
    );
    createForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const v = formValues(createForm);
      const role = v.role as Role;
      // an approved account's user enrols their own authenticator at the first sign-in
      const totp = !APPROVED_ROLES.includes(role) && (createForm.elements.namedItem('totp') as HTMLInputElement).checked;
      api<UserCreated | AccountRequested>('POST', '/api/v1/users', {
        username: v.username,
        roles: [role],
        ...(totp && { totp }),
        ...(v.displayName && { displayName: v.displayName }),
      }).then(
        async (created) => {
          if ('request' in created) {
            say(usersMessage, REQUESTED, 'ok');
            await loadUsers();
            return;
          }
          showOnce(`Account ${created.user.username} created`, [
            ['First password (to be replaced at first sign-in)', created.password ?? ''],
            ...(created.totpUri ? ([['Authenticator enrolment (otpauth URI)', created.totpUri]] as [string, string][]) : []),
          ]);
          await loadUsers();
        },
        (e: unknown) => say(usersMessage, (e as Error).message, 'error'),
      );
    });
    users.replaceChildren(
      h('h1', { id: 'users-title' }, 'Users and roles'),
      table(
        ['Username', 'Name', 'Roles', 'Status', 'Actions'],
        staff.map((a) => [
          a.username,
          a.displayName ?? '',
          a.roles.join(', '),
          a.disabledAt ? `disabled ${new Date(a.disabledAt).toLocaleDateString()}` : 'active',
          h(
            'div',
            { class: 'actions' },
            a.disabledAt
              ? act(`Enable ${a.username}`, `/api/v1/users/${a.username}/enable`)
              : confirmed(`Disable ${a.username}`, `Disable ${a.username}? Every session of the account ends at once, and it cannot sign in until enabled again.`, `Yes, disable ${a.username}`, () =>
                  post(`/api/v1/users/${a.username}/disable`),
                ),
            act(`Reset password of ${a.username}`, `/api/v1/users/${a.username}/reset-password`, (r) =>
              showOnce(`Temporary password for ${a.username}`, [['Temporary password (must be replaced at next sign-in)', String(r.password ?? '')]]),
            ),
            act(`Unlock ${a.username}`, `/api/v1/users/${a.username}/unlock`),
          ),
        ]),
        `${staff.length} staff account${staff.length === 1 ? '' : 's'}`,
      ),
      pending,
      createForm,
      usersMessage,
    );
  };

  const loadClients = async (): Promise<void> => {
    // kiosks have a page of their own (admin-kiosks.ts)
    const list = (await api<ApiClientList>('GET', '/api/v1/api-clients')).clients.filter((c) => c.kind === 'integration');
    const createForm = h(
      'form',
      { 'aria-labelledby': 'client-create-title' },
      h('h3', { id: 'client-create-title' }, 'Add an integration'),
      field('Integration name', h('input', { name: 'name', required: true, maxlength: 64, autocomplete: 'off' })),
      h(
        'fieldset',
        { class: 'choice' },
        h('legend', {}, 'Scopes'),
        ...SCOPES.map((s) => h('div', {}, h('input', { type: 'checkbox', name: 'scope', value: s, id: `scope-${s}` }), h('label', { for: `scope-${s}` }, s))),
      ),
      h('button', { type: 'submit' }, 'Create API client'),
    );
    createForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const scopes = [...createForm.querySelectorAll<HTMLInputElement>('input[name=scope]:checked')].map((i) => i.value);
      api<ApiClientCreated>('POST', '/api/v1/api-clients', { name: formValues(createForm).name, scopes }).then(
        async ({ client, key }) => {
          showOnce(`API client ${client.name} created`, [['API key (Authorization: Bearer)', key]]);
          await loadClients();
        },
        (e: unknown) => say(clientsMessage, (e as Error).message, 'error'),
      );
    });
    clients.replaceChildren(
      h('h2', { id: 'clients-title' }, 'Integrations (API clients)'),
      table(
        ['Name', 'Scopes', 'Created', 'Status'],
        list.map((c) => [
          c.name,
          c.scopes.join(', '),
          new Date(c.createdAt).toLocaleDateString(),
          c.revokedAt
            ? `revoked ${new Date(c.revokedAt).toLocaleDateString()}`
            : confirmed(
                `Revoke ${c.name}`,
                `Revoke ${c.name}? Its API key stops working at once, and cannot be restored: the integration needs a new client.`,
                `Yes, revoke ${c.name}`,
                () => void api('DELETE', `/api/v1/api-clients/${c.id}`).then(loadClients, (e: unknown) => say(clientsMessage, (e as Error).message, 'error')),
              ),
        ]),
        'API clients',
        'No integrations.',
      ),
      createForm,
      clientsMessage,
    );
  };

  main.append(once, users, clients);
  await Promise.all([loadUsers(), loadClients()]);
}
