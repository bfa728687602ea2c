// Talking to /lynkapi, as any front-end would. The session lives in
// sessionStorage (gone when the tab closes, never in localStorage), and is
// sent as `Authorization: Bearer`; the organization picked in the switcher
// goes in `X-Organization-ID`.

const SESSION_KEY = 'lynk.session';

/** The signed-in session: `{token, expiresAt, organizationId, user}`. */
export const session = {
  get() {
    try {
      const stored = JSON.parse(sessionStorage.getItem(SESSION_KEY));
      if (!stored || new Date(stored.expiresAt).getTime() <= Date.now()) return null;
      return stored;
    } catch {
      return null;
    }
  },
  set(value) {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
  },
  update(changes) {
    const current = session.get();
    if (current) session.set({ ...current, ...changes });
  },
  clear() {
    sessionStorage.removeItem(SESSION_KEY);
  },
};

/** A GraphQL error the user should read: its message, code and extensions. */
export class ApiError extends Error {
  constructor(error) {
    super(error.message ?? 'The request failed');
    this.code = error.extensions?.code;
    this.requiredPermission = error.extensions?.requiredPermission;
    this.path = error.path;
  }
}

/** The session is gone (401): the console returns to sign-in. */
export class SignedOut extends Error {}

/** An answer: `data` (possibly partial) and the errors by field path. */
export class Answer {
  constructor(body) {
    this.data = body.data ?? null;
    this.errors = (body.errors ?? []).map((error) => new ApiError(error));
  }

  /** The error of the field at `path` (`['organization', 'tokens']`), if any. */
  errorAt(...path) {
    return this.errors.find((error) =>
      error.path && path.every((segment, index) => error.path[index] === segment));
  }

  /** The data, or the first error thrown when there is none. */
  orThrow() {
    if (this.errors.length > 0 && (this.data === null || Object.values(this.data).every((v) => v === null))) {
      throw this.errors[0];
    }
    return this.data;
  }
}

/**
 * Sends one operation. A 401 ends the session (unless `signingIn`, where a
 * 401 is a wrong password); every other answer comes back as an `Answer`.
 */
export async function graphql(query, variables = {}, { signingIn = false } = {}) {
  const current = session.get();
  const headers = {
    'Content-Type': 'application/json',
    Accept: 'application/graphql-response+json, application/json',
  };
  if (current && !signingIn) {
    headers.Authorization = `Bearer ${current.token}`;
    if (current.organizationId) headers['X-Organization-ID'] = current.organizationId;
  }
  let response;
  try {
    response = await fetch('/lynkapi', {
      method: 'POST', headers, body: JSON.stringify({ query, variables }),
      credentials: 'omit', cache: 'no-store',
    });
  } catch {
    throw new ApiError({ message: 'lynk cannot be reached. Check the server and try again.' });
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError({ message: `lynk answered ${response.status} without a GraphQL body.` });
  }
  if (response.status === 401 && !signingIn) {
    session.clear();
    window.dispatchEvent(new CustomEvent('lynk:signed-out', {
      detail: 'Your session has ended. Sign in again.',
    }));
    throw new SignedOut();
  }
  return new Answer(body);
}

/** A mutation whose every error is the caller's to read: throws the first. */
export async function mutate(query, variables) {
  const answer = await graphql(query, variables);
  if (answer.errors.length > 0) throw answer.errors[0];
  return answer.data;
}

let catalogs = null;

/**
 * The server's catalogs, read once per page load: every permission with its
 * description, every audit action, every webhook event with the permission
 * it needs. The console keeps no copy of them.
 */
export async function catalog() {
  catalogs ??= graphql(`query Catalogs {
    permissions { name description } auditActions webhookEvents { name permission } }`)
    .then((answer) => answer.orThrow())
    .catch((error) => { catalogs = null; throw error; });
  return catalogs;
}
