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
  const when = h('p', { class: 'expires-on', role: 'status' });
  const fieldset = h('fieldset', {},
    h('legend', {}, 'Expiration'),
    h('p', { class: 'hint' }, maxDays !== null
      ? `Shorter is safer: pick the shortest time that covers the job, and rotate later. Your organization allows at most ${maxDays} days.`
      : 'Shorter is safer: pick the shortest time that covers the job, and rotate later.'),
    radios, when);
  const picker = {
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
  // Says the date the token will expire, as the choice changes.
  const say = () => {
    let at;
    try {
      at = picker.value();
    } catch {
      when.textContent = 'Pick a date.';
      return;
    }
    when.textContent = at === null
      ? 'This token never expires: it works until it is revoked.'
      : `This token will expire on ${expiryDate.format(new Date(at))}.`;
  };
  fieldset.addEventListener('change', say);
  custom.addEventListener('input', say);
  say();
  return picker;
}

const expiryDate = new Intl.DateTimeFormat(undefined, {
  weekday: 'long', year: 'numeric', month: 'long', day: 'numeric', hour: '2-digit', minute: '2-digit',
  timeZoneName: 'short',
});

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
          h('label', { for: box.id }, h('code', {}, permission.name),
            h('span', { class: 'ability-description' }, permission.description)));
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

/** The organization's projects, for the restriction picker (first 100). */
const PROJECTS = 'organization { projects(first: 100) { nodes { id name } } }';

/**
 * "Every project" or "Only these projects": `projects` is the list the
 * caller reaches, or null when it may not list them (then the token is not
 * restricted). `value()` is null (every project) or the chosen ids.
 */
function projectPicker(projects) {
  const name = uid('projects');
  const every = h('input', { type: 'radio', name, value: 'all', id: uid('projects-all'), checked: true });
  const some = h('input', { type: 'radio', name, value: 'some', id: uid('projects-some'), disabled: !projects?.length });
  const boxes = (projects ?? []).map((project) => {
    const box = h('input', { type: 'checkbox', value: project.id, id: uid('project'), disabled: true });
    return { box, row: h('div', { class: 'check' }, box, h('label', { for: box.id }, project.name)) };
  });
  const sync = () => { for (const { box } of boxes) box.disabled = !some.checked; };
  every.addEventListener('change', sync);
  some.addEventListener('change', sync);
  const note = projects === null
    ? h('p', { class: 'hint' }, 'You cannot list projects (', h('code', {}, 'projects:read'), '), so the token reaches every project you do.')
    : projects.length === 0 ? h('p', { class: 'hint' }, 'The organization has no projects yet.') : null;
  return {
    element: h('fieldset', { class: 'project-restriction' }, h('legend', {}, 'Projects'),
      h('div', { class: 'radio' }, every, h('label', { for: every.id }, 'Every project, now and later')),
      h('div', { class: 'radio' }, some, h('label', { for: some.id }, 'Only these projects (the others do not exist for it)')),
      h('div', { class: 'indent project-list' }, boxes.map(({ row }) => row)),
      note),
    value() {
      if (!some.checked) return null;
      const ids = boxes.filter(({ box }) => box.checked).map(({ box }) => box.value);
      if (ids.length === 0) throw new Error('Pick at least one project, or “Every project”.');
      return ids;
    },
  };
}

/** A role's abilities, each with its one-line description. */
function roleAbilities(permissions, catalog) {
  if (permissions.length === 0) return h('p', { class: 'muted' }, 'This role has no permissions.');
  const described = new Map(catalog.map((permission) => [permission.name, permission.description]));
  return h('ul', { class: 'abilities' }, permissions.map((name) => h('li', {},
    h('code', {}, name), ' ', h('span', { class: 'ability-description' }, described.get(name) ?? ''))));
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
  const answer = await graphql(`query Catalog { permissions { name description } ${PROJECTS} }`);
  const catalog = answer.orThrow().permissions;
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 100, autocomplete: 'off' });
  const abilities = abilitiesPicker(catalog, new Set(ctx.viewer.permissions));
  const projects = projectPicker(answer.data?.organization?.projects?.nodes ?? null);
  const expiry = expirationPicker(ctx.organization.maxTokenLifetimeDays);
  tokenDialog('Issue a personal token',
    () => h('div', {}, field('Name', name, 'What it is for, e.g. “laptop CLI” or “release script”.'),
      abilities.element, projects.element, expiry.element),
    'Issue token',
    async () => {
      const input = {
        name: name.value.trim(), expiresAt: expiry.value(), scopes: abilities.value(), projectIds: projects.value(),
      };
      const data = await mutate(`mutation Issue($input: CreatePersonalTokenInput!) {
        createPersonalToken(input: $input) { secret token { id name hint } } }`, { input });
      return data.createPersonalToken;
    },
    done);
}

/** "+ Create service token": a role the caller may grant, and an expiry. */
export async function createServiceToken(ctx, done) {
  const answer = await graphql(`query Roles {
    permissions { name description }
    organization { roles { id name description permissions } }
    projectList: ${PROJECTS}
  }`);
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
  // No role is preselected: the first in the list is `admin`, the widest.
  const role = h('select', { name: 'role', required: true },
    h('option', { value: '', disabled: true, selected: true }, 'Choose a role…'),
    grantable.map((r) => h('option', { value: r.id }, r.name)));
  const catalog = answer.data.permissions ?? [];
  const roleSummary = h('div', { class: 'role-abilities', 'aria-live': 'polite' },
    h('p', { class: 'hint' }, 'Pick the narrowest role that does the job.'));
  role.addEventListener('change', () => {
    const chosen = grantable.find((r) => r.id === role.value);
    replace(roleSummary, chosen.description ? h('p', { class: 'hint' }, chosen.description) : null,
      roleAbilities(chosen.permissions, catalog));
  });
  const projects = projectPicker(answer.data.projectList?.projects?.nodes ?? null);
  const expiry = expirationPicker(null);
  tokenDialog('Create a service token',
    () => h('div', {},
      field('Name', name, 'What uses it, e.g. “release pipeline”.'),
      field('Role', role, 'Only roles whose permissions you hold are offered.'),
      roleSummary,
      projects.element,
      expiry.element),
    'Create token',
    async () => {
      if (!role.value) throw new Error('Choose a role for the token.');
      const input = {
        name: name.value.trim(), roleId: role.value, expiresAt: expiry.value(), projectIds: projects.value(),
      };
      const data = await mutate(`mutation CreateService($input: CreateServiceTokenInput!) {
        createServiceToken(input: $input) { secret token { id name hint } } }`, { input });
      return data.createServiceToken;
    },
    done);
}
