// Members: who belongs to the organization and with which role, the
// pending invitations, and (with `members:write`) inviting, changing a
// member's role, removing a member and withdrawing an invitation.
import { graphql, mutate } from './api.js';
import {
  actionsMenu, code, confirmAction, errorBox, field, h, needs, openDialog, pageHeader, pager,
  replace, secretPanel, table,
} from './dom.js';
import { dateCell, timeCell } from './format.js';

const PAGE_SIZE = 20;

const MEMBERS = `query Members($first: Int, $after: String) {
  organization { members(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { user { id email name } role { id name } joinedAt } } }
}`;

const INVITATIONS = `query Invitations {
  organization { invitations { id email role { id name } createdAt expiresAt } }
}`;

const ROLES = 'query Roles { organization { roles { id name permissions } } }';

/** The server's refusal of a field: "You need x to …", else its message. */
function refusal(error, what, fallback) {
  return error?.requiredPermission
    ? needs(error.requiredPermission, what)
    : errorBox(error?.message ?? fallback);
}

/**
 * The roles the caller may grant (permissions ⊆ theirs), loaded once;
 * `{roles}` or `{error}` when `roles:read` is missing.
 */
function grantableRoles(ctx) {
  let loading;
  return () => {
    loading ??= graphql(ROLES).then((answer) => {
      const roles = answer.data?.organization?.roles;
      if (!roles) {
        loading = undefined;
        return { error: answer.errorAt('organization', 'roles') ?? answer.errors[0] };
      }
      const mine = new Set(ctx.viewer.permissions);
      return { roles: roles.filter((role) => role.permissions.every((p) => mine.has(p))) };
    });
    return loading;
  };
}

/**
 * A labelled `<select>` of roles, `selectedId` preselected; its hint lists
 * what the chosen role grants (the options stay short for narrow screens).
 */
function roleField(roles, selectedId, note = '') {
  const select = h('select', { name: 'role', required: true },
    roles.map((role) => h('option', {
      value: role.id, selected: role.id === selectedId, title: role.permissions.join(', '),
    }, role.name)));
  const element = field('Role', select, ' ');
  const hint = element.querySelector('.hint');
  const describe = () => {
    const role = roles.find((r) => r.id === select.value);
    hint.textContent = `${note}Grants: ${role?.permissions.join(', ') || 'no permissions'}.`;
  };
  select.addEventListener('change', describe);
  describe();
  return { element, select };
}

/** "Change role": a dialog with the roles the caller may grant. */
async function changeRole(member, roles, done) {
  const loaded = await roles();
  openDialog(`Change the role of ${member.user.name || member.user.email}`, (close) => {
    if (!loaded.roles) {
      return h('div', {},
        refusal(loaded.error, 'pick a role', 'Roles could not be loaded.'),
        h('div', { class: 'actions' }, h('button', { type: 'button', onclick: close }, 'Close')));
    }
    const role = roleField(loaded.roles, member.role.id, 'Only roles whose permissions you hold are offered. ');
    const select = role.select;
    const message = h('div');
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Change role');
    const form = h('form', {},
      h('p', {}, 'The new role applies to the very next request of every token of ',
        h('strong', {}, member.user.email), ' in this organization.'),
      role.element,
      message,
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: close }, 'Cancel'), submit));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      submit.disabled = true;
      replace(message);
      try {
        await mutate(`mutation ChangeRole($userId: ID!, $roleId: ID!) {
          updateMemberRole(userId: $userId, roleId: $roleId) { user { id } role { id name } } }`,
        { userId: member.user.id, roleId: select.value });
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

/** "Remove", after a confirmation. */
async function remove(member, report, done) {
  const confirmed = await confirmAction(`Remove ${member.user.email}?`,
    'They leave the organization now: their personal tokens here stop working at once. Service tokens they created live on.',
    'Remove member');
  if (!confirmed) return;
  try {
    await mutate('mutation Remove($userId: ID!) { removeMember(userId: $userId) }', { userId: member.user.id });
    replace(report);
  } catch (error) {
    replace(report, errorBox(error.message));
  }
  done();
}

/** "Withdraw" an invitation, after a confirmation. */
async function withdraw(invitation, report, done) {
  const confirmed = await confirmAction(`Withdraw the invitation of ${invitation.email}?`,
    'Its code stops working at once.', 'Withdraw invitation');
  if (!confirmed) return;
  try {
    await mutate('mutation Withdraw($id: ID!) { revokeInvitation(id: $id) }', { id: invitation.id });
    replace(report);
  } catch (error) {
    replace(report, errorBox(error.message));
  }
  done();
}

/** The invite form; once sent, the code is shown once. */
function inviteForm(roles, done) {
  const email = h('input', { type: 'email', name: 'email', required: true, maxlength: 254, autocomplete: 'off' });
  const roleSlot = h('div');
  const message = h('div');
  const result = h('div');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Invite');
  const form = h('form', { id: 'invite-form', class: 'inline', 'aria-label': 'Invite a member' },
    field('Email', email), roleSlot, submit);
  let select = null;
  roles().then((loaded) => {
    if (loaded.roles) {
      const role = roleField(loaded.roles, loaded.roles.find((r) => r.name === 'viewer')?.id);
      select = role.select;
      replace(roleSlot, role.element);
    } else {
      replace(roleSlot, refusal(loaded.error, 'pick the invitee’s role', 'Roles could not be loaded.'));
      submit.disabled = true;
    }
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!select) return;
    submit.disabled = true;
    replace(message);
    try {
      const data = await mutate(`mutation Invite($input: InviteMemberInput!) {
        inviteMember(input: $input) { url invitation { id email role { name } expiresAt } } }`,
      { input: { email: email.value.trim(), roleId: select.value } });
      const { url, invitation } = data.inviteMember;
      replace(result,
        h('p', {}, 'Invited ', h('strong', {}, invitation.email), ' as ', h('strong', {}, invitation.role.name),
          '. The link works once, until ', dateCell(invitation.expiresAt), '.'),
        secretPanel('the invitation link', url),
        h('p', { class: 'hint' }, 'Send it to the invitee. It opens a page that shows this organization and the role; someone new picks a name and a password, someone with an account signs in and joins. (Scripts send the code in the link to the ', code('acceptInvitation'), ' mutation.)'));
      form.reset();
      select.dispatchEvent(new Event('change'));
      done();
    } catch (error) {
      replace(message, errorBox(error.message));
    } finally {
      submit.disabled = false;
    }
  });
  return h('section', { 'aria-labelledby': 'invite-heading' },
    h('h2', { id: 'invite-heading' }, 'Invite a member'),
    form, message, result);
}

