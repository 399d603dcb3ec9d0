// The audit log and webhooks pages against the real server: endpoints
// created in the console receive signed deliveries on receivers this test
// runs on loopback (the server allows private addresses and retries after
// a second), and the audit log shows who changed a license link, with the
// diff.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { gql, launchBrowser, startServer } from './harness.mjs';
import { DESKTOP, assertNoCriticalA11y, nav, newPage, shot, signIn, until } from './helpers.mjs';

let server;
let browser;
let bot; // an ADMIN key named release-bot: the console signs in with it
const receivers = {};

const DELIVERY_TIMEOUT = 45_000;

/** An HTTP receiver on loopback that records what it gets and answers as `respond` says. */
function receiver(respond) {
  const r = { requests: [], respond, url: '' };
  r.server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      r.requests.push({ path: req.url, headers: req.headers, body });
      const { status, body: out } = r.respond(r.requests.length);
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(out);
    });
  });
  return new Promise((resolve) => {
    r.server.listen(0, '127.0.0.1', () => {
      r.url = `http://127.0.0.1:${r.server.address().port}`;
      resolve(r);
    });
  });
}

/** Standard Webhooks: does one of the header's v1 signatures verify with the secret? */
function signedWith(secret, { headers, body }) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const want = createHmac('sha256', key).update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`).digest('base64');
  return String(headers['webhook-signature'] ?? '')
    .split(' ')
    .some((s) => s === `v1,${want}`);
}

const q = (query, variables, key = server.adminKey) => gql(server.base, key, query, variables);

before(async () => {
  server = await startServer({
    log: 'server-events.log',
    env: { ENTITLED_WEBHOOK_ALLOW_PRIVATE: 'true', ENTITLED_WEBHOOK_RETRY_SCHEDULE: '1s,1s' },
  });
  browser = await launchBrowser();
  receivers.ok = await receiver(() => ({ status: 200, body: '{"received":true}' }));
  receivers.flaky = await receiver(() => ({ status: 500, body: '{"error":"not yet"}' }));
  bot = (await q(`mutation { createAPIKey(input: {name: "release-bot", scopes: [ADMIN]}) { secret } }`)).createAPIKey.secret;
});

after(async () => {
  await browser?.close();
  await server?.stop();
  for (const r of Object.values(receivers)) r.server.close();
});

/** Creates an endpoint through the console; returns the secret the dialog showed. */
async function createEndpoint(page, url, eventTypes = '') {
  await nav(page, 'Webhooks');
  await page.getByRole('button', { name: 'New endpoint' }).click();
  const dialog = page.getByRole('dialog', { name: 'New webhook endpoint' });
  await dialog.getByLabel('URL').fill(url);
  if (eventTypes) await dialog.getByRole('textbox', { name: /^Event types/ }).fill(eventTypes);
  await dialog.getByRole('button', { name: 'Create endpoint' }).click();
  const shown = page.getByRole('dialog', { name: 'Endpoint created: its signing secret' });
  await shown.getByText('Copy this secret now: it will not be shown again.').waitFor();
  const secret = await shown.getByLabel('Signing secret').inputValue();
  assert.match(secret, /^whsec_[A-Za-z0-9+/]+=*$/);
  await shown.getByRole('button', { name: 'I have stored the secret' }).click();
  await shown.waitFor({ state: 'detached' });
  await page.getByRole('heading', { level: 1, name: url }).waitFor();
  return secret;
}

describe('webhooks (real server, loopback receivers)', () => {
  test('create an endpoint, see its secret once, send a test and see it delivered, signed with that secret', async () => {
    const { page, context, problems } = await newPage(browser, DESKTOP);
    try {
      await signIn(page, server.base, bot);
      const url = `${receivers.ok.url}/hooks/entitled`;
      const secret = await createEndpoint(page, url);

      // Shown once: not on the page after the dialog, nor after a reload.
      assert.ok(!(await page.content()).includes(secret), 'the secret is gone once the dialog closed');
      await page.reload();
      await page.getByRole('heading', { level: 1, name: url }).waitFor();
      assert.ok(!(await page.content()).includes(secret));
      const listed = await q(`{ webhookEndpoints { edges { node { url } } } }`);
      assert.ok(!JSON.stringify(listed).includes(secret), 'the API does not show it either');

      await page.getByRole('button', { name: 'Send test' }).click();
      const row = page.getByTestId('webhook-delivery').filter({ hasText: 'webhook.test' });
      await row.and(page.locator('[data-status="SUCCEEDED"]')).waitFor({ timeout: DELIVERY_TIMEOUT });
      await row.getByText('HTTP 200', { exact: true }).waitFor();
      await page.getByTestId('endpoint-health').first().getByText('Healthy').waitFor({ timeout: DELIVERY_TIMEOUT });

      // The receiver got it, signed with the secret the console showed.
      const got = receivers.ok.requests.filter((r) => JSON.parse(r.body).type === 'webhook.test');
      assert.equal(got.length, 1, 'one test delivery');
      assert.equal(got[0].path, '/hooks/entitled');
      assert.ok(signedWith(secret, got[0]), `signature ${got[0].headers['webhook-signature']} verifies with the shown secret`);

      // Details: the request as sent, the answer, the webhook-id.
      await row.getByRole('button', { name: /^Details of webhook.test/ }).click();
      const dialog = page.getByRole('dialog', { name: 'Delivery of webhook.test' });
      await dialog.getByTestId('delivery-request').getByText(/"type": "webhook.test"/).waitFor();
      assert.equal(await dialog.getByTestId('delivery-response').innerText(), '{"received":true}');
      await dialog.getByText(got[0].headers['webhook-id'], { exact: true }).waitFor();
      await assertNoCriticalA11y(page, 'delivery detail (real)');
      await dialog.getByRole('button', { name: 'Close' }).click();
      await shot(page, 'events-webhook-endpoint-1280');

      // Rotation: a new secret, shown once; the next delivery is signed with it (and the old one, for 24 h).
      await page.getByRole('button', { name: 'Rotate secret' }).click();
      await page.getByRole('dialog', { name: 'Rotate the signing secret?' }).getByRole('button', { name: 'Rotate secret' }).click();
      const rotatedDialog = page.getByRole('dialog', { name: 'The new signing secret' });
      const rotated = await rotatedDialog.getByLabel('Signing secret').inputValue();
      assert.notEqual(rotated, secret);
      await rotatedDialog.getByRole('button', { name: 'I have stored the secret' }).click();
      const before = receivers.ok.requests.length;
      await page.getByRole('button', { name: 'Send test' }).click();
      const delivered = page.getByTestId('webhook-delivery').filter({ hasText: 'webhook.test' }).and(page.locator('[data-status="SUCCEEDED"]'));
      await until(async () => (await delivered.count()) === 2, 'the second test delivery shows as delivered', DELIVERY_TIMEOUT);
      const next = receivers.ok.requests.slice(before).find((r) => JSON.parse(r.body).type === 'webhook.test');
      assert.ok(next, 'the second test delivery arrived');
      assert.ok(signedWith(rotated, next), 'signed with the new secret');
      assert.ok(signedWith(secret, next), 'and, during the overlap, with the old one');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('a failing receiver: the delivery is retried on schedule with the same webhook-id, then Retry delivers it', async () => {
    const { page, context, problems } = await newPage(browser, DESKTOP);
    try {
      await signIn(page, server.base, bot);
      const url = `${receivers.flaky.url}/hooks/flaky`;
      await createEndpoint(page, url, 'license.*');
      await page.getByRole('button', { name: 'Send test' }).click();
      const row = page.getByTestId('webhook-delivery').filter({ hasText: 'webhook.test' });
      // Every attempt fails (HTTP 500): retried on the 1s,1s schedule, then given up.
      await row.and(page.locator('[data-status="GAVE_UP"]')).waitFor({ timeout: DELIVERY_TIMEOUT });
      const attempts = Number(await row.getByTestId('delivery-attempts').innerText());
      assert.ok(attempts >= 2, `retried: ${attempts} attempts`);
      await row.getByText('HTTP 500', { exact: true }).waitFor();
      const tries = receivers.flaky.requests.filter((r) => JSON.parse(r.body).type === 'webhook.test');
      assert.equal(tries.length, attempts, 'one request per attempt');
      assert.equal(new Set(tries.map((r) => r.headers['webhook-id'])).size, 1, 'the same webhook-id on every attempt');
      await page.getByTestId('endpoint-health').first().getByText(/failures? in a row/).waitFor({ timeout: DELIVERY_TIMEOUT });
      await shot(page, 'events-webhook-gave-up-1280');

      // The receiver recovers; Retry sends it again now, with the same id.
      receivers.flaky.respond = () => ({ status: 200, body: '{"received":true}' });
      await row.getByRole('button', { name: /^Retry webhook.test/ }).click();
      await row.and(page.locator('[data-status="SUCCEEDED"]')).waitFor({ timeout: DELIVERY_TIMEOUT });
      assert.equal(Number(await row.getByTestId('delivery-attempts').innerText()), attempts + 1);
      const all = receivers.flaky.requests.filter((r) => JSON.parse(r.body).type === 'webhook.test');
      assert.equal(all.length, attempts + 1);
      assert.equal(all.at(-1).headers['webhook-id'], tries[0].headers['webhook-id']);
      await page.getByTestId('endpoint-health').first().getByText('Healthy').waitFor({ timeout: DELIVERY_TIMEOUT });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});

describe('audit log (real server)', () => {
  test('shows who changed a license link, with the diff; the license History and versions name them', async () => {
    const seats = (await q(`mutation { createEntitlement(input: {name: "Seats", slug: "seats", type: NUMBER}) { id } }`)).createEntitlement.id;
    const team = (await q(`mutation { createLicense(input: {name: "Team", slug: "team", type: PAID}) { id } }`)).createLicense.id;
    await q(`mutation($l: ID!, $e: ID!) { setLicenseEntitlement(input: {licenseID: $l, entitlementID: $e, value: {type: "number", value: 10}}) { id } }`, {
      l: team,
      e: seats,
    });
    const admin = (await q(`{ viewer { apiKey { name } } }`)).viewer.apiKey.name;

    const { page, context, problems } = await newPage(browser, DESKTOP);
    try {
      // release-bot changes the link in the console.
      await signIn(page, server.base, bot);
      await page.goto(server.base + '/licenses/team');
      await page.getByRole('button', { name: 'Change Seats' }).click();
      const dialog = page.getByRole('dialog', { name: 'Change Seats' });
      await dialog.getByLabel('Limit', { exact: true }).fill('25');
      await dialog.getByRole('button', { name: 'Save value' }).click();
      await dialog.waitFor({ state: 'detached' });
      await page.getByTestId('license-version').filter({ hasText: 'Version 3' }).waitFor();

      // The license's History: the change, who made it, what it changed.
      const history = page.getByRole('list', { name: 'History, newest first' });
      const change = history.locator(':scope > li').filter({ hasText: 'license_entitlement.set' }).first();
      await change.getByText('value: 10 → 25').waitFor();
      assert.equal(await change.getByTestId('audit-actor').innerText(), 'API key release-bot');
      assert.equal(await page.getByTestId('version-3-author').innerText(), 'by API key release-bot');
      assert.equal(await page.getByTestId('version-2-author').innerText(), `by API key ${admin}`);

      // The Audit page: filtered to link changes, newest first.
      await nav(page, 'Audit log');
      await page.getByLabel('Action').selectOption('license_entitlement.set');
      const list = page.getByRole('list', { name: 'Events, newest first' });
      const entries = list.locator(':scope > li');
      const latest = entries.filter({ hasText: 'Seats on Team' }).first();
      await latest.getByText('value: 10 → 25').waitFor();
      assert.equal(await latest.getByTestId('audit-actor').innerText(), 'API key release-bot');
      assert.equal(await latest.getByRole('link', { name: 'Seats on Team' }).getAttribute('href'), '/licenses/team');
      assert.match(await latest.innerText(), /license version 3/);
      assert.doesNotMatch(await latest.locator('.audit-meta').innerText(), /Request\s+—/, 'the entry has its request id');
      // The first setting is the link's creation, by the other key.
      const first = entries.filter({ hasText: 'Seats on Team' }).nth(1);
      assert.equal(await first.getByTestId('audit-actor').innerText(), `API key ${admin}`);
      await first.getByText(/value: 10$/).waitFor();
      await assertNoCriticalA11y(page, 'audit log (real)');
      await shot(page, 'events-audit-1280', false);

      // By actor: release-bot's changes only.
      await latest.getByRole('button', { name: 'API key release-bot' }).click();
      await page.getByLabel('Action').selectOption('');
      const actors = () => entries.getByTestId('audit-actor').allInnerTexts();
      await until(async () => {
        const a = await actors();
        return a.length > 0 && a.every((t) => t === 'API key release-bot') && (await page.getByText(/Updating/).count()) === 0;
      }, "only release-bot's changes are listed");
      assert.ok((await actors()).length >= 1);

      // The chain verifies.
      await page.getByRole('button', { name: 'Verify chain' }).click();
      await page.getByTestId('chain-verification').getByText('The chain is intact.').waitFor();
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }

    // A READ key sees the log too.
    const reader = (await q(`mutation { createAPIKey(input: {name: "auditor", scopes: [READ]}) { secret } }`)).createAPIKey.secret;
    const r = await newPage(browser, DESKTOP);
    try {
      await signIn(r.page, server.base, reader);
      await nav(r.page, 'Audit log');
      await r.page.getByRole('list', { name: 'Events, newest first' }).locator(':scope > li').filter({ hasText: 'Seats on Team' }).first().waitFor();
      assert.equal(await r.page.getByRole('button', { name: 'Verify chain' }).count(), 1);
      assert.deepEqual(r.problems, []);
    } finally {
      await r.context.close();
    }
  });
});
