// Token policy (`#/token-policy`): lifetimes and inactivity revocation,
// with a preview of what a change revokes before it is saved. Bulk revoke
// (`#/revoke-tokens`): a filter, a preview of the tokens it chooses, then
// the revocation. Both previews are the server's own dry runs.
import { graphql, mutate } from './api.js';
import { confirmAction, errorBox, field, h, needs, pageHeader, replace, table } from './dom.js';
import { statusBadge, timeCell } from './format.js';

/** `policy::MAX_POLICY_DAYS` and `token_policy::MIN_UNUSED_DAYS` in src/service/. */
const MAX_POLICY_DAYS = 3650;
const MIN_UNUSED_DAYS = 8;

const POLICY_FIELDS = 'maxTokenLifetimeDays maxServiceTokenLifetimeDays requireServiceTokenExpiry revokeUnusedAfterDays';
const TOKEN_FIELDS = 'id name kind hint status createdAt lastUsedAt';

const UPDATE = `mutation UpdateTokenPolicy($input: TokenPolicyInput!, $dryRun: Boolean!) {
  updateTokenPolicy(input: $input, dryRun: $dryRun) {
    policy { ${POLICY_FIELDS} } revokedTokens { ${TOKEN_FIELDS} } } }`;

const REVOKE = `mutation RevokeTokens($filter: TokenFilterInput!, $dryRun: Boolean!) {
  revokeTokens(filter: $filter, dryRun: $dryRun) { count tokens { ${TOKEN_FIELDS} } } }`;

/** A table of tokens a change chooses. */
function tokenTable(caption, tokens, empty) {
  return table(caption, ['Name', 'Kind', 'Token', 'Status', 'Last used', 'Created'],
    tokens.map((t) => [h('span', { class: 'token-name' }, t.name), t.kind.toLowerCase(), h('code', {}, t.hint),
      statusBadge(t.status), timeCell(t.lastUsedAt, 'Never'), timeCell(t.createdAt)]),
    empty);
}

/** A number of days from an input: empty is null (no limit). */
function days(input, min, label) {
  const text = input.value.trim();
  if (text === '') return { value: null };
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > MAX_POLICY_DAYS) {
    return { error: `${label} must be a whole number of days from ${min} to ${MAX_POLICY_DAYS}, or empty for no limit.` };
  }
  return { value };
}

