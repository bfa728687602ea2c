// Projects: the list (`#/projects`) and one project (`#/projects/<id>`)
// with its SBOMs (upload, download, delete) and trusted publishers (add,
// edit with their claim conditions, delete; pins and last use shown).
import { graphql, mutate } from './api.js';
import {
  actionsMenu, confirmAction, errorBox, field, h, needs, openDialog, pageHeader, pager, replace, table,
} from './dom.js';
import { bytes, dateCell, timeCell } from './format.js';

const PAGE_SIZE = 20;

const PROJECTS = `query Projects($first: Int, $after: String) {
  organization { projects(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor } nodes { id name description createdAt } } }
}`;

const PROJECT = `query Project($id: ID!) {
  project(id: $id) {
    id name description createdAt
    trustedPublishers {
      id issuer audience subject role { id name } createdAt
      conditions { claim equals prefix oneOf } pinIds pinnedClaims { claim value }
      tokenLifetimeSeconds lastExchangedAt
    }
  }
}`;

const SBOMS = `query Sboms($id: ID!, $first: Int, $after: String) {
  project(id: $id) { sboms(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id name format specVersion componentCount sizeBytes sha256 createdAt
      provenance { kind issuer repository repositoryId ref sha workflowRef environment runId } } } }
}`;

const FORMATS = { CYCLONEDX: 'CycloneDX', SPDX: 'SPDX' };

const PROVENANCE = {
  TRUSTED_PUBLISHING: 'CI job',
  SERVICE_TOKEN: 'Service token',
  PERSONAL_TOKEN: 'Personal token',
  SESSION: 'Signed-in user',
};

/**
 * Who uploaded an SBOM, as the server verified it: for trusted
 * publishing, the repository and ref with the commit, and every kept
 * claim in the cell's title.
 */
function provenanceCell(provenance) {
  const label = PROVENANCE[provenance.kind] ?? provenance.kind;
  if (provenance.kind !== 'TRUSTED_PUBLISHING') return label;
  const claims = ['issuer', 'repository', 'repositoryId', 'ref', 'sha', 'workflowRef', 'environment', 'runId']
    .filter((name) => provenance[name])
    .map((name) => `${name}: ${provenance[name]}`)
    .join('\n');
  const where = [provenance.repository, provenance.ref].filter(Boolean).join(' @ ');
  const commit = provenance.sha ? ` (${provenance.sha.slice(0, 7)})` : '';
  return h('span', { class: 'provenance', title: claims }, `${label}: ${where}${commit}`);
}

/** The server's refusal of a field: "You need x to …", else its message. */
function refusal(error, what, fallback) {
  return error?.requiredPermission
    ? needs(error.requiredPermission, what)
    : errorBox(error?.message ?? fallback);
}

/** `#/projects` or `#/projects/<id>`. */
export async function render(container, ctx, rest = []) {
  if (rest[0]) return renderProject(container, ctx, rest[0]);
  return renderList(container, ctx);
}

/** The create form (`projects:write`). */
function createForm(done) {
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 100, autocomplete: 'off' });
  const description = h('input', { type: 'text', name: 'description', maxlength: 500, autocomplete: 'off' });
  const message = h('div');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create project');
  const form = h('form', { id: 'create-project', class: 'inline', 'aria-label': 'Create a project' },
    field('Name', name), field('Description', description, 'Optional.'), submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    replace(message);
    try {
      const data = await mutate(`mutation CreateProject($input: CreateProjectInput!) {
        createProject(input: $input) { id name } }`,
      { input: { name: name.value.trim(), description: description.value.trim() || null } });
      const created = data.createProject;
      replace(message, h('p', { class: 'notice', role: 'status' }, 'Created ',
        h('a', { href: `#/projects/${encodeURIComponent(created.id)}` }, created.name), '.'));
      form.reset();
      done();
    } catch (error) {
      replace(message, errorBox(error.message));
    } finally {
      submit.disabled = false;
    }
  });
  return h('section', { 'aria-labelledby': 'create-project-heading' },
    h('h2', { id: 'create-project-heading' }, 'New project'), form, message);
}

