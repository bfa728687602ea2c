// "+ Issue token" (personal) and "+ Create service token": the forms, and
// the secret shown once.
import { graphql, mutate } from './api.js';
import { errorBox, field, h, needs, openDialog, replace, secretPanel, uid } from './dom.js';
import { groupByResource } from './format.js';

const DAY = 24 * 3600 * 1000;
const PRESET_DAYS = [7, 30, 60, 90];

/** The date `days` from now as `YYYY-MM-DD` (UTC). */
const dateIn = (days) => new Date(Date.now() + days * DAY).toISOString().slice(0, 10);

/**
 * Expiration presets and a custom date, capped at `maxDays` (null: no cap,
 * and "No expiry" is offered). `value()` is an RFC 3339 time, or null.
 */
function expirationPicker(maxDays) {
  const name = uid('expiry');
  const options = [];
  const radios = h('div', { class: 'radio-list' });
  const custom = h('input', { type: 'date', min: dateIn(1), max: maxDays ? dateIn(maxDays) : undefined, disabled: true, 'aria-label': 'Custom expiry date' });
  const addOption = (value, text, disabled) => {
    const input = h('input', { type: 'radio', name, value, id: uid('expiry-option'), disabled });
    input.addEventListener('change', () => { custom.disabled = value !== 'custom'; if (value === 'custom') custom.focus(); });
    options.push(input);
    radios.append(h('div', { class: 'radio' }, input, h('label', { for: input.id }, text)));
    return input;
  };
  for (const days of PRESET_DAYS) {
    const over = maxDays !== null && days > maxDays;
    addOption(String(days), over ? `${days} days (over the organization’s ${maxDays}-day maximum)` : `${days} days`, over);
  }
  addOption('custom', 'Custom date (expires at 00:00 UTC that day)');
  radios.append(h('div', { class: 'radio indent' }, custom));
  if (maxDays === null) addOption('none', 'No expiry (until revoked)');
  options[0].checked = true;
  const fieldset = h('fieldset', {},
    h('legend', {}, 'Expiration'),
    h('p', { class: 'hint' }, maxDays !== null
      ? `Shorter is safer: pick the shortest time that covers the job, and rotate later. Your organization allows at most ${maxDays} days.`
      : 'Shorter is safer: pick the shortest time that covers the job, and rotate later.'),
    radios);
  return {
    element: fieldset,
    value() {
      const chosen = options.find((option) => option.checked)?.value;
      if (chosen === 'none') return null;
      if (chosen === 'custom') {
        if (!custom.value) throw new Error('Pick a custom expiry date, or a preset.');
        return `${custom.value}T00:00:00Z`;
      }
      const days = Number(chosen);
      // A minute's margin, so the organization's maximum still holds when
      // the request arrives.
      const margin = maxDays !== null && days >= maxDays ? 60 * 1000 : 0;
      return new Date(Date.now() + days * DAY - margin).toISOString();
    },
  };
}

/** Abilities as checkboxes grouped by resource, with presets. */
function abilitiesPicker(catalog, mine) {
  const held = catalog.filter((permission) => mine.has(permission.name));
  const boxes = new Map();
  let wholeRole = false;
  const summary = h('p', { class: 'hint', role: 'status' });
  const describe = () => {
    const count = [...boxes.values()].filter((box) => box.checked).length;
    summary.textContent = wholeRole
      ? 'Everything your role allows, now and after any change to your role.'
      : `${count} of the ${held.length} abilities you hold.`;
  };
  const groups = [...groupByResource(held)].map(([resource, permissions]) =>
    h('fieldset', { class: 'group' }, h('legend', {}, resource),
      permissions.map((permission) => {
        const box = h('input', { type: 'checkbox', value: permission.name, id: uid('ability') });
        box.addEventListener('change', () => { wholeRole = false; describe(); });
        boxes.set(permission.name, box);
        return h('div', { class: 'check' }, box,
          h('label', { for: box.id, title: permission.description }, h('code', {}, permission.name)));
      })));
  const setChecked = (predicate) => { for (const [name, box] of boxes) box.checked = predicate(name); };
  const preset = (label, apply) => {
    const button = h('button', { type: 'button' }, label);
    button.addEventListener('click', () => { apply(); describe(); });
    return button;
  };
  const presets = h('div', { class: 'presets', role: 'group', 'aria-label': 'Presets' },
    preset('Read-only', () => { wholeRole = false; setChecked((name) => name.endsWith(':read')); }),
    preset('Upload SBOMs', () => {
      wholeRole = false;
      setChecked((name) => ['projects:read', 'sboms:read', 'sboms:write'].includes(name));
    }),
    preset('Everything my role allows', () => { wholeRole = true; setChecked(() => true); }));
  describe();
  return {
    element: h('fieldset', {}, h('legend', {}, 'Abilities'), presets, h('div', { class: 'groups' }, groups), summary),
    /** Scopes to send: null for the whole role. */
    value() {
      if (wholeRole) return null;
      const scopes = [...boxes].filter(([, box]) => box.checked).map(([name]) => name);
      if (scopes.length === 0) throw new Error('Pick at least one ability, or a preset.');
      return scopes;
    },
  };
}

