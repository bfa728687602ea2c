// Settings (`#/settings`): the organization's name and token policy, and a
// new organization. Who am I (`#/me`): the caller, its permissions and the
// change-password form.
import { graphql, mutate } from './api.js';
import { code, errorBox, field, h, pageHeader, replace, table } from './dom.js';
import { dateCell, groupByResource, permissionList } from './format.js';

/** `policy::MAX_POLICY_DAYS` in src/service/policy.rs. */
const MAX_POLICY_DAYS = 3650;
/** `MIN_PASSWORD_LEN` in src/auth/password.rs. */
const MIN_PASSWORD_LEN = 12;

/** A two-column list of facts: `[label, value]` pairs. */
function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.map(([label, value]) => [h('dt', {}, label), h('dd', {}, value)]));
}

/** Rename the organization and set its maximum token lifetime. */
function settingsForm(org) {
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 100, autocomplete: 'off', value: org.name });
  const days = h('input', {
    type: 'number', name: 'maxTokenLifetimeDays', required: true, min: 1, max: MAX_POLICY_DAYS, step: 1,
    inputmode: 'numeric', value: org.maxTokenLifetimeDays,
  });
  const message = h('div');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Save settings');
  const form = h('form', { id: 'organization-settings', 'aria-label': 'Organization settings' },
    field('Name', name, '1 to 100 characters.'),
    field('Maximum personal-token lifetime (days)', days,
      `From 1 to ${MAX_POLICY_DAYS} days. A personal token cannot be issued to live longer than this.`),
    message,
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(message);
    const lifetime = Number(days.value);
    if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > MAX_POLICY_DAYS) {
      replace(message, errorBox(`The maximum lifetime must be a whole number of days from 1 to ${MAX_POLICY_DAYS}.`));
      return;
    }
    submit.disabled = true;
    try {
      await mutate(`mutation UpdateOrganization($name: String, $days: Int) {
        updateOrganization(name: $name, maxTokenLifetimeDays: $days) { id name maxTokenLifetimeDays } }`,
      { name: name.value.trim(), days: lifetime });
      replace(message, h('p', { class: 'notice', role: 'status' }, 'Saved. Reloading…'));
      // The header shows the name: draw everything again.
      location.reload();
    } catch (error) {
      replace(message, errorBox(error.message));
      submit.disabled = false;
    }
  });
  return h('section', { 'aria-labelledby': 'org-settings-heading' },
    h('h2', { id: 'org-settings-heading' }, 'Change settings'), form);
}

/** A new organization, with the signed-in user as its admin. */
function newOrganizationForm() {
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 100, autocomplete: 'off' });
  const message = h('div');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create organization');
  const form = h('form', { id: 'create-organization', class: 'inline', 'aria-label': 'New organization' },
    field('Name', name), submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    replace(message);
    try {
      const data = await mutate('mutation CreateOrganization($name: String!) { createOrganization(name: $name) { id name } }',
        { name: name.value.trim() });
      replace(message, h('p', { class: 'notice', role: 'status' },
        'Created ', h('strong', {}, data.createOrganization.name),
        '; you are its admin. The console reloads now: pick it in the organization switcher at the top.'));
      setTimeout(() => location.reload(), 2500);
    } catch (error) {
      replace(message, errorBox(error.message));
      submit.disabled = false;
    }
  });
  return h('section', { 'aria-labelledby': 'new-org-heading' },
    h('h2', { id: 'new-org-heading' }, 'New organization'),
    h('p', { class: 'hint' }, 'A separate tenant with its own members, roles, tokens and projects. You become its admin.'),
    form, message);
}

/** `#/settings`. */
export const organization = {
  async render(container, ctx) {
    const answer = await graphql('query Organization { organization { id name createdAt maxTokenLifetimeDays } }');
    const org = answer.orThrow().organization;
    replace(container,
      pageHeader('Settings'),
      h('p', { class: 'intro' }, 'The organization this console acts in, and its token policy.'),
      h('section', { 'aria-labelledby': 'org-heading' },
        h('h2', { id: 'org-heading' }, 'Organization'),
        facts([
          ['Name', h('strong', {}, org.name)],
          ['ID', code(org.id)],
          ['Created', dateCell(org.createdAt)],
          ['Maximum personal-token lifetime', `${org.maxTokenLifetimeDays} days`],
        ])),
      ctx.can('organization:write') ? settingsForm(org) : null,
      ctx.viewer.kind === 'USER_SESSION' ? newOrganizationForm() : null);
  },
};

