// The console's audit log, History panels and webhooks pages in headless
// Chromium, with the event log's and the webhooks' GraphQL fields answered
// by a fake (fakeapi.mjs: graphql-js over the repository's schema) and
// everything else by a real server. These pin the pages' behaviour
// whatever the server's implementation does; events.test.mjs drives the
// same pages against the real thing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createFake } from './fakeapi.mjs';
import { gql, launchBrowser, startServer } from './harness.mjs';
import { DESKTOP, NARROW, assertNoCriticalA11y, nav, newPage, shot, signIn } from './helpers.mjs';

let server;
let browser;
let fake;
/** Real resources the fake events are about. */
const r = {};

const q = (query, variables) => gql(server.base, server.adminKey, query, variables);

before(async () => {
  server = await startServer({ log: 'server-mocked.log' });
  browser = await launchBrowser();
  const bot = await q(`mutation { createAPIKey(input: {name: "release-bot", scopes: [ADMIN]}) { apiKey { id name } secret } }`);
  r.botKey = bot.createAPIKey.secret;
  r.botID = bot.createAPIKey.apiKey.id;
  const viewer = await q(`{ viewer { apiKey { id name } } }`);
  r.adminID = viewer.viewer.apiKey.id;
  r.adminName = viewer.viewer.apiKey.name;
  const ents = await q(`mutation {
    a: createEntitlement(input: {name: "API calls", slug: "api-calls", type: NUMBER}) { id }
    b: createEntitlement(input: {name: "SSO", slug: "sso", type: BOOLEAN}) { id }
  }`);
  r.calls = ents.a.id;
  r.sso = ents.b.id;
  const lics = await q(`mutation {
    a: createLicense(input: {name: "Enterprise", slug: "enterprise", type: PAID}) { id }
    b: createLicense(input: {name: "Starter", slug: "starter", type: COMMUNITY}) { id }
  }`);
  r.lic = lics.a.id;
  r.other = lics.b.id;
  const set = (lic, ent, value) =>
    q(`mutation($l: ID!, $e: ID!, $v: Map!) { setLicenseEntitlement(input: {licenseID: $l, entitlementID: $e, value: $v}) { id license { version } } }`, {
      l: lic,
      e: ent,
      v: value,
    });
  r.link = (await set(r.lic, r.calls, { type: 'number', value: 1000 })).setLicenseEntitlement.id; // v2
  await set(r.lic, r.calls, { type: 'number', value: 2000 }); // v3
  r.otherLink = (await set(r.other, r.sso, { type: 'boolean', value: true })).setLicenseEntitlement.id;
  const inst = await q(`mutation($l: ID!) { createInstance(input: {name: "EU production", slug: "eu-production", licenseID: $l, metadata: {region: "eu"}}) { id } }`, {
    l: r.lic,
  });
  r.inst = inst.createInstance.id;
  const module = 'package entitled.custom\n\ndeny contains msg if {\n\tinput.instance.metadata.region == "cn"\n\tmsg := "not offered in CN"\n}\n';
  const pol = await q(`mutation($m: String!) { createPolicy(input: {name: "cn-only", module: $m}) { id } }`, { m: module });
  r.policy = pol.createPolicy.id;
  r.module = module;

  fake = createFake();
  const bot_ = { actorType: 'API_KEY', actorID: r.botID, actorName: 'release-bot' };
  const admin = { actorType: 'API_KEY', actorID: r.adminID, actorName: r.adminName };
  // Older events first, enough of them that the log needs a second page.
  for (let i = 0; i < 55; i++) {
    fake.addEvent({
      ...admin,
      action: 'api_key.created',
      resourceType: 'API_KEY',
      resourceID: `key_filler${i}`,
      after: { id: `key_filler${i}`, name: `filler ${i}`, scopes: ['READ'] },
    });
  }
  const licFields = { id: r.lic, name: 'Enterprise', slug: 'enterprise', type: 'PAID', isActive: true, isDefault: false, description: '' };
  r.e = {};
  r.e.licCreated = fake.addEvent({
    ...admin,
    action: 'license.created',
    resourceType: 'LICENSE',
    resourceID: r.lic,
    resourceSlug: 'enterprise',
    after: { ...licFields, version: 1 },
    licenseVersion: 1,
  });
  r.e.entCreated = fake.addEvent({
    ...admin,
    action: 'entitlement.created',
    resourceType: 'ENTITLEMENT',
    resourceID: r.calls,
    resourceSlug: 'api-calls',
    after: { id: r.calls, name: 'API calls', slug: 'api-calls', type: 'NUMBER' },
  });
  const link = { id: r.link, licenseID: r.lic, entitlementID: r.calls, overagePercent: 10 };
  r.e.linkSet = fake.addEvent({
    ...admin,
    action: 'license_entitlement.set',
    resourceType: 'LICENSE_ENTITLEMENT',
    resourceID: r.link,
    after: { ...link, value: { type: 'number', value: 1000 } },
    licenseVersion: 2,
  });
  r.e.linkChanged = fake.addEvent({
    ...bot_,
    action: 'license_entitlement.set',
    resourceType: 'LICENSE_ENTITLEMENT',
    resourceID: r.link,
    before: { ...link, value: { type: 'number', value: 1000 }, updatedAt: '2026-12-01T10:00:00Z' },
    after: { ...link, value: { type: 'number', value: 2000 }, updatedAt: '2026-12-01T11:00:00Z' },
    licenseVersion: 3,
    requestID: 'req-link-change',
  });
  r.e.otherLink = fake.addEvent({
    ...bot_,
    action: 'license_entitlement.set',
    resourceType: 'LICENSE_ENTITLEMENT',
    resourceID: r.otherLink,
    after: { id: r.otherLink, licenseID: r.other, entitlementID: r.sso, value: { type: 'boolean', value: true } },
    licenseVersion: 2,
  });
  r.e.instUpdated = fake.addEvent({
    ...bot_,
    action: 'instance.updated',
    resourceType: 'INSTANCE',
    resourceID: r.inst,
    resourceSlug: 'eu-production',
    before: { id: r.inst, name: 'EU production', slug: 'eu-production', metadata: { region: 'us' } },
    after: { id: r.inst, name: 'EU production', slug: 'eu-production', metadata: { region: 'eu' } },
  });
  r.e.threshold = fake.addEvent({
    actorType: 'SYSTEM',
    action: 'usage.threshold_crossed',
    resourceType: 'USAGE',
    resourceID: r.inst,
    after: { instanceID: r.inst, entitlementID: r.calls, threshold: 'PERCENT_80', usage: 1620, limit: 2000 },
    requestID: null,
  });
  r.e.policy = fake.addEvent({
    ...bot_,
    action: 'policy.created',
    resourceType: 'POLICY',
    resourceID: r.policy,
    after: { id: r.policy, name: 'cn-only', module, version: 1, active: false },
  });
  r.e.gone = fake.addEvent({
    ...admin,
    action: 'license.deleted',
    resourceType: 'LICENSE',
    resourceID: 'lic_gone',
    resourceSlug: 'old-plan',
    before: { id: 'lic_gone', name: 'Old plan', slug: 'old-plan', type: 'TRIAL' },
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Fails on a request the schema refused or an answer it did not allow. */
function assertSchemaClean() {
  const bad = fake.state.calls.filter((c) => c.schemaError);
  assert.deepEqual(bad, [], 'every faked request fits the schema');
}

async function fakedPage(viewport, opts) {
  const p = await newPage(browser, viewport, opts);
  await fake.install(p.page);
  await signIn(p.page, server.base, r.botKey);
  return p;
}

describe('audit log (fake event log)', () => {
  test('entries: who, when, action, resource link, request id, changed fields and all fields; paging', async () => {
    const { page, context, problems } = await fakedPage(DESKTOP);
    try {
      await nav(page, 'Audit log');
      const list = page.getByRole('list', { name: 'Events, newest first' });
      await list.waitFor();
      // Newest first.
      const first = list.locator(':scope > li').first();
      assert.equal(await first.getAttribute('data-testid'), `audit-${r.e.gone.seq}`);

      const entry = page.getByTestId(`audit-${r.e.linkChanged.seq}`);
      await entry.getByText('license_entitlement.set').waitFor();
      assert.equal(await entry.getByTestId('audit-actor').innerText(), 'API key release-bot');
      await entry.getByText('req-link-change').waitFor();
      await entry.getByText('license version 3').waitFor();
      const res = entry.getByRole('link', { name: 'API calls on Enterprise' });
      assert.equal(await res.getAttribute('href'), '/licenses/enterprise');
      const diff = entry.getByRole('list', { name: `Changes in event ${r.e.linkChanged.seq}` });
      const text = await diff.innerText();
      assert.match(text, /value: 1,000 → 2,000/);
      assert.match(text, /updatedAt: 2026-12-01T10:00:00Z → 2026-12-01T11:00:00Z/);
      assert.doesNotMatch(text, /overagePercent/, 'unchanged fields are hidden by default');
      await entry.getByRole('button', { name: /Show all \d+ fields/ }).click();
      assert.match(await diff.innerText(), /overagePercent: 10/);
      await entry.getByRole('button', { name: 'Show changed fields only' }).click();
      assert.doesNotMatch(await diff.innerText(), /overagePercent/);

      // A creation lists its fields as added; a deleted resource is not linked.
      assert.match(await page.getByTestId(`audit-${r.e.licCreated.seq}`).locator('.diff').innerText(), /Added:\s*name: Enterprise/);
      const gone = page.getByTestId(`audit-${r.e.gone.seq}`);
      await gone.locator('.audit-resource').getByText('Old plan').waitFor();
      await gone.getByText('(deleted)').waitFor();
      assert.equal(await gone.getByRole('link').count(), 0);
      // The system's changes name the system.
      assert.equal(await page.getByTestId(`audit-${r.e.threshold.seq}`).getByTestId('audit-actor').innerText(), 'System');
      await page.getByTestId(`audit-${r.e.threshold.seq}`).getByRole('link', { name: 'EU production' }).waitFor();
      await assertNoCriticalA11y(page, 'audit log');
      await shot(page, 'audit-1280', false);

      // Paging: 50 a page, the rest on request.
      const total = fake.state.events.length;
      await page.getByText(`Showing 50 of ${total}`).waitFor();
      await page.getByRole('button', { name: 'Show older' }).click();
      await page.getByText(`Showing ${total} of ${total}`).waitFor();
      await page.getByTestId('audit-1').waitFor();
      assert.equal(await page.getByRole('button', { name: 'Show older' }).count(), 0);

      // The resource link leads to the license.
      await res.click();
      await page.getByRole('heading', { level: 1, name: 'Enterprise' }).waitFor();
      assert.deepEqual(problems, []);
      assertSchemaClean();
    } finally {
      await context.close();
    }
  });

  test('filters: action, resource type, actor, time range, resource id; they live in the address', async () => {
    const { page, context, problems } = await fakedPage(DESKTOP);
    try {
      await nav(page, 'Audit log');
      const list = page.getByRole('list', { name: 'Events, newest first' });
      const seqs = async () =>
        (await list.locator(':scope > li').evaluateAll((els) => els.map((e) => e.dataset.testid))).map((t) => Number(t.slice(6)));
      const lastWhere = () => fake.state.calls.filter((c) => c.fields.includes('auditEvents')).at(-1).variables.where;

      await page.getByLabel('Action').selectOption('license_entitlement.set');
      await page.getByText('Showing 3 of 3').waitFor();
      assert.deepEqual(await seqs(), [r.e.otherLink.seq, r.e.linkChanged.seq, r.e.linkSet.seq]);
      assert.equal(lastWhere().action, 'license_entitlement.set');
      assert.match(page.url(), /action=license_entitlement.set/);

      await page.getByLabel('Action').selectOption('license.*');
      await page.getByText('Showing 2 of 2').waitFor();
      assert.equal(lastWhere().actionHasPrefix, 'license.');
      await page.getByRole('button', { name: 'Clear filters' }).first().click();
      await page.getByText(`Showing 50 of ${fake.state.events.length}`).waitFor();

      await page.getByLabel('Resource type').selectOption('INSTANCE');
      await page.getByText('Showing 1 of 1').waitFor();
      assert.deepEqual(await seqs(), [r.e.instUpdated.seq]);
      await page.getByLabel('Resource type').selectOption('');

      await page.getByLabel('Actor').selectOption('SYSTEM');
      await page.getByText('Showing 1 of 1').waitFor();
      assert.deepEqual(await seqs(), [r.e.threshold.seq]);
      // The organization's keys can be picked (ADMIN lists them).
      await page.getByLabel('Actor').selectOption({ label: 'API key release-bot' });
      await page.getByText('Showing 4 of 4').waitFor();
      assert.equal(lastWhere().actorID, r.botID);
      await page.getByLabel('Actor').selectOption('');
      // Clicking an entry's actor filters by it.
      await page.getByTestId(`audit-${r.e.licCreated.seq}`).getByRole('button', { name: `API key ${r.adminName}` }).click();
      await page.getByText('Showing 50 of 59').waitFor();
      assert.equal(lastWhere().actorID, r.adminID);
      await page.getByLabel('Actor').selectOption('');

      // Search by resource id (or slug).
      await page.getByRole('searchbox', { name: 'Resource' }).fill(r.link);
      await page.getByText('Showing 2 of 2').waitFor();
      assert.deepEqual(await seqs(), [r.e.linkChanged.seq, r.e.linkSet.seq]);
      await page.getByRole('searchbox', { name: 'Resource' }).fill('old-pl');
      await page.getByText('Showing 1 of 1').waitFor();
      assert.deepEqual(await seqs(), [r.e.gone.seq]);
      await page.getByRole('searchbox', { name: 'Resource' }).fill('');

      // A time range: nothing from next year on; everything since an old date.
      const next = new Date();
      next.setFullYear(next.getFullYear() + 1);
      const local = (d) => {
        const p = (n) => String(n).padStart(2, '0');
        return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
      };
      await page.getByLabel('From').fill(local(next));
      await page.getByText('No event matches these filters.').waitFor();
      assert.ok(lastWhere().occurredAtGTE, 'the range goes to the server');
      await page.getByLabel('From').fill('');
      await page.getByLabel('Until').fill(local(new Date(fake.state.events[0].occurredAt)));
      await page.getByText('No event matches these filters.').waitFor();
      assert.ok(lastWhere().occurredAtLT);

      // The filters are in the address: a reload keeps them.
      await page.getByLabel('Until').fill('');
      await page.getByLabel('Resource type').selectOption('POLICY');
      await page.getByText('Showing 1 of 1').waitFor();
      await page.reload();
      await page.getByText('Showing 1 of 1').waitFor();
      assert.equal(await page.getByLabel('Resource type').inputValue(), 'POLICY');
      // A policy's module is long: shown in a block on request.
      const entry = page.getByTestId(`audit-${r.e.policy.seq}`);
      await entry.getByText(/module: set \(\d+ characters\)/).click();
      await entry.getByText('not offered in CN').waitFor();
      await entry.getByRole('link', { name: 'cn-only' }).waitFor();
      assert.deepEqual(problems, []);
      assertSchemaClean();
    } finally {
      await context.close();
    }
  });

  test('verify chain: valid with its facts; a broken chain names its first broken event and shows it', async () => {
    const { page, context, problems } = await fakedPage(DESKTOP);
    try {
      await nav(page, 'Audit log');
      await page.getByRole('button', { name: 'Verify chain' }).click();
      const box = page.getByTestId('chain-verification');
      await box.getByText('The chain is intact.').waitFor();
      const n = fake.state.events.length;
      const facts = await box.innerText();
      assert.match(facts, new RegExp(`Events checked\\s+${n}`));
      assert.match(facts, new RegExp(`Head\\s+#${n}`));
      assert.match(facts, new RegExp(fake.state.events.at(-1).hash));

      fake.state.chain = { valid: false, firstBrokenSeq: r.e.linkChanged.seq };
      await page.getByRole('button', { name: 'Verify chain' }).click();
      await box.getByText(`The chain is broken at event #${r.e.linkChanged.seq}.`).waitFor();
      assert.match(await box.innerText(), new RegExp(`First broken\\s+#${r.e.linkChanged.seq}`));
      await shot(page, 'audit-chain-broken-1280', false);
      await box.getByRole('button', { name: `Show event #${r.e.linkChanged.seq}` }).click();
      await page.getByText(`Showing event #${r.e.linkChanged.seq} only.`).waitFor();
      await page.getByText('Showing 1 of 1').waitFor();
      await page.getByTestId(`audit-${r.e.linkChanged.seq}`).waitFor();
      fake.state.chain = { valid: true, firstBrokenSeq: null };
      assert.deepEqual(problems, []);
      assertSchemaClean();
    } finally {
      await context.close();
    }
  });

  test('narrow viewport (390 px): the log and its filters fit', async () => {
    const { page, context, problems } = await fakedPage(NARROW);
    try {
      await nav(page, 'Audit log');
      await page.getByTestId(`audit-${r.e.linkChanged.seq}`).getByText('value: 1,000 → 2,000').waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
      await shot(page, 'audit-390', false);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});

describe('History panels (fake event log)', () => {
  test('license: its own and its links’ events, not other licenses’; versions name who made them', async () => {
    const { page, context, problems } = await fakedPage(DESKTOP);
    try {
      await page.goto(server.base + '/licenses/enterprise');
      const history = page.getByRole('list', { name: 'History, newest first' });
      await history.waitFor();
      const seqs = await history.locator(':scope > li').evaluateAll((els) => els.map((e) => Number(e.dataset.testid.slice(6))));
      assert.deepEqual(seqs, [r.e.linkChanged.seq, r.e.linkSet.seq, r.e.licCreated.seq]);
      const change = page.getByTestId(`audit-${r.e.linkChanged.seq}`);
      assert.equal(await change.getByTestId('audit-actor').innerText(), 'API key release-bot');
      await change.getByText('value: 1,000 → 2,000').waitFor();
      // Who made each version, from the events that carry it.
      assert.equal(await page.getByTestId('version-3-author').innerText(), 'by API key release-bot');
      assert.equal(await page.getByTestId('version-2-author').innerText(), `by API key ${r.adminName}`);
      assert.equal(await page.getByTestId('version-1-author').innerText(), `by API key ${r.adminName}`);
      await assertNoCriticalA11y(page, 'license detail with history');
      await shot(page, 'license-history-1280');
      await page.getByRole('link', { name: 'Open in audit log' }).click();
      await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
      assert.equal(await page.getByRole('searchbox', { name: 'Resource' }).inputValue(), r.lic);
      await page.getByTestId(`audit-${r.e.licCreated.seq}`).waitFor();
      assert.deepEqual(problems, []);
      assertSchemaClean();
    } finally {
      await context.close();
    }
  });

  test('entitlement, instance and policy pages have their History', async () => {
    const { page, context, problems } = await fakedPage(DESKTOP);
    try {
      const historyOf = async () => {
        const h = page.getByRole('list', { name: 'History, newest first' });
        await h.waitFor();
        return h.locator(':scope > li').evaluateAll((els) => els.map((e) => Number(e.dataset.testid.slice(6))));
      };
      await nav(page, 'Entitlements');
      await page.getByRole('link', { name: 'API calls' }).click();
      await page.getByRole('heading', { level: 1, name: 'API calls' }).waitFor();
      assert.deepEqual(await historyOf(), [r.e.entCreated.seq]);
      await page.getByRole('link', { name: 'Enterprise' }).waitFor(); // granted by
      await assertNoCriticalA11y(page, 'entitlement detail');

      await page.goto(server.base + '/instances/eu-production');
      await page.getByRole('heading', { level: 1, name: 'EU production' }).waitFor();
      assert.deepEqual(await historyOf(), [r.e.threshold.seq, r.e.instUpdated.seq]);
      await page.getByTestId(`audit-${r.e.instUpdated.seq}`).getByText('metadata: {"region": "us"} → {"region": "eu"}').waitFor();

      await page.goto(server.base + `/policies/${r.policy}`);
      await page.getByRole('heading', { level: 1, name: 'cn-only' }).waitFor();
      assert.deepEqual(await historyOf(), [r.e.policy.seq]);
      assert.deepEqual(problems, []);
      assertSchemaClean();
    } finally {
      await context.close();
    }
  });
});

describe('webhooks (fake webhooks API)', () => {
  test('create (the secret shown once, copied), send a test, see it delivered, details, retry, replay, rotate, edit, delete', async () => {
    const { page, context, problems } = await fakedPage(DESKTOP, { permissions: ['clipboard-read', 'clipboard-write'] });
    try {
      await nav(page, 'Webhooks');
      await page.getByText('No webhook endpoints yet.').waitFor();
      await assertNoCriticalA11y(page, 'webhooks (empty)');

      await page.getByRole('button', { name: 'New endpoint' }).click();
      let dialog = page.getByRole('dialog', { name: 'New webhook endpoint' });
      await dialog.getByLabel('URL').fill('hooks.example.test/ok');
      await dialog.getByRole('button', { name: 'Create endpoint' }).click();
      await dialog.locator('.field-error').getByText(/starting with https:\/\//).waitFor();
      await dialog.getByLabel('URL').fill('https://hooks.example.test/ok');
      await dialog.getByLabel('Description').fill('CRM sync');
      await dialog.getByRole('group', { name: 'Add event types' }).getByRole('button', { name: '+ license.*' }).click();
      await dialog.getByRole('group', { name: 'Add event types' }).getByRole('button', { name: '+ usage.*' }).click();
      assert.equal(await dialog.getByRole('textbox', { name: /^Event types/ }).inputValue(), 'license.*, usage.*');
      await dialog.getByRole('button', { name: 'Create endpoint' }).click();

      // The secret, once, with a warning and a copy button.
      dialog = page.getByRole('dialog', { name: 'Endpoint created: its signing secret' });
      await dialog.getByText('Copy this secret now: it will not be shown again.').waitFor();
      const secret = await dialog.getByLabel('Signing secret').inputValue();
      assert.equal(secret, fake.state.secrets.at(-1));
      assert.match(secret, /^whsec_/);
      await assertNoCriticalA11y(page, 'webhook secret dialog');
      await shot(page, 'webhook-secret-1280', false);
      await dialog.getByRole('button', { name: 'Copy' }).click();
      await dialog.getByText('Copied to the clipboard.').waitFor();
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
      await dialog.getByRole('button', { name: 'I have stored the secret' }).click();
      await dialog.waitFor({ state: 'detached' });

      // The endpoint's page; the secret is nowhere, not even after a reload.
      await page.getByRole('heading', { level: 1, name: 'https://hooks.example.test/ok' }).waitFor();
      assert.ok(!(await page.content()).includes(secret), 'the secret is gone once the dialog closed');
      await page.reload();
      await page.getByRole('heading', { level: 1, name: 'https://hooks.example.test/ok' }).waitFor();
      assert.ok(!(await page.content()).includes(secret));
      await page.getByText('No deliveries yet').waitFor();

      // Send a test: it is queued, then delivered (the page follows it).
      await page.getByRole('button', { name: 'Send test' }).click();
      const row = page.getByTestId('webhook-delivery').filter({ hasText: 'webhook.test' });
      await row.and(page.locator('[data-status="SUCCEEDED"]')).waitFor();
      await row.getByText('HTTP 200', { exact: true }).waitFor();
      await page.getByTestId('endpoint-health').first().getByText('Healthy').waitFor();
      await assertNoCriticalA11y(page, 'webhook endpoint');
      await shot(page, 'webhook-endpoint-1280');

      // Details: the request body as sent and the answer's excerpt.
      await row.getByRole('button', { name: /^Details of webhook.test/ }).click();
      dialog = page.getByRole('dialog', { name: 'Delivery of webhook.test' });
      await dialog.getByTestId('delivery-request').getByText(/"type": "webhook.test"/).waitFor();
      assert.equal(await dialog.getByTestId('delivery-response').innerText(), '{"ok":true}');
      const eventID = fake.state.deliveries[0].eventID;
      await dialog.getByText(eventID, { exact: true }).waitFor();
      await assertNoCriticalA11y(page, 'delivery detail');
      await dialog.getByRole('button', { name: 'Close' }).click();

      // Retry one delivery.
      await row.getByRole('button', { name: /^Retry webhook.test/ }).click();
      await page.getByText('Sending webhook.test again, with the same webhook-id.').waitFor();
      assert.ok(fake.state.calls.some((c) => c.fields.includes('retryWebhookDelivery')));
      await row.and(page.locator('[data-status="SUCCEEDED"]')).waitFor();
      assert.equal(await row.getByTestId('delivery-attempts').innerText(), '2');

      // Replay a time range: every event of the range, queued again.
      await page.getByRole('button', { name: 'Replay…' }).click();
      dialog = page.getByRole('dialog', { name: 'Replay events' });
      await dialog.getByLabel('From').fill('2000-01-01T00:00');
      await dialog.getByRole('button', { name: 'Replay', exact: true }).click();
      await page.getByText(`Queued ${fake.state.events.length} event(s) again, with their original ids.`).waitFor();
      const replay = fake.state.calls.filter((c) => c.fields.includes('replayWebhookEvents')).at(-1);
      assert.equal(replay.variables.since, new Date('2000-01-01T00:00').toISOString());

      // Rotate: a new secret, shown once.
      await page.getByRole('button', { name: 'Rotate secret' }).click();
      await page.getByRole('dialog', { name: 'Rotate the signing secret?' }).getByRole('button', { name: 'Rotate secret' }).click();
      dialog = page.getByRole('dialog', { name: 'The new signing secret' });
      const rotated = await dialog.getByLabel('Signing secret').inputValue();
      assert.notEqual(rotated, secret);
      assert.equal(rotated, fake.state.secrets.at(-1));
      await dialog.getByText('The previous secret stays valid for 24 hours.').waitFor();
      await dialog.getByRole('button', { name: 'I have stored the secret' }).click();
      await dialog.waitFor({ state: 'detached' });
      assert.ok(!(await page.content()).includes(rotated));

      // Edit: the event filter and the description; disable, enable.
      await page.getByRole('button', { name: 'Edit', exact: true }).click();
      dialog = page.getByRole('dialog', { name: 'Edit endpoint' });
      await dialog.getByRole('textbox', { name: /^Event types/ }).fill('license_entitlement.set');
      await dialog.getByLabel('Description').fill('');
      await dialog.getByRole('button', { name: 'Save changes' }).click();
      await page.getByText('Endpoint saved.').waitFor();
      const ep = fake.state.endpoints[0];
      assert.deepEqual(ep.eventTypes, ['license_entitlement.set']);
      assert.equal(ep.description, null);
      await page.getByRole('button', { name: 'Disable' }).click();
      await page.getByRole('dialog', { name: 'Disable this endpoint?' }).getByRole('button', { name: 'Disable' }).click();
      await page.getByText('This endpoint is disabled: it receives nothing.').waitFor();
      assert.equal(await page.getByRole('button', { name: 'Send test' }).isDisabled(), true);
      await page.getByRole('button', { name: 'Enable', exact: true }).click();
      await page.getByText('Endpoint enabled.').waitFor();

      // The list shows the endpoint with its filter and health.
      await nav(page, 'Webhooks');
      const listed = page.getByTestId('webhook-endpoint').filter({ hasText: 'https://hooks.example.test/ok' });
      await listed.getByText('license_entitlement.set').waitFor();
      await listed.getByText('Enabled').waitFor();
      await listed.getByText('Healthy').waitFor();
      await assertNoCriticalA11y(page, 'webhooks');

      // Delete asks first.
      await listed.getByRole('link').click();
      await page.getByRole('button', { name: 'Delete', exact: true }).click();
      await page.getByRole('dialog', { name: 'Delete this endpoint?' }).getByRole('button', { name: 'Delete endpoint' }).click();
      await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
      await page.getByText('No webhook endpoints yet.').waitFor();
      assert.deepEqual(problems, []);
      assertSchemaClean();
    } finally {
      await context.close();
    }
  });

  test('a failing receiver: the delivery fails, is retried on schedule, and the page follows it to success', async () => {
    const { page, context, problems } = await fakedPage(DESKTOP);
    try {
      await nav(page, 'Webhooks');
      await page.getByRole('button', { name: 'New endpoint' }).click();
      const dialog = page.getByRole('dialog', { name: 'New webhook endpoint' });
      await dialog.getByLabel('URL').fill('https://hooks.example.test/fail-twice');
      await dialog.getByRole('button', { name: 'Create endpoint' }).click();
      await page.getByRole('button', { name: 'I have stored the secret' }).click();
      await page.getByRole('heading', { level: 1, name: 'https://hooks.example.test/fail-twice' }).waitFor();
      await page.getByRole('button', { name: 'Send test' }).click();
      const row = page.getByTestId('webhook-delivery').filter({ hasText: 'webhook.test' });
      await row.and(page.locator('[data-status="FAILED"]')).waitFor();
      await row.getByText('HTTP 500', { exact: true }).waitFor();
      await row.getByText('HTTP_STATUS').waitFor();
      await page.getByTestId('endpoint-health').getByText(/failures? in a row/).waitFor();
      await shot(page, 'webhook-failing-1280');
      await row.and(page.locator('[data-status="SUCCEEDED"]')).waitFor();
      assert.equal(await row.getByTestId('delivery-attempts').innerText(), '3');
      await page.getByLabel('Status').selectOption('FAILED');
      await page.getByText('No delivery is failed.').waitFor();
      await page.getByLabel('Status').selectOption('SUCCEEDED');
      await row.waitFor();
      const where = fake.state.calls.filter((c) => c.fields.includes('webhookDeliveries')).at(-1).variables.where;
      assert.deepEqual(where, { status: 'SUCCEEDED' });
      await page.setViewportSize(NARROW);
      await shot(page, 'webhook-endpoint-390');
      assert.deepEqual(problems, []);
      assertSchemaClean();
    } finally {
      await context.close();
    }
  });
});
