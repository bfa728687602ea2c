/*
 * Mounts GraphiQL on #graphiql for lynk's `/lynkapi` endpoint.
 *
 * A file of its own rather than an inline <script> so the page works under
 * `script-src 'self'`. It expects the UMD globals `React`, `ReactDOM` and
 * `GraphiQL`, loaded before it by index.html (all `defer`, so in order and
 * after #graphiql exists).
 */
(function () {
  'use strict';

  // The value the headers editor starts with. Until a token replaces it,
  // nothing is sent at all (not even the schema's introspection): a
  // request without a credential would only earn a 401 and count as a
  // failed authentication against the client's address.
  var PLACEHOLDER = 'Bearer <paste a token here>';

  // What GraphiQL shows instead of an answer while there is no token.
  var NO_TOKEN = {
    errors: [
      {
        message:
          'Nothing was sent: paste a token (lynk_…) in the Headers tab below, as ' +
          '{"Authorization": "Bearer lynk_…"}, then run again; the docs and completion ' +
          'load once there is one (or press the "Re-fetch GraphQL schema" button).',
        extensions: { code: 'NO_TOKEN_IN_HEADERS' },
      },
    ],
  };

  var root = document.getElementById('graphiql');
  if (!root || !window.React || !window.ReactDOM || !window.GraphiQL) {
    return;
  }

  // Plain JSON over POST: lynk serves no subscriptions and no multipart
  // incremental delivery.
  var post = GraphiQL.createFetcher({
    url: '/lynkapi',
    enableIncrementalDelivery: false,
  });

  function withoutPlaceholder(headers) {
    var kept = {};
    Object.keys(headers || {}).forEach(function (name) {
      if (headers[name] !== PLACEHOLDER) {
        kept[name] = headers[name];
      }
    });
    return kept;
  }

  // Whether the headers carry a bearer token (any case of the name).
  function hasToken(headers) {
    return Object.keys(headers).some(function (name) {
      return (
        name.toLowerCase() === 'authorization' &&
        /^Bearer\s+\S+$/i.test(String(headers[name]).trim())
      );
    });
  }

  function fetcher(params, opts) {
    var headers = withoutPlaceholder(opts && opts.headers);
    if (!hasToken(headers)) {
      return Promise.resolve(NO_TOKEN);
    }
    return post(params, Object.assign({}, opts, { headers: headers }));
  }

  // GraphiQL's storage, kept in this page's memory only: the editors'
  // text (a `login(password: …)`, a token in the headers), history and
  // tabs are gone when the tab closes, and nothing reaches localStorage
  // or sessionStorage, where they would outlive it.
  function memoryStorage() {
    var items = new Map();
    return {
      getItem: function (key) {
        return items.has(key) ? items.get(key) : null;
      },
      setItem: function (key, value) {
        items.set(key, String(value));
      },
      removeItem: function (key) {
        items.delete(key);
      },
      clear: function () {
        items.clear();
      },
      get length() {
        return items.size;
      },
    };
  }

  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      storage: memoryStorage(),
      defaultHeaders: JSON.stringify({ Authorization: PLACEHOLDER }, null, 2),
      // Tokens are secrets: never persist the headers editor, and hide the
      // setting that would let a user turn that on.
      shouldPersistHeaders: false,
      showPersistHeadersSettings: false,
      // Open the headers pane so the token placeholder is in view.
      defaultEditorToolsVisibility: 'headers',
    })
  );
})();
