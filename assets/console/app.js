// The console's entry point: sign-in when there is no session, the shell
// (navigation, organization switcher, pages) when there is.
import { graphql, session } from './api.js';
import { errorBox, field, h, replace } from './dom.js';
import { codeIn, showAccept } from './accept.js';
import { startShell } from './shell.js';

const root = document.getElementById('app');

const LOGIN = `mutation SignIn($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    token expiresAt user { id email name } organization { id name }
  }
}`;

function showSignIn(notice) {
  document.title = 'Sign in · lynk';
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', {
    type: 'password', name: 'password', autocomplete: 'current-password', required: true,
  });
  const message = h('div', { class: 'form-message' }, notice ? h('p', { class: 'notice', role: 'status' }, notice) : null);
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'sign-in', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'Sign in to lynk'),
    message,
    field('Email', email),
    field('Password', password),
    submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    replace(message);
    try {
      const answer = await graphql(LOGIN, { email: email.value, password: password.value }, { signingIn: true });
      const login = answer.data?.login;
      if (!login) {
        const error = answer.errors[0];
        const text = error?.code === 'UNAUTHORIZED' ? 'Wrong email or password.' : (error?.message ?? 'Sign-in failed.');
        replace(message, errorBox(text));
        password.select();
        return;
      }
      session.set({
        token: login.token, expiresAt: login.expiresAt, user: login.user,
        organizationId: login.organization.id,
      });
      password.value = '';
      startShell(root, showSignIn);
    } catch (error) {
      replace(message, errorBox(error.message));
    } finally {
      submit.disabled = false;
    }
  });
  replace(root, h('main', { id: 'main', class: 'centered', tabindex: '-1' }, form));
  email.focus();
}

window.addEventListener('lynk:signed-out', (event) => showSignIn(event.detail));

/** The console: an invitation link's page, the shell, or sign-in. */
function start() {
  const inviteCode = codeIn(location.hash);
  if (inviteCode) {
    showAccept(root, inviteCode, () => startShell(root, showSignIn));
  } else if (session.get()) {
    startShell(root, showSignIn);
  } else {
    showSignIn();
  }
}

// An invitation link opened in a tab that already shows the console.
window.addEventListener('hashchange', () => {
  if (codeIn(location.hash)) start();
});

start();
