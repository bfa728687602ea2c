// The signed-in frame: header with the organization switcher and the user,
// navigation, and the page the location hash names.
import { graphql, mutate, session, SignedOut } from './api.js';
import { errorBox, h, replace } from './dom.js';
import * as audit from './audit.js';
import * as explorer from './explorer.js';
import * as members from './members.js';
import * as policy from './policy.js';
import * as projects from './projects.js';
import * as roles from './roles.js';
import * as settings from './settings.js';
import * as tokens from './tokens.js';
import * as webhooks from './webhooks.js';

const CONTEXT = `query ConsoleContext {
  viewer { kind user { id email name } role { id name } permissions }
  organization { id name maxTokenLifetimeDays }
  organizations { id name }
}`;

/** Pages by the first segment of the hash (`#/members`). */
const PAGES = [
  { path: 'tokens', label: 'Personal tokens', page: tokens.personal },
  { path: 'service-tokens', label: 'Service tokens', page: tokens.service },
  { path: 'revoke-tokens', label: 'Bulk revoke', page: policy.bulkRevoke },
  { path: 'token-policy', label: 'Token policy', page: policy.policy },
  { path: 'members', label: 'Members', page: members },
  { path: 'roles', label: 'Roles', page: roles },
  { path: 'projects', label: 'Projects', page: projects },
  { path: 'webhooks', label: 'Webhooks', page: webhooks },
  { path: 'audit', label: 'Audit log', page: audit },
  { path: 'settings', label: 'Settings', page: settings.organization },
  { path: 'me', label: 'Who am I', page: settings.me },
  { path: 'explorer', label: 'API explorer', page: explorer },
];

/** Loads who the caller is, draws the frame and routes the hash. */
export async function startShell(root, showSignIn) {
  let context;
  try {
    const answer = await graphql(CONTEXT);
    const data = answer.orThrow();
    context = {
      viewer: data.viewer,
      organization: data.organization,
      organizations: data.organizations,
    };
  } catch (error) {
    if (!(error instanceof SignedOut)) {
      session.clear();
      showSignIn(error.message);
    }
    return;
  }
  const granted = new Set(context.viewer.permissions);
  const ctx = {
    ...context,
    can: (permission) => granted.has(permission),
    reload: () => route(),
  };

  const switcher = h('select', { id: 'organization-switcher', 'aria-label': 'Organization' },
    ctx.organizations.map((org) => h('option', { value: org.id, selected: org.id === ctx.organization.id }, org.name)));
  switcher.addEventListener('change', () => {
    session.update({ organizationId: switcher.value });
    startShell(root, showSignIn);
  });
  const signOut = h('button', { type: 'button', class: 'link' }, 'Sign out');
  signOut.addEventListener('click', async () => {
    try {
      await mutate('mutation SignOut { logout }');
    } catch {
      // The session is dropped here whatever the server said.
    }
    session.clear();
    showSignIn('You are signed out.');
  });

  const nav = h('nav', { 'aria-label': 'Console' },
    h('ul', {}, PAGES.map(({ path, label }) => h('li', {}, h('a', { href: `#/${path}`, dataset: { path } }, label)))));
  const main = h('main', { id: 'main', tabindex: '-1' });
  const user = ctx.viewer.user;
  replace(root,
    h('header', { class: 'top' },
      h('a', { class: 'brand', href: '#/tokens' }, 'lynk'),
      switcher,
      h('span', { class: 'who', id: 'who' },
        user ? user.email : '', ' · ', h('span', { class: 'role' }, ctx.viewer.role.name)),
      signOut),
    h('div', { class: 'layout' }, nav, main));

  let generation = 0;
  async function route() {
    const [path = 'tokens', ...rest] = location.hash.replace(/^#\/?/, '').split('/');
    const entry = PAGES.find((candidate) => candidate.path === path) ?? PAGES[0];
    for (const link of nav.querySelectorAll('a')) {
      if (link.dataset.path === entry.path) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    document.title = `${entry.label} · ${ctx.organization.name} · lynk`;
    const mine = ++generation;
    const container = h('div', { class: 'page', 'aria-busy': 'true' });
    replace(main, container);
    try {
      await entry.page.render(container, ctx, rest.map(decodeURIComponent));
    } catch (error) {
      if (error instanceof SignedOut || mine !== generation) return;
      replace(container, errorBox(error.message));
    } finally {
      container.removeAttribute('aria-busy');
    }
  }
  window.onhashchange = () => {
    route().then(() => main.querySelector('h1')?.focus());
  };
  await route();
}
