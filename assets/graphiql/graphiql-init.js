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

  // The value the headers editor starts with. Kept out of the request as
  // long as it is unchanged: sending it would only earn a 401 and count as
  // a failed authentication against the client's address.
  var PLACEHOLDER = 'Bearer <paste a token here>';

  // GraphiQL's localStorage keys (namespace "graphiql") whose entries carry
  // the headers editor's text. GraphiQL 3 writes them whatever
  // `shouldPersistHeaders` says, so a token would outlive the tab.
  var NAMESPACE = 'graphiql:';
  var HISTORY_KEYS = ['graphiql:queries', 'graphiql:favorites'];

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

  function fetcher(params, opts) {
    var options = Object.assign({}, opts, {
      headers: withoutPlaceholder(opts && opts.headers),
    });
    return post(params, options);
  }

  // The headers text of a history entry with every Authorization value put
  // back to the placeholder; other headers (X-Organization-ID) are kept.
  // Text that is not a JSON object is dropped: it cannot be told safe.
  function redactHeaders(text) {
    var headers;
    try {
      headers = JSON.parse(text);
    } catch (e) {
      return undefined;
    }
    if (!headers || typeof headers !== 'object' || Array.isArray(headers)) {
      return undefined;
    }
    Object.keys(headers).forEach(function (name) {
      if (name.toLowerCase() === 'authorization') {
        headers[name] = PLACEHOLDER;
      }
    });
    return JSON.stringify(headers, null, 2);
  }

  function redactHistory(value) {
    var stored;
    try {
      stored = JSON.parse(value);
    } catch (e) {
      return value;
    }
    if (!stored || !Array.isArray(stored.queries)) {
      return value;
    }
    stored.queries.forEach(function (entry) {
      if (entry && typeof entry.headers === 'string') {
        entry.headers = redactHeaders(entry.headers);
      }
    });
    return JSON.stringify(stored);
  }

  // localStorage as GraphiQL uses it by default, except that history and
  // favorites are written without credentials. Null (no persistence at all)
  // where the browser refuses storage.
  function makeStorage() {
    var local;
    try {
      local = window.localStorage;
      if (!local) {
        return null;
      }
    } catch (e) {
      return null;
    }
    function ownKeys() {
      var keys = [];
      for (var i = 0; i < local.length; i++) {
        var key = local.key(i);
        if (key !== null && key.indexOf(NAMESPACE) === 0) {
          keys.push(key);
        }
      }
      return keys;
    }
    return {
      getItem: function (key) {
        return local.getItem(key);
      },
      setItem: function (key, value) {
        var safe = HISTORY_KEYS.indexOf(key) >= 0 ? redactHistory(value) : value;
        local.setItem(key, safe);
      },
      removeItem: function (key) {
        local.removeItem(key);
      },
      clear: function () {
        ownKeys().forEach(function (key) {
          local.removeItem(key);
        });
      },
      get length() {
        return ownKeys().length;
      },
    };
  }

  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      storage: makeStorage(),
      defaultHeaders: JSON.stringify({ Authorization: PLACEHOLDER }, null, 2),
      // Tokens are secrets: never write the headers editor to localStorage,
      // and hide the setting that would let a user turn that on.
      shouldPersistHeaders: false,
      showPersistHeadersSettings: false,
      // Open the headers pane so the token placeholder is in view.
      defaultEditorToolsVisibility: 'headers',
    })
  );
})();
