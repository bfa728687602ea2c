// Webhooks (`webhooks:read` / `webhooks:write`): the organization's
// endpoints, the events each receives, and every delivery with its status.
import { catalog, graphql, mutate } from './api.js';
import {
  actionsMenu, confirmAction, errorBox, field, h, needs, openDialog, pageHeader, pager,
  replace, secretPanel, table, uid,
} from './dom.js';
import { timeCell } from './format.js';

const WEBHOOKS = `query Webhooks {
  organization { webhooks { id url events active secretHint createdAt } }
}`;

const DELIVERIES = `query Deliveries($first: Int, $after: String) {
  organization { webhooks { id url events active secretHint createdAt
    deliveries(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { id event status responseStatus lastError attempts nextAttemptAt createdAt deliveredAt } } } }
}`;

/** Why the last attempt did not deliver, in words; null when nothing failed. */
function failureReason(delivery) {
  if (delivery.status === 'DELIVERED' || delivery.attempts === 0) return null;
  if (delivery.lastError) return delivery.lastError;
  if (delivery.responseStatus !== null) return `the receiver answered HTTP ${delivery.responseStatus}`;
  return null;
}

/** The status cell: the badge, why it failed, and when it runs next. */
function deliveryState(delivery) {
  const reason = failureReason(delivery);
  return h('div', { class: 'delivery-state' },
    deliveryBadge(delivery.status),
    reason ? h('span', { class: 'delivery-reason' }, 'Last attempt: ', reason) : null,
    delivery.nextAttemptAt
      ? h('span', { class: 'delivery-next' }, delivery.attempts === 0 ? 'Sends ' : 'Next attempt ', timeCell(delivery.nextAttemptAt))
      : null);
}

const statusLabels = { PENDING: 'Pending', DELIVERED: 'Delivered', FAILED: 'Failed' };
const statusClasses = { PENDING: 'status-expired', DELIVERED: 'status-active', FAILED: 'status-revoked' };

function deliveryBadge(status) {
  return h('span', { class: `badge ${statusClasses[status] ?? 'neutral'}` }, statusLabels[status] ?? status);
}

/**
 * Event checkboxes for the server's events (`Query.webhookEvents`), each
 * with the permission it needs; `value()` throws when none is ticked.
 */
function eventPicker(events, chosen) {
  const boxes = events.map((event) => h('input', {
    type: 'checkbox', value: event.name, id: uid('event'), checked: chosen.has(event.name),
  }));
  return {
    element: h('fieldset', {}, h('legend', {}, 'Events'),
      h('div', { class: 'groups' }, boxes.map((box, i) =>
        h('div', { class: 'check' }, box, h('label', { for: box.id }, h('code', {}, box.value),
          h('span', { class: 'muted' }, ` needs ${events[i].permission}`)))))),
    value() {
      const events = boxes.filter((box) => box.checked).map((box) => box.value);
      if (events.length === 0) throw new Error('Pick at least one event.');
      return events;
    },
  };
}

