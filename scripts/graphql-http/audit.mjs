// Runs graphql-http's server audits (the GraphQL-over-HTTP spec's MUSTs,
// SHOULDs and MAYs) against a running lynk and fails on any result that is
// not "ok": errors (MUST), warnings (SHOULD) and notices alike.
//
// Usage: LYNK_URL=http://127.0.0.1:8080/lynkapi LYNK_TOKEN=lynk_live_… node audit.mjs
// The token goes on every request: lynk answers anonymous requests 401
// before reading them (docs/DESIGN.md §4.2), which is not what the audits probe.
import { auditServer } from 'graphql-http';

const url = process.env.LYNK_URL;
const token = process.env.LYNK_TOKEN;
if (!url || !token) {
  console.error('audit: set LYNK_URL and LYNK_TOKEN');
  process.exit(2);
}

const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

const results = await auditServer({ url, fetchFn });
let failed = 0;
for (const result of results) {
  if (result.status === 'ok') {
    console.log(`ok      ${result.name}`);
    continue;
  }
  failed += 1;
  let body = '';
  try {
    body = await result.response.text();
  } catch {
    body = '(body already read)';
  }
  console.log(`${result.status.padEnd(7)} ${result.name}\n        ${result.reason}\n        status ${result.response.status}: ${body.slice(0, 300)}`);
}
console.log(`\n${results.length - failed} of ${results.length} audits ok`);
process.exit(failed === 0 ? 0 : 1);
