// One token's page (`#/tokens/<id>`, `#/service-tokens/<id>`): what it is,
// the permissions its requests used and did not use ("Narrow to what it
// uses"), refused uses of its secret, and the addresses it was used from
// ("Lock to these addresses").
import { graphql, mutate } from './api.js';
import { confirmAction, errorBox, h, needs, pageHeader, replace } from './dom.js';
import { permissionList, statusBadge, timeCell } from './format.js';

const TOKEN = `query TokenPage($id: ID!) {
  token(id: $id) {
    id name kind status hint scopes lastUsedAt lastUsedIps allowedCidrs addressEnforcement
    permissionsUsed unusedPermissions
    rejectedUses { count lastAt lastIps lastReason }
  }
}`;

const reasons = {
  REVOKED: 'the secret was revoked',
  EXPIRED: 'the secret had expired',
  ADDRESS_NOT_ALLOWED: 'from an address outside its allowed networks',
};

/** A titled section of the page. */
function section(title, ...children) {
  return h('section', { class: 'token-section', 'aria-label': title }, h('h2', {}, title), ...children);
}

/** Runs `change` after `confirmed`, then reloads the page or shows why not. */
async function act(report, reload, title, message, label, change) {
  if (!(await confirmAction(title, message, label))) return;
  try {
    await change();
    replace(report);
    await reload();
  } catch (error) {
    replace(report, errorBox(error.message));
  }
}

/** Renders the token `id` into `container`; `back` is the list it came from. */
export async function render(container, id, back) {
  const report = h('div', { class: 'report' });
  const reload = () => render(container, id, back);
  const answer = await graphql(TOKEN, { id });
  const token = answer.data?.token;
  if (!token) {
    const error = answer.errors[0];
    replace(container, pageHeader('Token'), error?.requiredPermission
      ? needs(error.requiredPermission, 'see this token')
      : errorBox(error?.message ?? 'No such token.'));
    return;
  }
  const active = token.status === 'ACTIVE';
  const narrow = h('button', { type: 'button', id: 'narrow-token', disabled: !active || token.permissionsUsed.length === 0 },
    'Narrow to what it uses');
  narrow.addEventListener('click', () => act(report, reload,
    `Narrow ${token.name}?`,
    `It keeps its secret and can only do: ${token.permissionsUsed.join(', ')}. Everything else is refused from its next request.`,
    'Narrow token',
    () => mutate('mutation Narrow($id: ID!, $scopes: [String!]) { narrowToken(id: $id, scopes: $scopes) { id } }',
      { id: token.id, scopes: token.permissionsUsed })));
  const lock = h('button', { type: 'button', id: 'lock-addresses', disabled: !active || token.lastUsedIps.length === 0 },
    'Lock to these addresses');
  lock.addEventListener('click', () => act(report, reload,
    `Lock ${token.name} to these addresses?`,
    `From its next request it works only from ${token.lastUsedIps.join(', ')}; anywhere else it gets 401.`,
    'Lock token',
    () => mutate(`mutation Lock($id: ID!, $cidrs: [String!]!) {
      restrictTokenAddresses(id: $id, allowedCidrs: $cidrs, mode: ENFORCE) { id } }`,
    { id: token.id, cidrs: token.lastUsedIps })));
  const rejected = token.rejectedUses;
  replace(container,
    pageHeader(token.name),
    h('p', { class: 'intro' }, h('a', { href: back.href }, `← ${back.label}`), ' · ',
      h('code', {}, token.hint), ' ', statusBadge(token.status)),
    report,
    section('Permissions',
      h('p', {}, 'What its requests were granted in the last 90 days, and what it could do but never did.'),
      h('dl', { class: 'token-facts' },
        h('dt', {}, 'Used'), h('dd', { id: 'permissions-used' }, permissionList(token.permissionsUsed)),
        h('dt', {}, 'Unused'), h('dd', { id: 'permissions-unused' }, permissionList(token.unusedPermissions)),
        h('dt', {}, 'Scopes'), h('dd', {}, permissionList(token.scopes, 'whole role'))),
      narrow),
    section('Addresses',
      h('dl', { class: 'token-facts' },
        h('dt', {}, 'Last used'), h('dd', {}, timeCell(token.lastUsedAt, 'Never')),
        h('dt', {}, 'From'), h('dd', { id: 'last-addresses' }, permissionList(token.lastUsedIps, '—')),
        h('dt', {}, 'Allowed from'), h('dd', { id: 'allowed-cidrs' },
          token.allowedCidrs.length ? permissionList(token.allowedCidrs) : h('span', { class: 'muted' }, 'anywhere'),
          token.addressEnforcement === 'REPORT_ONLY' ? ' (report only)' : '')),
      lock),
    section('Refused uses',
      h('p', { id: 'rejected-uses' }, rejected.count === 0
        ? 'None: nobody presented this secret after it died or from elsewhere.'
        : `${rejected.count} refused use${rejected.count === 1 ? '' : 's'}; the last one `,
      rejected.count === 0 ? '' : timeCell(rejected.lastAt),
      rejected.count === 0 ? '' : `, ${reasons[rejected.lastReason] ?? rejected.lastReason}, from ${rejected.lastIps.join(', ')}.`)));
}