/** A dialog whose form becomes the secret panel once the token exists. */
function tokenDialog(title, buildFields, submitLabel, create, done) {
  openDialog(title, (close) => {
    const message = h('div');
    const submit = h('button', { type: 'submit', class: 'primary' }, submitLabel);
    const form = h('form', {}, buildFields(), message,
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: close }, 'Cancel'), submit));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      submit.disabled = true;
      replace(message);
      try {
        const created = await create();
        replace(form,
          h('p', {}, 'Created ', h('strong', {}, created.token.name), ' (', h('code', {}, created.token.hint), ').'),
          secretPanel('this token', created.secret),
          h('div', { class: 'actions' }, h('button', { type: 'button', class: 'primary', onclick: close }, 'Done')));
        form.closest('dialog').addEventListener('close', done);
        form.querySelector('.secret-row button')?.focus();
      } catch (error) {
        replace(message, errorBox(error.message));
        submit.disabled = false;
      }
    });
    return form;
  });
}

/** "+ Issue token": a personal token, for the signed-in user. */
export async function issuePersonalToken(ctx, done) {
  const answer = await graphql('query Catalog { permissions { name description } }');
  const catalog = answer.orThrow().permissions;
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 100, autocomplete: 'off' });
  const abilities = abilitiesPicker(catalog, new Set(ctx.viewer.permissions));
  const expiry = expirationPicker(ctx.organization.maxTokenLifetimeDays);
  tokenDialog('Issue a personal token',
    () => h('div', {}, field('Name', name, 'What it is for, e.g. “laptop CLI” or “release script”.'), abilities.element, expiry.element),
    'Issue token',
    async () => {
      const input = { name: name.value.trim(), expiresAt: expiry.value(), scopes: abilities.value() };
      const data = await mutate(`mutation Issue($input: CreatePersonalTokenInput!) {
        createPersonalToken(input: $input) { secret token { id name hint } } }`, { input });
      return data.createPersonalToken;
    },
    done);
}

/** "+ Create service token": a role the caller may grant, and an expiry. */
export async function createServiceToken(ctx, done) {
  const answer = await graphql('query Roles { organization { roles { id name permissions } } }');
  const roles = answer.data?.organization?.roles;
  if (!roles) {
    const error = answer.errors[0];
    openDialog('Create a service token', (close) => h('div', {},
      error?.requiredPermission ? needs(error.requiredPermission, 'pick the token’s role') : errorBox(error?.message ?? 'Roles could not be loaded.'),
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: close }, 'Close'))));
    return;
  }
  const mine = new Set(ctx.viewer.permissions);
  const grantable = roles.filter((role) => role.permissions.every((p) => mine.has(p)));
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 100, autocomplete: 'off' });
  const role = h('select', { name: 'role', required: true },
    grantable.map((r) => h('option', { value: r.id }, `${r.name} (${r.permissions.join(', ') || 'no permissions'})`)));
  const expiry = expirationPicker(null);
  tokenDialog('Create a service token',
    () => h('div', {},
      field('Name', name, 'What uses it, e.g. “release pipeline”.'),
      field('Role', role, 'Only roles whose permissions you hold are offered.'),
      expiry.element),
    'Create token',
    async () => {
      const input = { name: name.value.trim(), roleId: role.value, expiresAt: expiry.value() };
      const data = await mutate(`mutation CreateService($input: CreateServiceTokenInput!) {
        createServiceToken(input: $input) { secret token { id name hint } } }`, { input });
      return data.createServiceToken;
    },
    done);
}