function policyForm(policy, writable) {
  const personal = h('input', {
    type: 'number', name: 'maxTokenLifetimeDays', required: true, min: 1, max: MAX_POLICY_DAYS, step: 1,
    inputmode: 'numeric', value: policy.maxTokenLifetimeDays, disabled: !writable,
  });
  const service = h('input', {
    type: 'number', name: 'maxServiceTokenLifetimeDays', min: 1, max: MAX_POLICY_DAYS, step: 1,
    inputmode: 'numeric', value: policy.maxServiceTokenLifetimeDays ?? '', placeholder: 'No limit', disabled: !writable,
  });
  const required = h('input', {
    type: 'checkbox', name: 'requireServiceTokenExpiry', checked: policy.requireServiceTokenExpiry, disabled: !writable,
  });
  const unused = h('input', {
    type: 'number', name: 'revokeUnusedAfterDays', min: MIN_UNUSED_DAYS, max: MAX_POLICY_DAYS, step: 1,
    inputmode: 'numeric', value: policy.revokeUnusedAfterDays ?? '', placeholder: 'Never', disabled: !writable,
  });
  const preview = h('div', { id: 'policy-preview' });
  const message = h('div');
  const previewButton = h('button', { type: 'button', id: 'preview-policy' }, 'Preview');
  const save = h('button', { type: 'submit', class: 'primary', id: 'save-policy', disabled: true }, 'Save policy');
  const form = h('form', { id: 'token-policy', 'aria-label': 'Token policy' },
    field('Maximum personal-token lifetime (days)', personal, `From 1 to ${MAX_POLICY_DAYS}.`),
    field('Maximum service-token lifetime (days)', service,
      'Empty: no limit. With a limit, every new service token needs an expiry within it.'),
    h('div', { class: 'field checkbox' }, h('label', {}, required, ' New service tokens must expire')),
    field('Revoke tokens unused for (days)', unused,
      `Empty: never. From ${MIN_UNUSED_DAYS} days; a token.inactive event goes out 7 days before.`),
    h('p', { class: 'hint' }, 'Lifetimes apply to tokens created from now on; tokens that exist keep their expiry.'),
    message, preview,
    writable ? h('div', { class: 'actions' }, previewButton, save) : null);

  /** The input, or an error message. */
  function input() {
    const lifetime = Number(personal.value);
    if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > MAX_POLICY_DAYS) {
      return { error: `The maximum personal-token lifetime must be a whole number of days from 1 to ${MAX_POLICY_DAYS}.` };
    }
    const serviceDays = days(service, 1, 'The maximum service-token lifetime');
    if (serviceDays.error) return serviceDays;
    const unusedDays = days(unused, MIN_UNUSED_DAYS, 'The inactivity limit');
    if (unusedDays.error) return unusedDays;
    return {
      value: {
        maxTokenLifetimeDays: lifetime,
        maxServiceTokenLifetimeDays: serviceDays.value,
        requireServiceTokenExpiry: required.checked,
        revokeUnusedAfterDays: unusedDays.value,
      },
    };
  }

  // Any edit asks for a new preview before saving.
  for (const control of [personal, service, required, unused]) {
    control.addEventListener('input', () => { save.disabled = true; replace(preview); });
  }
  previewButton.addEventListener('click', async () => {
    replace(message);
    const checked = input();
    if (checked.error) {
      replace(message, errorBox(checked.error));
      return;
    }
    previewButton.disabled = true;
    try {
      const data = await mutate(UPDATE, { input: checked.value, dryRun: true });
      const revoked = data.updateTokenPolicy.revokedTokens;
      replace(preview, h('p', { class: 'notice', role: 'status' }, revoked.length === 0
        ? 'Saving this policy revokes no token now.'
        : `Saving this policy revokes ${revoked.length} token${revoked.length === 1 ? '' : 's'} now, unused that long:`),
      revoked.length ? tokenTable('Tokens this change revokes', revoked, '') : null);
      save.disabled = false;
    } catch (error) {
      replace(message, errorBox(error.message));
    } finally {
      previewButton.disabled = false;
    }
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const checked = input();
    if (checked.error) {
      replace(message, errorBox(checked.error));
      return;
    }
    save.disabled = true;
    try {
      const data = await mutate(UPDATE, { input: checked.value, dryRun: false });
      const revoked = data.updateTokenPolicy.revokedTokens;
      replace(preview);
      replace(message, h('p', { class: 'notice', role: 'status' },
        `Saved. ${revoked.length} token${revoked.length === 1 ? ' was' : 's were'} revoked.`));
    } catch (error) {
      replace(message, errorBox(error.message));
    }
  });
  return form;
}

/** `#/token-policy`. */
export const policy = {
  async render(container, ctx) {
    const answer = await graphql(`query TokenPolicy { organization { id tokenPolicy { ${POLICY_FIELDS} } } }`);
    const current = answer.orThrow().organization.tokenPolicy;
    const writable = ctx.can('organization:write');
    replace(container,
      pageHeader('Token policy'),
      h('p', { class: 'intro' }, 'How long new tokens may live, and when tokens nobody uses are revoked.'),
      writable ? null : needs('organization:write', 'change the token policy'),
      policyForm(current, writable));
  },
};