const KINDS = {
  USER_SESSION: 'Session (signed in with a password)',
  PERSONAL_TOKEN: 'Personal token',
  SERVICE_TOKEN: 'Service token',
};

/** Current, new and confirmation; other sessions end on success. */
function passwordForm(email) {
  // For password managers: which account the new password is for.
  const username = h('input', { type: 'text', name: 'username', autocomplete: 'username', value: email, hidden: true, readonly: true });
  const current = h('input', { type: 'password', name: 'current-password', required: true, autocomplete: 'current-password' });
  const next = h('input', { type: 'password', name: 'new-password', required: true, minlength: MIN_PASSWORD_LEN, autocomplete: 'new-password' });
  const confirm = h('input', { type: 'password', name: 'confirm-password', required: true, autocomplete: 'new-password' });
  const message = h('div');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Change password');
  const form = h('form', { id: 'change-password', 'aria-label': 'Change password' },
    username,
    field('Current password', current),
    field('New password', next, `At least ${MIN_PASSWORD_LEN} characters.`),
    field('Confirm the new password', confirm),
    message,
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(message);
    if (next.value !== confirm.value) {
      replace(message, errorBox('The new password and its confirmation differ.'));
      confirm.focus();
      return;
    }
    submit.disabled = true;
    try {
      await mutate(`mutation ChangePassword($currentPassword: String!, $newPassword: String!) {
        changePassword(currentPassword: $currentPassword, newPassword: $newPassword) }`,
      { currentPassword: current.value, newPassword: next.value });
      form.reset();
      replace(message, h('p', { class: 'notice', role: 'status' },
        'Password changed. Your other sessions have ended; this one goes on.'));
    } catch (error) {
      replace(message, errorBox(error.message));
    } finally {
      submit.disabled = false;
    }
  });
  return h('section', { 'aria-labelledby': 'password-heading' },
    h('h2', { id: 'password-heading' }, 'Change password'), form);
}

/** `#/me`. */
export const me = {
  async render(container, ctx) {
    const answer = await graphql(`query WhoAmI {
      viewer { kind user { id email name } role { id name description } permissions }
      organization { id name }
    }`);
    const { viewer, organization: org } = answer.orThrow();
    const groups = [...groupByResource(viewer.permissions.map((name) => ({ name })))];
    const permissions = table('Effective permissions', ['Resource', 'Permissions'],
      groups.map(([resource, list]) => [h('span', { class: 'token-name' }, resource),
        permissionList(list.map((p) => p.name))]),
      'No permissions: this credential can only read who it is.');
    replace(container,
      pageHeader('Who am I'),
      h('p', { class: 'intro' }, 'The credential this console uses, and what it may do here.'),
      h('section', { 'aria-labelledby': 'me-heading' },
        h('h2', { id: 'me-heading' }, 'You'),
        facts([
          ['Name', viewer.user ? (viewer.user.name || '—') : h('span', { class: 'muted' }, 'none (service token)')],
          ['Email', viewer.user ? viewer.user.email : h('span', { class: 'muted' }, '—')],
          ['Credential', KINDS[viewer.kind] ?? viewer.kind],
          ['Role', h('span', {}, h('strong', {}, viewer.role.name),
            viewer.role.description ? ` — ${viewer.role.description}` : '')],
          ['Organization', h('span', {}, org.name, ' ', code(org.id))],
        ])),
      h('section', { 'aria-labelledby': 'permissions-heading' },
        h('h2', { id: 'permissions-heading' }, 'Effective permissions'),
        h('p', { class: 'hint' }, 'Your role’s permissions, narrowed by the token’s scopes if the credential is a token.'),
        permissions),
      viewer.kind === 'USER_SESSION' && viewer.user ? passwordForm(viewer.user.email) : null);
  },
};
