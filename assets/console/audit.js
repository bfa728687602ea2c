// The audit log: newest first, filtered by action, a page at a time.
import { catalog, graphql } from './api.js';
import { code, errorBox, field, h, needs, pageHeader, pager, replace, table } from './dom.js';
import { timeCell } from './format.js';

const PAGE_SIZE = 50;

const EVENTS = `query AuditEvents($first: Int, $after: String, $action: String) {
  organization { auditEvents(first: $first, after: $after, action: $action) {
    pageInfo { hasNextPage endCursor }
    nodes { id action createdAt actorUser { id email } actorToken { id name } targetType targetId targetName ip detail } } }
}`;

/** Headings for the groups of the filter, by the part of an action before its dot. */
const GROUP_LABELS = {
  token: 'Tokens', member: 'Members', role: 'Roles', project: 'Projects', sbom: 'SBOMs',
  trusted_publisher: 'Trusted publishers', webhook: 'Webhooks', login: 'Sign-in',
  password: 'Accounts', user: 'Accounts', organization: 'Organization',
};

/** The server's actions (`Query.auditActions`), grouped by what they act on, in catalog order. */
function groupActions(actions) {
  const groups = new Map();
  for (const action of actions) {
    const prefix = action.split('.')[0];
    const label = GROUP_LABELS[prefix] ?? prefix;
    if (!groups.has(label)) groups.set(label, []);
    groups.get(label).push(action);
  }
  return [...groups];
}

/**
 * A long id, shortened, with the whole one on hover. Its end: ids are
 * UUIDv7, whose first digits are a timestamp shared by nearby ids.
 */
const shortId = (id) => h('code', { title: id }, id.length > 13 ? `…${id.slice(-8)}` : id);

function actor(event) {
  if (event.actorUser) return event.actorUser.email;
  if (event.actorToken) return h('span', {}, 'token ', h('span', { class: 'token-name' }, event.actorToken.name));
  return h('span', { class: 'muted' }, '—');
}

/**
 * The target by name (`targetName`, or the organization's own), its id on
 * hover; the shortened id only when it has no name you may see (deleted,
 * hidden from you, or nameless: an SBOM, an invitation, a webhook).
 */
function target(event, organization) {
  if (!event.targetType && !event.targetId) return h('span', { class: 'muted' }, '—');
  const name = event.targetName
    ?? (event.targetType === 'organization' && event.targetId === organization.id ? organization.name : null);
  const label = event.targetType ? `${event.targetType.replace('_', ' ')} ` : '';
  if (name) {
    return h('span', { class: 'audit-target' }, label, h('strong', { class: 'target-name', title: event.targetId }, name));
  }
  return h('span', { class: 'audit-target' }, label, event.targetId ? shortId(event.targetId) : '');
}

/** `#/audit`. */
export async function render(container, ctx) {
  const { auditActions } = await catalog();
  const select = h('select', { name: 'action' },
    h('option', { value: '' }, 'Any action'),
    groupActions(auditActions).map(([label, actions]) => h('optgroup', { label },
      actions.map((action) => h('option', { value: action }, action)))));
  const filter = h('form', { id: 'audit-filter', class: 'filters', role: 'search', 'aria-label': 'Filter the audit log' },
    field('Action', select));
  const body = h('div');
  let pages;
  filter.addEventListener('submit', (event) => { event.preventDefault(); pages.first(); });
  select.addEventListener('change', () => pages.first());
  pages = pager(async (after) => {
    const action = select.value || null;
    const answer = await graphql(EVENTS, { first: PAGE_SIZE, after, action });
    const connection = answer.data?.organization?.auditEvents;
    if (!connection) {
      const error = answer.errorAt('organization', 'auditEvents') ?? answer.errors[0];
      replace(body, error?.requiredPermission
        ? needs(error.requiredPermission, 'read the audit log')
        : errorBox(error?.message ?? 'The audit log could not be loaded.'));
      pages.element.hidden = true;
      filter.hidden = Boolean(error?.requiredPermission);
      return null;
    }
    const rows = connection.nodes.map((event) => [
      timeCell(event.createdAt),
      code(event.action),
      actor(event),
      target(event, ctx.organization),
      event.ip ? h('code', {}, event.ip) : h('span', { class: 'muted' }, '—'),
      event.detail ? h('code', { class: 'audit-detail' }, event.detail) : '',
    ]);
    replace(body, table('Audit events', ['Time', 'Action', 'Actor', 'Target', 'IP', 'Detail'], rows,
      action ? `No ${action} events.` : 'No events yet.'));
    pages.element.hidden = false;
    filter.hidden = false;
    return connection.pageInfo;
  });
  replace(container,
    pageHeader('Audit log'),
    h('p', { class: 'intro' }, 'Every change and sign-in in this organization, newest first: who did it, with which credential, from where.'),
    filter, body, pages.element);
  await pages.first();
}