/** `#/members`. */
export async function render(container, ctx) {
  const writable = ctx.can('members:write');
  const me = ctx.viewer.user?.id;
  const roles = grantableRoles(ctx);

  const memberReport = h('div');
  const memberBody = h('div');
  let pages;
  const reloadMembers = () => pages.first();
  const memberActions = (member) => {
    const items = [{ label: 'Change role', action: () => changeRole(member, roles, reloadMembers) }];
    if (member.user.id !== me) {
      items.push({ label: 'Remove', danger: true, action: () => remove(member, memberReport, reloadMembers) });
    }
    return actionsMenu(`Actions for ${member.user.email}`, items);
  };
  pages = pager(async (after) => {
    const answer = await graphql(MEMBERS, { first: PAGE_SIZE, after });
    const connection = answer.data?.organization?.members;
    if (!connection) {
      replace(memberBody, refusal(answer.errorAt('organization', 'members') ?? answer.errors[0],
        'see the organization’s members', 'The members could not be loaded.'));
      pages.element.hidden = true;
      return null;
    }
    const headers = ['Name', 'Email', 'Role', 'Joined'];
    if (writable) headers.push('Actions');
    const rows = connection.nodes.map((member) => {
      const cells = [
        h('span', { class: 'token-name' }, member.user.name || '—',
          member.user.id === me ? h('span', { class: 'muted' }, ' (you)') : null),
        member.user.email,
        member.role.name,
        timeCell(member.joinedAt),
      ];
      if (writable) cells.push(memberActions(member));
      return cells;
    });
    replace(memberBody, table('Members', headers, rows, 'No members.'));
    pages.element.hidden = false;
    return connection.pageInfo;
  });

  const invitationReport = h('div');
  const invitationBody = h('div');
  async function loadInvitations() {
    const answer = await graphql(INVITATIONS);
    const invitations = answer.data?.organization?.invitations;
    if (!invitations) {
      replace(invitationBody, refusal(answer.errorAt('organization', 'invitations') ?? answer.errors[0],
        'see pending invitations', 'The invitations could not be loaded.'));
      return;
    }
    const headers = ['Email', 'Role', 'Created', 'Expires'];
    if (writable) headers.push('Actions');
    const rows = invitations.map((invitation) => {
      const cells = [invitation.email, invitation.role.name, timeCell(invitation.createdAt), dateCell(invitation.expiresAt)];
      if (writable) {
        cells.push(h('button', {
          type: 'button', class: 'danger', 'aria-label': `Withdraw the invitation of ${invitation.email}`,
          onclick: () => withdraw(invitation, invitationReport, loadInvitations),
        }, 'Withdraw'));
      }
      return cells;
    });
    replace(invitationBody, table('Pending invitations', headers, rows, 'No pending invitations.'));
  }

  replace(container,
    pageHeader('Members'),
    h('p', { class: 'intro' }, 'People in this organization and their roles. Removing a member ends their personal tokens here at once; the organization always keeps an admin.'),
    writable ? inviteForm(roles, loadInvitations) : null,
    h('section', { 'aria-labelledby': 'members-heading' },
      h('h2', { id: 'members-heading' }, 'Members'), memberReport, memberBody, pages.element),
    h('section', { 'aria-labelledby': 'invitations-heading' },
      h('h2', { id: 'invitations-heading' }, 'Pending invitations'), invitationReport, invitationBody));
  await Promise.all([pages.first(), loadInvitations()]);
}