/** "+ New webhook" (no `hook`) or "Edit" (`hook` prefilled). */
async function webhookDialog(hook, done) {
  const { webhookEvents } = await catalog();
  openDialog(hook ? 'Edit webhook' : 'New webhook', (close) => {
    const url = h('input', {
      type: 'url', name: 'url', required: true, maxlength: 2048, autocomplete: 'off',
      placeholder: 'https://hooks.example.com/lynk', value: hook?.url,
    });
    const events = eventPicker(webhookEvents, new Set(hook?.events ?? ['token.created', 'token.revoked', 'token.leaked']));
    const message = h('div');
    const submit = h('button', { type: 'submit', class: 'primary' }, hook ? 'Save webhook' : 'Create webhook');
    const form = h('form', {},
      field('Payload URL', url, 'https and a public address; lynk follows no redirects.'),
      events.element, message,
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: close }, 'Cancel'), submit));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      submit.disabled = true;
      replace(message);
      try {
        const input = { url: url.value.trim(), events: events.value() };
        if (hook) {
          await mutate(`mutation UpdateWebhook($id: ID!, $input: UpdateWebhookInput!) {
            updateWebhook(id: $id, input: $input) { id } }`, { id: hook.id, input });
          close();
          done();
          return;
        }
        const data = await mutate(`mutation CreateWebhook($input: CreateWebhookInput!) {
          createWebhook(input: $input) { secret webhook { id secretHint } } }`, { input });
        replace(form,
          h('p', {}, 'Deliveries are signed per the Standard Webhooks specification ',
            '(webhook-id, webhook-timestamp, webhook-signature headers). Verify them with this secret.'),
          secretPanel('the signing secret', data.createWebhook.secret),
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

async function setActive(hook, active, report, done) {
  try {
    await mutate(`mutation SetActive($id: ID!, $input: UpdateWebhookInput!) {
      updateWebhook(id: $id, input: $input) { id active } }`, { id: hook.id, input: { active } });
    replace(report);
  } catch (error) {
    replace(report, errorBox(error.message));
  }
  done();
}

async function remove(hook, report, done) {
  const confirmed = await confirmAction('Delete this webhook?',
    `${hook.url} receives nothing more, and its delivery history is deleted.`, 'Delete webhook');
  if (!confirmed) return;
  try {
    await mutate('mutation DeleteWebhook($id: ID!) { deleteWebhook(id: $id) }', { id: hook.id });
    replace(report);
  } catch (error) {
    replace(report, errorBox(error.message));
  }
  done();
}

/** The list of webhooks. */
async function renderList(container, ctx) {
  const writable = ctx.can('webhooks:write');
  const report = h('div', { class: 'report' });
  const body = h('div');
  const draw = async () => {
    const answer = await graphql(WEBHOOKS);
    const hooks = answer.data?.organization?.webhooks;
    if (!hooks) {
      const error = answer.errorAt('organization', 'webhooks') ?? answer.errors[0];
      replace(body, error?.requiredPermission
        ? needs(error.requiredPermission, 'see the organization’s webhooks')
        : errorBox(error?.message ?? 'Webhooks could not be loaded.'));
      return;
    }
    const rows = hooks.map((hook) => [
      h('a', { href: `#/webhooks/${encodeURIComponent(hook.id)}`, class: 'token-name' }, hook.url),
      h('ul', { class: 'chips' }, hook.events.map((event) => h('li', {}, h('code', {}, event)))),
      hook.active ? h('span', { class: 'badge status-active' }, 'Active') : h('span', { class: 'badge neutral' }, 'Paused'),
      h('code', {}, hook.secretHint),
      timeCell(hook.createdAt),
      writable && actionsMenu(`Actions for ${hook.url}`, [
        { label: 'Edit', action: () => webhookDialog(hook, draw) },
        { label: hook.active ? 'Pause' : 'Resume', action: () => setActive(hook, !hook.active, report, draw) },
        { label: 'Delete', danger: true, action: () => remove(hook, report, draw) },
      ]),
    ].filter((cell) => cell !== false));
    const headers = ['URL', 'Events', 'Status', 'Secret', 'Created'];
    if (writable) headers.push('Actions');
    replace(body, table('Webhooks', headers, rows, 'No webhooks yet.'));
  };
  const create = writable
    ? h('button', { type: 'button', class: 'primary', id: 'new-webhook', onclick: () => webhookDialog(null, draw) }, '+ New webhook')
    : null;
  replace(container, pageHeader('Webhooks', create),
    h('p', { class: 'intro' }, 'lynk posts signed events to these URLs: tokens created, revoked, rotated, about to expire or leaked; members added, removed or given another role; SBOMs uploaded. Delivery is at least once, with retries for about a day.'),
    report, body);
  await draw();
}

/** One webhook and its deliveries, with "Send test event" and each failed one's "Redeliver". */
async function renderDeliveries(container, ctx, id) {
  const writable = ctx.can('webhooks:write');
  const report = h('div', { class: 'report' });
  const act = async (query, variables, done) => {
    replace(report);
    try {
      await mutate(query, variables);
      done();
    } catch (error) {
      replace(report, errorBox(error.message));
    }
  };
  const sendTest = writable ? h('button', { type: 'button', id: 'send-test-event' }, 'Send test event') : null;
  sendTest?.addEventListener('click', () => act(
    'mutation SendTest($id: ID!) { sendTestWebhookEvent(id: $id) { id } }', { id }, () => pages.first()));
  const heading = pageHeader('Webhook deliveries', sendTest);
  const summary = h('p', { class: 'intro' });
  const body = h('div');
  const pages = pager(async (after) => {
    // Ten a page: every webhook's page is fetched (there is no single
    // webhook query), and the complexity limit counts them all.
    const answer = await graphql(DELIVERIES, { first: 10, after });
    const hooks = answer.data?.organization?.webhooks;
    if (!hooks) {
      const error = answer.errors[0];
      replace(body, error?.requiredPermission
        ? needs(error.requiredPermission, 'see the deliveries')
        : errorBox(error?.message ?? 'Deliveries could not be loaded.'));
      return null;
    }
    const hook = hooks.find((candidate) => candidate.id === id);
    if (!hook) {
      replace(body, errorBox('Webhook not found.'));
      return null;
    }
    replace(summary, h('code', {}, hook.url), ` · ${hook.active ? 'active' : 'paused'} · `, hook.events.join(', '));
    const rows = hook.deliveries.nodes.map((delivery) => [
      h('code', {}, delivery.event),
      deliveryState(delivery),
      delivery.responseStatus ?? '—',
      String(delivery.attempts),
      timeCell(delivery.createdAt),
      timeCell(delivery.deliveredAt),
      h('code', { title: delivery.id }, delivery.id.slice(-8)),
      writable && delivery.status === 'FAILED'
        ? h('button', {
          type: 'button', class: 'redeliver', dataset: { delivery: delivery.id },
          onclick: () => act('mutation Redeliver($id: ID!) { redeliverWebhookDelivery(id: $id) { id } }',
            { id: delivery.id }, () => pages.first()),
        }, 'Redeliver')
        : '',
    ]);
    replace(body, table('Deliveries', ['Event', 'Status', 'Response', 'Attempts', 'Created', 'Delivered', 'webhook-id', 'Actions'], rows,
      writable ? 'No deliveries yet. “Send test event” sends one now.' : 'No deliveries yet.'));
    return hook.deliveries.pageInfo;
  });
  replace(container, h('p', {}, h('a', { href: '#/webhooks' }, '← All webhooks')), heading, summary, report, body, pages.element);
  await pages.first();
}

/** `#/webhooks` and `#/webhooks/<id>`. */
export async function render(container, ctx, rest) {
  if (rest[0]) {
    await renderDeliveries(container, ctx, rest[0]);
  } else {
    await renderList(container, ctx);
  }
}
