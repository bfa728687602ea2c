// The page an invitation link opens (`#/accept/<code>`): it shows the
// organization and the role, then lets a new user pick a name and a
// password, or a signed-in user join with their session. The code travels
// only in the fragment and in request bodies, never in a URL a server sees.
import { graphql, session } from './api.js';
import { code, errorBox, field, h, replace } from './dom.js';
import { dateCell, permissionList } from './format.js';

const PREVIEW = `query InvitationPreview($code: String!) {
  invitationPreview(code: $code) { email organizationName roleName permissions expiresAt }
}`;

const ACCEPT = `mutation Accept($input: AcceptInvitationInput!) {
  acceptInvitation(input: $input) {
    token expiresAt user { id email name } organization { id name }
  }
}`;

const LOGIN = `mutation SignIn($email: String!, $password: String!) {
  login(email: $email, password: $password) { token expiresAt user { id email name } organization { id name } }
}`;

/** The invitation code in `hash` (`#/accept/<code>`), or null. */
export function codeIn(hash) {
  const match = /^#\/accept\/([^/?#]+)$/.exec(hash);
  return match ? decodeURIComponent(match[1]) : null;
}

/** Sends one public operation: without the session, so a stale one cannot end it. */
async function send(query, variables) {
  const answer = await graphql(query, variables, { signingIn: true });
  return answer;
}

/**
 * Draws the accept page for `inviteCode` into `root`; `enter()` starts the
 * console once the invitee is signed in to the organization.
 */
export async function showAccept(root, inviteCode, enter) {
  document.title = 'Join an organization · lynk';
  const main = h('main', { id: 'main', class: 'centered', tabindex: '-1' },
    h('p', { class: 'loading' }, 'Loading the invitation…'));
  replace(root, main);
  let preview;
  try {
    const answer = await send(PREVIEW, { code: inviteCode });
    preview = answer.data?.invitationPreview;
    if (!preview) {
      replace(main, h('section', { class: 'sign-in', id: 'accept-invitation' },
        h('h1', {}, 'This invitation cannot be used'),
        errorBox('The link is invalid, expired or already used. Ask whoever invited you for a new one.'),
        h('p', {}, h('a', { href: '#/' }, 'Go to sign-in'))));
      return;
    }
  } catch (error) {
    replace(main, errorBox(error.message));
    return;
  }

  const message = h('div', { class: 'form-message' });
  const joined = (login) => {
    session.set({
      token: login.token, expiresAt: login.expiresAt, user: login.user,
      organizationId: login.organization.id,
    });
    // The code is spent: leave it out of the address bar and the history.
    history.replaceState(null, '', '#/tokens');
    enter();
  };
  const accept = async (input, submit, useSession) => {
    submit.disabled = true;
    replace(message);
    try {
      const answer = useSession
        ? await graphql(ACCEPT, { input })
        : await send(ACCEPT, { input });
      const login = answer.data?.acceptInvitation;
      if (!login) {
        replace(message, errorBox(answer.errors[0]?.message ?? 'Joining failed.'));
        return;
      }
      joined(login);
    } catch (error) {
      replace(message, errorBox(error.message));
    } finally {
      submit.disabled = false;
    }
  };

  const summary = h('div', { class: 'invitation-summary' },
    h('p', {}, 'You are invited to join ', h('strong', { id: 'invite-organization' }, preview.organizationName),
      ' as ', h('strong', { id: 'invite-role' }, preview.roleName), '.'),
    h('p', { class: 'muted' }, 'For ', h('strong', {}, preview.email),
      '. The link works once, until ', dateCell(preview.expiresAt), '.'),
    h('details', {}, h('summary', {}, 'What the role may do'), permissionList(preview.permissions)));

  const current = session.get();
  let body;
  if (current && current.user?.email === preview.email) {
    const join = h('button', { type: 'button', class: 'primary' }, `Join ${preview.organizationName}`);
    join.addEventListener('click', () => accept({ code: inviteCode }, join, true));
    body = [h('p', {}, 'You are signed in as ', h('strong', {}, current.user.email), '.'), join];
  } else if (current) {
    const signOut = h('button', { type: 'button' }, 'Sign out and continue');
    signOut.addEventListener('click', () => {
      session.clear();
      showAccept(root, inviteCode, enter);
    });
    body = [h('p', { class: 'notice', role: 'note' }, 'You are signed in as ', h('strong', {}, current.user?.email ?? 'someone else'),
      ', but this invitation is for ', h('strong', {}, preview.email), '.'), signOut];
  } else {
    body = [newAccountForm(preview, inviteCode, accept), existingAccountForm(preview, inviteCode, message, joinWithSession)];
  }

  async function joinWithSession(login, submit) {
    session.set({
      token: login.token, expiresAt: login.expiresAt, user: login.user,
      organizationId: login.organization.id,
    });
    await accept({ code: inviteCode }, submit, true);
  }

  replace(main, h('section', { class: 'sign-in', id: 'accept-invitation', 'aria-labelledby': 'accept-title' },
    h('h1', { id: 'accept-title', tabindex: '-1' }, `Join ${preview.organizationName}`),
    summary, message, body));
}

/** A new account: name and password, sent with the code. */
function newAccountForm(preview, inviteCode, accept) {
  const name = h('input', { name: 'name', autocomplete: 'name', required: true, maxlength: 100 });
  const password = h('input', {
    type: 'password', name: 'password', autocomplete: 'new-password', required: true, minlength: 12,
  });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create account and join');
  const form = h('form', { id: 'accept-new-account', 'aria-label': 'Create your account' },
    h('h2', {}, 'New to lynk?'),
    field('Your name', name),
    field('Password', password, 'At least 12 characters.'),
    submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    accept({ code: inviteCode, name: name.value, password: password.value }, submit, false);
  });
  return form;
}

/** An existing account: sign in first, then join with that session. */
function existingAccountForm(preview, inviteCode, message, joinWithSession) {
  const password = h('input', {
    type: 'password', name: 'password', autocomplete: 'current-password', required: true,
  });
  const submit = h('button', { type: 'submit' }, 'Sign in and join');
  const form = h('form', { id: 'accept-sign-in', 'aria-label': 'Sign in to join' },
    h('h2', {}, 'Already have an account?'),
    h('p', { class: 'hint' }, 'Sign in as ', code(preview.email), ' to join with that account.'),
    field('Password', password),
    submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    replace(message);
    try {
      const answer = await send(LOGIN, { email: preview.email, password: password.value });
      const login = answer.data?.login;
      if (!login) {
        const error = answer.errors[0];
        replace(message, errorBox(error?.code === 'UNAUTHORIZED'
          ? 'Wrong password for this account.' : (error?.message ?? 'Sign-in failed.')));
        return;
      }
      await joinWithSession(login, submit);
    } catch (error) {
      replace(message, errorBox(error.message));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
