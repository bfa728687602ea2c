// Personal tokens (mine) and service tokens (the organization's): lists
// with filters and pages, and each active row's Rotate and Revoke. A child
// token (`attenuateToken`) is listed with its parent's name, and is
// revoked, never rotated.
import { graphql, mutate } from './api.js';
import {
  actionsMenu, confirmAction, errorBox, field, h, needs, openDialog, pageHeader, pager,
  replace, secretPanel, table,
} from './dom.js';
import { dateCell, permissionList, statusBadge, timeCell } from './format.js';
import { issuePersonalToken, createServiceToken } from './token_form.js';
import * as tokenPage from './token_page.js';

const PAGE_SIZE = 20;

const TOKEN_FIELDS = `id name kind status hint scopes createdAt expiresAt lastUsedAt revokedAt
  role { id name } createdBy { id email } parent { id name } projects { id name }`;

// Newest first: the token just made is the row at the top.
const PERSONAL = `query PersonalTokens($first: Int, $after: String, $status: TokenStatus, $name: String) {
  viewer { personalTokens(first: $first, after: $after, status: $status, nameContains: $name, order: NEWEST_FIRST) {
    pageInfo { hasNextPage endCursor } nodes { ${TOKEN_FIELDS} } } }
}`;

const SERVICE = `query ServiceTokens($first: Int, $after: String, $status: TokenStatus, $name: String) {
  organization { tokens(first: $first, after: $after, kind: SERVICE, status: $status, nameContains: $name, order: NEWEST_FIRST) {
    pageInfo { hasNextPage endCursor } nodes { ${TOKEN_FIELDS} } } }
}`;

/** Still working, but rotated: its secret works until the grace ends. */
const isReplaced = (token) => token.status === 'ACTIVE' && token.revokedAt !== null;

/** The status and name filters above a list (Active first); `onChange` reloads it. */
function filters(onChange) {
  const status = h('select', { name: 'status' },
    h('option', { value: 'ACTIVE', selected: true }, 'Active'),
    h('option', { value: '' }, 'Any status'),
    h('option', { value: 'EXPIRED' }, 'Expired'),
    h('option', { value: 'REVOKED' }, 'Revoked'));
  const name = h('input', { type: 'search', name: 'name', maxlength: 100, placeholder: 'Name contains…' });
  let timer;
  status.addEventListener('change', () => onChange());
  name.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(onChange, 250); });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter tokens' },
    field('Status', status), field('Name', name));
  form.addEventListener('submit', (event) => { event.preventDefault(); onChange(); });
  return {
    element: form,
    values: () => ({ status: status.value || null, name: name.value.trim() || null }),
  };
}

/** Rotate: pick a grace period, then show the new secret once. */
function rotate(token, done) {
  openDialog(`Rotate ${token.name}`, (close) => {
    const grace = h('select', { name: 'grace' },
      h('option', { value: '0' }, 'The old secret stops working now'),
      h('option', { value: '3600' }, 'The old secret works for 1 more hour'),
      h('option', { value: '86400' }, 'The old secret works for 1 more day'),
      h('option', { value: '604800' }, 'The old secret works for 7 more days'));
    const message = h('div');
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Rotate');
    const form = h('form', {},
      h('p', {}, 'A new secret replaces this one. Name, abilities, role and expiry carry over.'),
      field('Old secret', grace, 'A grace period lets a deployment switch without an outage.'),
      message,
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: close }, 'Cancel'), submit));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      submit.disabled = true;
      try {
        const data = await mutate(`mutation Rotate($id: ID!, $grace: Int) {
          rotateToken(id: $id, gracePeriodSeconds: $grace) { secret token { id hint } } }`,
        { id: token.id, grace: Number(grace.value) || null });
        replace(form, secretPanel('the new secret', data.rotateToken.secret),
          h('div', { class: 'actions' }, h('button', { type: 'button', class: 'primary', onclick: close }, 'Done')));
        form.closest('dialog').addEventListener('close', done);
      } catch (error) {
        replace(message, errorBox(error.message));
        submit.disabled = false;
      }
    });
    return form;
  });
}

/** Revoke, after a confirmation; a refusal is shown in `report`. */
async function revoke(token, report, done) {
  const confirmed = await confirmAction(`Revoke ${token.name}?`,
    'Anything that uses this token gets 401 from its next request. This cannot be undone.',
    'Revoke token');
  if (!confirmed) return;
  try {
    await mutate('mutation Revoke($id: ID!) { revokeToken(id: $id) { id status } }', { id: token.id });
    replace(report);
  } catch (error) {
    replace(report, errorBox(error.message));
  }
  done();
}

/**
 * The actions cell of a row: only an active token rotates or is revoked;
 * a replaced one (rotated, in its grace) can only be revoked at once; a
 * child token is never rotated.
 */
function rowActions(token, { canRotate, canRevoke }, report, reload) {
  canRotate = canRotate && !token.parent;
  if (token.status !== 'ACTIVE' || (!canRotate && !canRevoke)) return '';
  const items = [];
  if (canRotate && !isReplaced(token)) items.push({ label: 'Rotate', action: () => rotate(token, reload) });
  if (canRevoke) items.push({ label: 'Revoke', danger: true, action: () => revoke(token, report, reload) });
  return actionsMenu(`Actions for ${token.name}`, items);
}