/** The filter form of bulk revoke; `values()` is the `TokenFilterInput`. */
function filterForm() {
  const kind = h('select', { name: 'kind' },
    h('option', { value: '' }, 'Personal and service'),
    h('option', { value: 'PERSONAL' }, 'Personal'),
    h('option', { value: 'SERVICE' }, 'Service'));
  const name = h('input', { type: 'text', name: 'nameContains', maxlength: 100, autocomplete: 'off' });
  const createdBefore = h('input', { type: 'date', name: 'createdBefore' });
  const lastUsedBefore = h('input', { type: 'date', name: 'lastUsedBefore' });
  const neverUsed = h('select', { name: 'neverUsed' },
    h('option', { value: '' }, 'Used or not'),
    h('option', { value: 'true' }, 'Never used'),
    h('option', { value: 'false' }, 'Used at least once'));
  const date = (input) => (input.value ? new Date(`${input.value}T00:00:00Z`).toISOString() : undefined);
  return {
    controls: [kind, name, createdBefore, lastUsedBefore, neverUsed],
    fields: [field('Kind', kind), field('Name contains', name), field('Created before', createdBefore),
      field('Last used before', lastUsedBefore), field('Use', neverUsed)],
    values: () => {
      const filter = {};
      if (kind.value) filter.kind = kind.value;
      if (name.value.trim()) filter.nameContains = name.value.trim();
      if (createdBefore.value) filter.createdBefore = date(createdBefore);
      if (lastUsedBefore.value) filter.lastUsedBefore = date(lastUsedBefore);
      if (neverUsed.value) filter.neverUsed = neverUsed.value === 'true';
      return filter;
    },
  };
}

/** `#/revoke-tokens`. */
export const bulkRevoke = {
  async render(container, ctx) {
    if (!ctx.can('tokens:write')) {
      replace(container, pageHeader('Bulk revoke'), needs('tokens:write', 'revoke tokens in bulk'));
      return;
    }
    const filter = filterForm();
    const preview = h('div', { id: 'revoke-preview' });
    const message = h('div');
    const previewButton = h('button', { type: 'submit', class: 'primary', id: 'preview-revoke' }, 'Preview');
    const form = h('form', { id: 'bulk-revoke', class: 'filters', 'aria-label': 'Tokens to revoke' },
      filter.fields, h('div', { class: 'actions' }, previewButton));
    for (const control of filter.controls) {
      control.addEventListener('input', () => replace(preview));
    }
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      replace(message);
      const chosen = filter.values();
      if (Object.keys(chosen).length === 0) {
        replace(message, errorBox('Choose at least one criterion: an empty filter would choose every token.'));
        return;
      }
      previewButton.disabled = true;
      try {
        const data = await mutate(REVOKE, { filter: chosen, dryRun: true });
        const { count, tokens } = data.revokeTokens;
        const revoke = h('button', { type: 'button', class: 'danger', id: 'revoke-chosen', disabled: count === 0 },
          `Revoke ${count} token${count === 1 ? '' : 's'}`);
        revoke.addEventListener('click', async () => {
          const confirmed = await confirmAction(`Revoke ${count} token${count === 1 ? '' : 's'}?`,
            'Anything that uses them gets 401 from its next request. This cannot be undone.', 'Revoke');
          if (!confirmed) return;
          try {
            const done = await mutate(REVOKE, { filter: chosen, dryRun: false });
            replace(preview);
            replace(message, h('p', { class: 'notice', role: 'status' },
              `Revoked ${done.revokeTokens.count} token${done.revokeTokens.count === 1 ? '' : 's'}.`));
          } catch (error) {
            replace(message, errorBox(error.message));
          }
        });
        replace(preview,
          h('p', { class: 'notice', role: 'status' }, count === 0
            ? 'No token you may revoke matches.'
            : `${count} token${count === 1 ? '' : 's'} match; only tokens you could revoke one by one are listed.`),
          count ? tokenTable('Tokens to revoke', tokens, '') : null,
          h('div', { class: 'actions' }, revoke));
      } catch (error) {
        replace(message, errorBox(error.message));
      } finally {
        previewButton.disabled = false;
      }
    });
    replace(container,
      pageHeader('Bulk revoke'),
      h('p', { class: 'intro' },
        'Revoke every personal or service token that matches, in one step. Preview first: nothing is revoked until you confirm.'),
      form, message, preview);
  },
};
