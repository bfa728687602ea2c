// Roles: the built-in ones and the organization's own, and (with
// `roles:write`) creating, editing and deleting custom roles.
import { graphql, mutate } from './api.js';
import {
  confirmAction, errorBox, field, h, needs, openDialog, pageHeader, replace, table, uid,
} from './dom.js';
import { groupByResource, permissionList } from './format.js';

const ROLES = `query Roles {
  organization { roles { id name description permissions builtIn } }
}`;

const CATALOG = 'query Catalog { permissions { name description } }';

/** Permission checkboxes grouped by resource; only held ones can change. */
function permissionPicker(catalog, held, chosen) {
  const boxes = [];
  const groups = [...groupByResource(catalog)].map(([resource, permissions]) =>
    h('fieldset', { class: 'group' }, h('legend', {}, resource),
      permissions.map((permission) => {
        const mine = held.has(permission.name);
        const box = h('input', {
          type: 'checkbox', value: permission.name, id: uid('permission'),
          checked: chosen.has(permission.name), disabled: !mine,
        });
        boxes.push(box);
        const hint = mine ? null : h('span', { class: 'hint', id: `${box.id}-hint` }, 'you do not hold this');
        if (hint) box.setAttribute('aria-describedby', hint.id);
        return h('div', { class: 'check' }, box,
          h('label', { for: box.id, title: permission.description }, h('code', {}, permission.name)), hint);
      })));
  return {
    element: h('fieldset', {}, h('legend', {}, 'Permissions'),
      h('p', { class: 'hint' }, 'A role can hold only permissions you hold yourself. Hover a name for what it allows.'),
      h('div', { class: 'groups' }, groups)),
    value: () => boxes.filter((box) => box.checked).map((box) => box.value),
  };
}

/** "+ New role" (no `role`) or "Edit" (`role` prefilled). */
async function roleDialog(ctx, role, done) {
  const catalog = (await graphql(CATALOG)).orThrow().permissions;
  const title = role ? `Edit ${role.name}` : 'New role';
  openDialog(title, (close) => {
    const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 100, autocomplete: 'off', value: role?.name });
    const description = h('textarea', { name: 'description', rows: 2, maxlength: 500 }, role?.description ?? '');
    const permissions = permissionPicker(catalog, new Set(ctx.viewer.permissions), new Set(role?.permissions ?? []));
    const message = h('div');
    const submit = h('button', { type: 'submit', class: 'primary' }, role ? 'Save role' : 'Create role');
    const form = h('form', {},
      field('Name', name, 'Unique in the organization, e.g. “auditor”.'),
      field('Description', description, 'Optional; at most 500 characters.'),
      permissions.element,
      message,
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: close }, 'Cancel'), submit));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      submit.disabled = true;
      replace(message);
      const input = {
        name: name.value.trim(),
        description: description.value.trim(),
        permissions: permissions.value(),
      };
      try {
        if (role) {
          await mutate(`mutation UpdateRole($id: ID!, $input: UpdateRoleInput!) {
            updateRole(id: $id, input: $input) { id } }`, { id: role.id, input });
        } else {
          await mutate(`mutation CreateRole($input: CreateRoleInput!) {
            createRole(input: $input) { id } }`, { input });
        }
        close();
        done();
      } catch (error) {
        replace(message, errorBox(error.message));
        submit.disabled = false;
      }
    });
    return form;
  });
}

/** "Delete", after a confirmation; a role in use is the server's CONFLICT. */
async function deleteRole(role, report, done) {
  const confirmed = await confirmAction(`Delete the role ${role.name}?`,
    'Only a role that no member, service token, pending invitation or trusted publisher uses can be deleted. This cannot be undone.',
    'Delete role');
  if (!confirmed) return;
  try {
    await mutate('mutation DeleteRole($id: ID!) { deleteRole(id: $id) }', { id: role.id });
    replace(report);
  } catch (error) {
    replace(report, errorBox(error.message));
  }
  done();
}

/** `#/roles`. */
export async function render(container, ctx) {
  const writable = ctx.can('roles:write');
  const report = h('div');
  const body = h('div');
  const reload = () => load();
  const create = writable
    ? h('button', { type: 'button', class: 'primary', id: 'new-role', onclick: () => roleDialog(ctx, null, reload).catch((error) => replace(report, errorBox(error.message))) }, '+ New role')
    : null;

  async function load() {
    const answer = await graphql(ROLES);
    const roles = answer.data?.organization?.roles;
    if (!roles) {
      const error = answer.errorAt('organization', 'roles') ?? answer.errors[0];
      replace(body, error?.requiredPermission
        ? needs(error.requiredPermission, 'see the organization’s roles')
        : errorBox(error?.message ?? 'The roles could not be loaded.'));
      if (create) create.hidden = true;
      return;
    }
    const headers = ['Name', 'Description', 'Permissions', 'Type'];
    if (writable) headers.push('Actions');
    const rows = roles.map((role) => {
      const cells = [
        h('strong', {}, role.name),
        role.description || h('span', { class: 'muted' }, '—'),
        permissionList(role.permissions),
        role.builtIn ? h('span', { class: 'badge neutral' }, 'Built-in') : 'Custom',
      ];
      if (writable) {
        cells.push(role.builtIn ? '' : h('div', { class: 'actions row-actions' },
          h('button', {
            type: 'button', 'aria-label': `Edit ${role.name}`,
            onclick: () => roleDialog(ctx, role, reload).catch((error) => replace(report, errorBox(error.message))),
          }, 'Edit'),
          h('button', {
            type: 'button', class: 'danger', 'aria-label': `Delete ${role.name}`,
            onclick: () => deleteRole(role, report, reload),
          }, 'Delete')));
      }
      return cells;
    });
    replace(body, table('Roles', headers, rows, 'No roles.'));
  }

  replace(container,
    pageHeader('Roles', create),
    h('p', { class: 'intro' }, 'A role is a set of permissions. Members, service tokens and trusted publishers each carry one. Built-in roles cannot be changed or deleted; a change to a custom role applies to the very next request of everyone who holds it.'),
    report, body);
  await load();
}
