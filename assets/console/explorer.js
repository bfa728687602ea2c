// API explorer: a GraphQL operation sent with the console's session and
// organization, and the answer pretty-printed.
import { graphql } from './api.js';
import { code, errorBox, field, h, pageHeader, replace } from './dom.js';

const DEFAULT_QUERY = `query {
  viewer { user { email } role { name } permissions }
  organization { id name }
}`;

/** The answer as the server sent it: `errors` (if any), then `data`. */
function asBody(answer) {
  const body = {};
  if (answer.errors.length > 0) {
    body.errors = answer.errors.map((error) => {
      const shown = { message: error.message };
      if (error.path) shown.path = error.path;
      const extensions = {};
      if (error.code) extensions.code = error.code;
      if (error.requiredPermission) extensions.requiredPermission = error.requiredPermission;
      if (Object.keys(extensions).length > 0) shown.extensions = extensions;
      return shown;
    });
  }
  body.data = answer.data;
  return body;
}

/** `#/explorer`. */
export async function render(container) {
  const query = h('textarea', {
    id: 'explorer-query', name: 'query', rows: 10, spellcheck: 'false', autocomplete: 'off', required: true,
  }, DEFAULT_QUERY);
  const variables = h('textarea', {
    id: 'explorer-variables', name: 'variables', rows: 4, spellcheck: 'false', autocomplete: 'off',
    placeholder: '{"first": 10}',
  });
  const message = h('div');
  const result = h('pre', { id: 'explorer-result', class: 'explorer-result', tabindex: '0', 'aria-label': 'Answer', 'aria-live': 'polite' });
  const run = h('button', { type: 'submit', class: 'primary', id: 'explorer-run' }, 'Run');
  const form = h('form', { id: 'explorer-form', 'aria-label': 'GraphQL operation' },
    field('Query', query, 'One operation. Mutations run for real, as you. Ctrl+Enter runs it.'),
    field('Variables (JSON)', variables, 'Optional: a JSON object, e.g. {"first": 10}.'),
    message,
    h('div', { class: 'actions' }, run));

  async function send() {
    replace(message);
    let vars = {};
    const text = variables.value.trim();
    if (text) {
      try {
        vars = JSON.parse(text);
      } catch (error) {
        replace(message, errorBox(`The variables are not valid JSON: ${error.message}`));
        variables.focus();
        return;
      }
      if (vars === null || typeof vars !== 'object' || Array.isArray(vars)) {
        replace(message, errorBox('The variables must be a JSON object, e.g. {"first": 10}.'));
        variables.focus();
        return;
      }
    }
    run.disabled = true;
    result.textContent = 'Running…';
    try {
      const answer = await graphql(query.value, vars);
      result.textContent = JSON.stringify(asBody(answer), null, 2);
    } catch (error) {
      result.textContent = '';
      replace(message, errorBox(error.message));
    } finally {
      run.disabled = false;
    }
  }

  form.addEventListener('submit', (event) => { event.preventDefault(); send(); });
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) { event.preventDefault(); send(); }
  });

  replace(container,
    pageHeader('API explorer'),
    h('p', { class: 'intro' }, 'Runs an operation against ', code('/lynkapi'),
      ' with this console’s session, in the organization picked at the top. For the schema and completion, open ',
      h('a', { href: '/lynkapi' }, 'GraphiQL'),
      ' (served offline from lynk; paste a token there).'),
    form,
    h('section', { 'aria-labelledby': 'explorer-answer-heading' },
      h('h2', { id: 'explorer-answer-heading' }, 'Answer'), result));
}