async function renderList(container, ctx) {
  const body = h('div');
  let pages;
  pages = pager(async (after) => {
    const answer = await graphql(PROJECTS, { first: PAGE_SIZE, after });
    const connection = answer.data?.organization?.projects;
    if (!connection) {
      replace(body, refusal(answer.errorAt('organization', 'projects') ?? answer.errors[0],
        'see the organization’s projects', 'The projects could not be loaded.'));
      pages.element.hidden = true;
      return null;
    }
    const rows = connection.nodes.map((project) => [
      h('a', { href: `#/projects/${encodeURIComponent(project.id)}`, class: 'token-name' }, project.name),
      project.description || h('span', { class: 'muted' }, '—'),
      timeCell(project.createdAt),
    ]);
    replace(body, table('Projects', ['Name', 'Description', 'Created'], rows, 'No projects yet.'));
    pages.element.hidden = false;
    return connection.pageInfo;
  });
  replace(container,
    pageHeader('Projects'),
    h('p', { class: 'intro' }, 'Projects hold the SBOMs your pipelines upload. Open one to see its SBOMs and trusted publishers.'),
    ctx.can('projects:write') ? createForm(() => pages.first()) : null,
    body, pages.element);
  await pages.first();
}

/** The edit form (`projects:write`). */
function editForm(project, done) {
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 100, autocomplete: 'off', value: project.name });
  const description = h('textarea', { name: 'description', rows: 2, maxlength: 500 }, project.description);
  const message = h('div');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Save');
  const form = h('form', { id: 'edit-project', 'aria-label': 'Edit the project' },
    field('Name', name, 'Unique in the organization.'), field('Description', description), message,
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    replace(message);
    try {
      await mutate(`mutation UpdateProject($id: ID!, $input: UpdateProjectInput!) {
        updateProject(id: $id, input: $input) { id } }`,
      { id: project.id, input: { name: name.value.trim(), description: description.value.trim() } });
      done();
    } catch (error) {
      replace(message, errorBox(error.message));
      submit.disabled = false;
    }
  });
  return h('section', { 'aria-labelledby': 'edit-project-heading' },
    h('h2', { id: 'edit-project-heading' }, 'Edit'), form);
}

/** A file name from an SBOM's name: no path separators or odd characters. */
function fileName(name) {
  const base = name.replace(/[^\w.-]+/g, '_').replace(/^[._]+/, '').slice(0, 100) || 'sbom';
  return base.toLowerCase().endsWith('.json') ? base : `${base}.json`;
}

