// The GraphQL over HTTP audits of the graphql-http package (MUST, SHOULD
// and MAY) against a real server: every one must pass.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serverAudits } from 'graphql-http';
import { startServer } from './harness.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

test('GraphQL over HTTP: every audit passes', async () => {
  const fetchFn = (input, init = {}) =>
    fetch(input, { ...init, headers: { ...(init.headers ?? {}), authorization: `Bearer ${server.adminKey}` } });
  const failed = [];
  let n = 0;
  for (const audit of serverAudits({ url: `${server.base}/graphql`, fetchFn })) {
    n++;
    const r = await audit.fn();
    if (r.status !== 'ok') failed.push(`${audit.id} ${r.status}: ${audit.name} (${r.reason})`);
  }
  assert.ok(n >= 40, `only ${n} audits ran`);
  assert.deepEqual(failed, [], failed.join('\n'));
});