/** A list page: filters, table, pager. */
async function listPage(container, { title, intro, button, query, pick, columns, forbiddenWhat, report }) {
  const body = h('div', { class: 'list' });
  const filter = filters(() => pages.first());
  const pages = pager(async (after) => {
    const { status, name } = filter.values();
    const answer = await graphql(query, { first: PAGE_SIZE, after, status, name });
    const error = answer.errors[0];
    const connection = answer.data ? pick(answer.data) : null;
    if (!connection) {
      replace(body, error?.requiredPermission
        ? needs(error.requiredPermission, forbiddenWhat)
        : errorBox(error?.message ?? 'The list could not be loaded.'));
      pages.element.hidden = true;
      filter.element.hidden = Boolean(error?.requiredPermission);
      return null;
    }
    // A caller without `projects:read` gets no project list: say nothing
    // rather than "All projects".
    const projectsHidden = answer.errors.some((e) => e.path?.includes('projects'));
    const rows = connection.nodes.map((token) => columns.map((column) => column.cell({ ...token, projectsHidden })));
    const empty = status === 'ACTIVE' && !name ? 'No active tokens. Pick “Any status” to see the others.'
      : status || name ? 'No token matches these filters.' : 'No tokens yet.';
    replace(body, table(title, columns.map((column) => column.header), rows, empty));
    pages.element.hidden = false;
    return connection.pageInfo;
  });
  replace(container, pageHeader(title, button), h('p', { class: 'intro' }, intro),
    filter.element, report, body, pages.element);
  await pages.first();
  return pages;
}

/** Name, hint and the columns every token list has; a name links to its page. */
function commonColumns(path) {
  return {
    name: {
      header: 'Name',
      cell: (t) => [h('a', { href: `#/${path}/${encodeURIComponent(t.id)}` },
        h('span', { class: 'token-name' }, t.name)),
        t.parent ? h('span', { class: 'token-parent muted' }, `child of ${t.parent.name}`) : null],
    },
    hint: { header: 'Token', cell: (t) => h('code', {}, t.hint) },
    status: {
      header: 'Status',
      cell: (t) => (isReplaced(t)
        ? h('span', { class: 'badge status-replaced' }, 'Replaced — works until ', dateCell(t.revokedAt))
        : statusBadge(t.status)),
    },
    projects: {
      header: 'Projects',
      cell: (t) => (t.projectsHidden ? h('span', { class: 'muted' }, '—')
        : t.projects === null ? h('span', { class: 'muted' }, 'All projects')
        : t.projects.length === 0 ? h('span', { class: 'muted' }, 'None')
          : h('ul', { class: 'chips' }, t.projects.map((p) => h('li', {}, p.name)))),
    },
    lastUsed: { header: 'Last used', cell: (t) => timeCell(t.lastUsedAt, 'Never') },
    expires: { header: 'Expires', cell: (t) => dateCell(t.expiresAt, 'Never') },
    created: { header: 'Created', cell: (t) => timeCell(t.createdAt) },
  };
}

/** `#/tokens`: the signed-in user's personal tokens. */
export const personal = {
  async render(container, ctx, [id] = []) {
    if (id) return tokenPage.render(container, id, { href: '#/tokens', label: 'Personal tokens' });
    let pages;
    const reload = () => pages.first();
    const report = h('div', { class: 'report' });
    const c = commonColumns('tokens');
    const issue = h('button', { type: 'button', class: 'primary', id: 'issue-token' }, '+ Issue token');
    issue.addEventListener('click', () => issuePersonalToken(ctx, reload));
    pages = await listPage(container, {
      title: 'Personal tokens',
      intro: 'Tokens that act as you, with your role or a part of it. They stop working when you leave the organization.',
      button: issue,
      query: PERSONAL,
      pick: (data) => data.viewer.personalTokens,
      forbiddenWhat: 'list your tokens',
      report,
      columns: [c.name, c.hint,
        { header: 'Abilities', cell: (t) => permissionList(t.scopes, 'everything my role allows') },
        c.projects, c.status, c.lastUsed, c.expires, c.created,
        { header: 'Actions', cell: (t) => rowActions(t, { canRotate: true, canRevoke: true }, report, reload) }],
    });
  },
};

/** `#/service-tokens`: the organization's service tokens. */
export const service = {
  async render(container, ctx, [id] = []) {
    if (id) return tokenPage.render(container, id, { href: '#/service-tokens', label: 'Service tokens' });
    let pages;
    const reload = () => pages.first();
    const report = h('div', { class: 'report' });
    const c = commonColumns('service-tokens');
    const writable = ctx.can('tokens:write');
    const create = writable
      ? h('button', { type: 'button', class: 'primary', id: 'create-service-token' }, '+ Create service token')
      : null;
    create?.addEventListener('click', () => createServiceToken(ctx, reload));
    const columns = [c.name, c.hint,
      { header: 'Role', cell: (t) => t.role?.name ?? '—' },
      c.projects, c.status, c.lastUsed, c.expires, c.created,
      { header: 'Created by', cell: (t) => t.createdBy?.email ?? '—' }];
    if (writable) {
      columns.push({
        header: 'Actions',
        cell: (t) => rowActions(t, { canRotate: true, canRevoke: true }, report, reload),
      });
    }
    pages = await listPage(container, {
      title: 'Service tokens',
      intro: 'Tokens owned by the organization, for pipelines and services. Each carries a role and outlives the member who created it.',
      button: create,
      query: SERVICE,
      pick: (data) => data.organization.tokens,
      forbiddenWhat: 'see the organization’s service tokens',
      report,
      columns,
    });
  },
};