/** Fetches a document and saves it through a temporary `<a download>`. */
async function download(sbom, report) {
  replace(report);
  try {
    const answer = await graphql('query Download($id: ID!) { sbom(id: $id) { name document } }', { id: sbom.id });
    const found = answer.data?.sbom;
    if (!found) {
      replace(report, refusal(answer.errorAt('sbom') ?? answer.errors[0], 'download SBOMs', 'The SBOM no longer exists.'));
      return;
    }
    const url = URL.createObjectURL(new Blob([found.document], { type: 'application/json' }));
    const link = h('a', { href: url, download: fileName(found.name), hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 0);
  } catch (error) {
    replace(report, errorBox(error.message));
  }
}

/** "Delete" an SBOM, after a confirmation. */
async function deleteSbom(sbom, report, done) {
  const confirmed = await confirmAction(`Delete the SBOM ${sbom.name}?`,
    'The document is deleted from lynk. This cannot be undone.', 'Delete SBOM');
  if (!confirmed) return;
  try {
    await mutate('mutation DeleteSbom($id: ID!) { deleteSbom(id: $id) }', { id: sbom.id });
    replace(report);
  } catch (error) {
    replace(report, errorBox(error.message));
  }
  done();
}

/** The upload form (`sboms:write`): a JSON file read as text. */
function uploadForm(project, done) {
  const file = h('input', { type: 'file', name: 'file', accept: '.json,application/json', required: true });
  const name = h('input', { type: 'text', name: 'name', maxlength: 100, autocomplete: 'off' });
  const message = h('div');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Upload');
  const form = h('form', { id: 'upload-sbom', class: 'inline', 'aria-label': 'Upload an SBOM' },
    field('SBOM file', file, 'CycloneDX JSON (1.2 or later) or SPDX JSON (2.2, 2.3).'),
    field('Name', name, 'Optional; else the document’s own.'),
    submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(message);
    const chosen = file.files?.[0];
    if (!chosen) {
      replace(message, errorBox('Choose a file to upload.'));
      return;
    }
    submit.disabled = true;
    try {
      const documentText = await chosen.text();
      const data = await mutate(`mutation Upload($input: UploadSbomInput!) {
        uploadSbom(input: $input) { id name format specVersion componentCount } }`,
      { input: { projectId: project.id, name: name.value.trim() || null, document: documentText } });
      const sbom = data.uploadSbom;
      replace(message, h('p', { class: 'notice', role: 'status' }, 'Uploaded ', h('strong', {}, sbom.name),
        ` (${FORMATS[sbom.format] ?? sbom.format} ${sbom.specVersion}, ${sbom.componentCount} components).`));
      form.reset();
      done();
    } catch (error) {
      replace(message, errorBox(error.message));
    } finally {
      submit.disabled = false;
    }
  });
  return h('div', {}, form, message);
}

/** The SBOMs of a project, with a pager. */
function sbomSection(ctx, project) {
  const report = h('div');
  const body = h('div');
  const canDelete = ctx.can('sboms:delete');
  let pages;
  pages = pager(async (after) => {
    const answer = await graphql(SBOMS, { id: project.id, first: PAGE_SIZE, after });
    const connection = answer.data?.project?.sboms;
    if (!connection) {
      replace(body, refusal(answer.errorAt('project', 'sboms') ?? answer.errors[0],
        'see the project’s SBOMs', 'The SBOMs could not be loaded.'));
      pages.element.hidden = true;
      return null;
    }
    const rows = connection.nodes.map((sbom) => [
      h('span', { class: 'token-name' }, sbom.name),
      FORMATS[sbom.format] ?? sbom.format,
      sbom.specVersion,
      String(sbom.componentCount),
      bytes(sbom.sizeBytes),
      h('code', { title: sbom.sha256 }, `${sbom.sha256.slice(0, 12)}…`),
      provenanceCell(sbom.provenance),
      timeCell(sbom.createdAt),
      h('div', { class: 'actions row-actions' },
        h('button', { type: 'button', 'aria-label': `Download ${sbom.name}`, onclick: () => download(sbom, report) }, 'Download'),
        canDelete ? h('button', {
          type: 'button', class: 'danger', 'aria-label': `Delete ${sbom.name}`,
          onclick: () => deleteSbom(sbom, report, () => pages.first()),
        }, 'Delete') : null),
    ]);
    replace(body, table('SBOMs', ['Name', 'Format', 'Spec', 'Components', 'Size', 'SHA-256', 'Uploaded by', 'Uploaded', 'Actions'],
      rows, 'No SBOMs yet.'));
    pages.element.hidden = false;
    return connection.pageInfo;
  });
  const section = h('section', { 'aria-labelledby': 'sboms-heading' },
    h('h2', { id: 'sboms-heading' }, 'SBOMs'),
    ctx.can('sboms:write') ? uploadForm(project, () => pages.first()) : null,
    report, body, pages.element);
  return { element: section, load: () => pages.first() };
}

/** The kinds of claim condition, as the API names them. */
const CONDITION_KINDS = [['equals', 'equals'], ['prefix', 'starts with'], ['oneOf', 'is one of']];

/** A condition as one line of text, e.g. `environment equals production`. */
function conditionText(c) {
  if (c.equals != null) return `${c.claim} equals ${c.equals}`;
  if (c.prefix != null) return `${c.claim} starts with ${c.prefix}`;
  return `${c.claim} is one of ${(c.oneOf ?? []).join(', ')}`;
}

/** A lifetime in seconds as minutes or hours. */
function lifetimeText(seconds) {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** One editable condition row: claim, kind, value(s), remove. */
function conditionRow(condition, onRemove) {
  const kind = condition?.prefix != null ? 'prefix' : condition?.oneOf != null ? 'oneOf' : 'equals';
  const claim = h('input', {
    type: 'text', name: 'condition-claim', 'aria-label': 'Claim', maxlength: 64, autocomplete: 'off',
    placeholder: 'job_workflow_ref', value: condition?.claim ?? '',
  });
  const select = h('select', { name: 'condition-kind', 'aria-label': 'Test' },
    CONDITION_KINDS.map(([value, label]) => h('option', { value, selected: value === kind }, label)));
  const value = h('input', {
    type: 'text', name: 'condition-value', 'aria-label': 'Value', maxlength: 2000, autocomplete: 'off',
    value: condition ? (condition.equals ?? condition.prefix ?? (condition.oneOf ?? []).join(', ')) : '',
  });
  const row = h('div', { class: 'condition-row' }, claim, select, value,
    h('button', { type: 'button', 'aria-label': 'Remove condition', onclick: () => { row.remove(); onRemove?.(); } }, 'Remove'));
  row.read = () => {
    const name = claim.value.trim();
    if (!name) return null;
    const text = value.value.trim();
    if (select.value === 'oneOf') return { claim: name, oneOf: text.split(',').map((v) => v.trim()).filter(Boolean) };
    return { claim: name, [select.value]: text };
  };
  return row;
}

/** "+ Add trusted publisher" (no `publisher`) or "Edit" (prefilled). */
async function publisherDialog(project, publisher, done) {
  const roleAnswer = await graphql('query Roles { organization { roles { id name } } }');
  const roles = roleAnswer.data?.organization?.roles;
  openDialog(publisher ? 'Edit trusted publisher' : 'Add trusted publisher', (close) => {
    const issuer = h('input', {
      type: 'url', name: 'issuer', required: true, maxlength: 255, autocomplete: 'off',
      placeholder: 'https://token.actions.githubusercontent.com', value: publisher?.issuer,
    });
    const audience = h('input', {
      type: 'text', name: 'audience', required: true, maxlength: 255, autocomplete: 'off',
      value: publisher?.audience ?? 'lynk',
    });
    const subject = h('input', {
      type: 'text', name: 'subject', required: true, maxlength: 255, autocomplete: 'off',
      placeholder: 'repo:OWNER/REPO:ref:refs/heads/main', value: publisher?.subject,
    });
    const role = roles
      ? h('select', { name: 'role', required: true },
        roles.map((r) => h('option', { value: r.id, selected: publisher ? r.id === publisher.role.id : r.name === 'uploader' }, r.name)))
      : null;
    const lifetime = h('input', {
      type: 'number', name: 'lifetime', min: 60, max: 21600, step: 1, required: true,
      value: String(publisher?.tokenLifetimeSeconds ?? 900),
    });
    const pinIds = h('input', { type: 'checkbox', name: 'pin-ids', checked: publisher ? publisher.pinIds : true });
    const clearPins = publisher?.pinnedClaims.length
      ? h('input', { type: 'checkbox', name: 'clear-pins' })
      : null;
    const rows = h('div', { class: 'conditions' }, (publisher?.conditions ?? []).map((c) => conditionRow(c)));
    const addCondition = h('button', { type: 'button', id: 'add-condition', onclick: () => rows.append(conditionRow(null)) }, '+ Add condition');
    const message = h('div');
    const submit = h('button', { type: 'submit', class: 'primary' }, publisher ? 'Save publisher' : 'Add publisher');
    const form = h('form', { id: 'publisher-form' },
      field('Issuer', issuer, 'https://token.actions.githubusercontent.com for GitHub Actions, https://gitlab.com for GitLab.com; compared exactly.'),
      field('Audience', audience, 'What the CI job asks its token to be for.'),
      field('Subject', subject, 'The token’s sub exactly, or ending in :* after the repository (repo:OWNER/REPO:*).'),
      role ? field('Role', role, 'What exchanged tokens may do; within your own permissions.')
        : needs('roles:read', 'choose the role'),
      h('fieldset', {}, h('legend', {}, 'Claim conditions'),
        h('p', { class: 'hint' }, 'Every condition must hold; a token without the claim fails it. E.g. job_workflow_ref starts with OWNER/workflows/.github/workflows/release.yml@ for a reusable workflow. Values of “is one of” are separated by commas.'),
        rows, addCondition),
      field('Token lifetime (seconds)', lifetime, '60 to 21600 (6 hours); 900 is 15 minutes.'),
      h('div', { class: 'field' }, h('label', {}, pinIds, ' Pin the repository’s and owner’s ids on first use'),
        h('span', { class: 'hint' }, 'A re-created or renamed repository with the same name then cannot use this publisher. A new issuer or subject clears the pins.')),
      clearPins ? h('div', { class: 'field' }, h('label', {}, clearPins, ' Forget the pinned ids (the next exchange pins afresh)')) : null,
      message,
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: close }, 'Cancel'), submit));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      submit.disabled = true;
      replace(message);
      const input = {
        issuer: issuer.value.trim(),
        audience: audience.value.trim(),
        subject: subject.value.trim(),
        conditions: [...rows.children].map((row) => row.read()).filter(Boolean),
        tokenLifetimeSeconds: Number.parseInt(lifetime.value, 10),
        pinIds: pinIds.checked,
      };
      if (role) input.roleId = role.value;
      try {
        if (publisher) {
          if (clearPins?.checked) input.clearPins = true;
          await mutate(`mutation UpdateTrustedPublisher($id: ID!, $input: UpdateTrustedPublisherInput!) {
            updateTrustedPublisher(id: $id, input: $input) { id } }`, { id: publisher.id, input });
        } else {
          await mutate(`mutation CreateTrustedPublisher($input: CreateTrustedPublisherInput!) {
            createTrustedPublisher(input: $input) { id } }`, { input: { ...input, projectId: project.id } });
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

async function removePublisher(publisher, report, done) {
  const confirmed = await confirmAction('Delete this trusted publisher?',
    `${publisher.subject} can no longer exchange its token for this project. Tokens it already received expire on their own.`,
    'Delete publisher');
  if (!confirmed) return;
  try {
    await mutate('mutation DeleteTrustedPublisher($id: ID!) { deleteTrustedPublisher(id: $id) }', { id: publisher.id });
    replace(report);
  } catch (error) {
    replace(report, errorBox(error.message));
  }
  done();
}

/**
 * The trusted publishers (they need `tokens:read`; adding, editing and
 * deleting `tokens:write`), and the project id a CI job names when it
 * exchanges its token: the exchange is matched only against this
 * project's publishers.
 */
function publisherSection(ctx, answer, reload) {
  const project = answer.data?.project;
  const publishers = project?.trustedPublishers;
  const writable = ctx.can('tokens:write') && publishers;
  const report = h('div');
  let body;
  if (!publishers) {
    body = refusal(answer.errorAt('project', 'trustedPublishers'),
      'see the project’s trusted publishers', 'The trusted publishers could not be loaded.');
  } else {
    const headers = ['Issuer', 'Audience', 'Subject', 'Conditions', 'Role', 'Token lifetime', 'Pinned ids', 'Last exchange'];
    if (writable) headers.push('Actions');
    body = table('Trusted publishers', headers,
      publishers.map((p) => [h('code', {}, p.issuer), h('code', {}, p.audience), h('code', {}, p.subject),
        p.conditions.length
          ? h('ul', { class: 'conditions-list' }, p.conditions.map((c) => h('li', {}, h('code', {}, conditionText(c)))))
          : h('span', { class: 'muted' }, 'None'),
        p.role.name,
        lifetimeText(p.tokenLifetimeSeconds),
        p.pinnedClaims.length
          ? h('ul', { class: 'pins' }, p.pinnedClaims.map((c) => h('li', {}, h('code', {}, `${c.claim} ${c.value}`))))
          : h('span', { class: 'muted' }, p.pinIds ? 'Not yet (first exchange pins)' : 'Not pinned'),
        p.lastExchangedAt ? timeCell(p.lastExchangedAt) : h('span', { class: 'muted' }, 'Never'),
        writable && actionsMenu(`Actions for ${p.subject}`, [
          { label: 'Edit', action: () => publisherDialog(project, p, reload) },
          { label: 'Delete', danger: true, action: () => removePublisher(p, report, reload) },
        ]),
      ].filter((cell) => cell !== false)),
      'No trusted publishers: CI jobs of this project upload with a service token.');
  }
  const add = writable
    ? h('button', { type: 'button', class: 'primary', id: 'new-publisher', onclick: () => publisherDialog(project, null, reload) }, '+ Add trusted publisher')
    : null;
  return h('section', { 'aria-labelledby': 'publishers-heading' },
    h('h2', { id: 'publishers-heading' }, 'Trusted publishers'),
    h('p', { class: 'hint' }, 'CI identities (GitHub Actions, GitLab CI) that may exchange their OIDC token for a short-lived token of this project.'),
    h('p', { class: 'hint', id: 'exchange-project-id' }, 'A CI job names this project in the exchange: ',
      h('code', {}, `exchangeOidcToken(token: $token, projectId: "${project?.id ?? ''}")`),
      ' (the ', h('code', {}, 'LYNK_PROJECT_ID'), ' of the CI recipes in ', h('code', {}, 'docs/ci.md'), ' in lynk’s repository).'),
    add, report, body);
}

async function renderProject(container, ctx, id) {
  const back = h('p', {}, h('a', { href: '#/projects' }, '← All projects'));
  const answer = await graphql(PROJECT, { id });
  const project = answer.data?.project;
  if (!project) {
    const error = answer.errorAt('project') ?? answer.errors[0];
    replace(container, pageHeader('Project'), back,
      error ? refusal(error, 'see projects', 'The project could not be loaded.')
        : errorBox('No such project in this organization.'));
    return;
  }
  const report = h('div');
  const remove = ctx.can('projects:delete')
    ? h('button', { type: 'button', class: 'danger', id: 'delete-project' }, 'Delete project')
    : null;
  remove?.addEventListener('click', async () => {
    const confirmed = await confirmAction(`Delete the project ${project.name}?`,
      'Its SBOMs are deleted with it. This cannot be undone.', 'Delete project');
    if (!confirmed) return;
    try {
      await mutate('mutation DeleteProject($id: ID!) { deleteProject(id: $id) }', { id: project.id });
      location.hash = '#/projects';
    } catch (error) {
      replace(report, errorBox(error.message));
    }
  });
  const sboms = sbomSection(ctx, project);
  replace(container,
    back,
    pageHeader(project.name, remove),
    h('p', { class: 'intro' }, project.description || 'No description.',
      ' Created ', dateCell(project.createdAt), '.'),
    report,
    ctx.can('projects:write') ? editForm(project, () => renderProject(container, ctx, id)) : null,
    sboms.element,
    publisherSection(ctx, answer, () => renderProject(container, ctx, id)));
  await sboms.load();
}
