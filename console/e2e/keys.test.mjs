// The pages of issues 15 and 18 against the real server: an instance's
// license file issued and downloaded from its page and listed there, the
// signing keys rotated on the Settings page, API keys created, used and
// revoked on the API keys page, decisions checked with requested and
// context and explained, and searching the lists.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { axe, gql, launchBrowser, startServer } from './harness.mjs';
import { DESKTOP, NARROW, nav, newPage, shot, signIn } from './helpers.mjs';

let server;
let browser;

const q = (query, variables, key = server.adminKey) => gql(server.base, key, query, variables);

before(async () => {
  server = await startServer({ log: 'server-keys.log' });
  browser = await launchBrowser();
  const lic = (await q(`mutation { createLicense(input: {name: "Offline", slug: "offline", type: PAID}) { id } }`)).createLicense.id;
  await q(`mutation($l: ID!) { createInstance(input: {name: "Air-gapped plant", slug: "air-gapped", licenseID: $l}) { id } }`, { l: lic });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Fails on critical or serious axe violations. */
async function assertA11y(page, name) {
  const violations = await axe(page);
  for (const v of violations) console.log(`  axe ${name}: ${v.impact} ${v.id}: ${v.help} [${v.nodes.join(', ')}]`);
  const bad = violations.filter((v) => v.impact === 'critical' || v.impact === 'serious');
  assert.deepEqual(bad, [], `critical or serious accessibility violations on ${name}`);
}

describe('license files and signing keys', () => {
  test('issue a license file from the instance page, see it listed, rotate the signing key', async () => {
    const { page, context, problems } = await newPage(browser, DESKTOP);
    try {
      await signIn(page, server.base, server.adminKey);
      await page.goto(server.base + '/instances/air-gapped');
      await page.getByRole('heading', { level: 1, name: 'Air-gapped plant' }).waitFor();
      await page.getByText('No license file has been issued for this instance yet.').waitFor();

      await page.getByRole('button', { name: 'Download license file' }).click();
      const dialog = page.getByRole('dialog', { name: 'Download license file' });
      await dialog.getByLabel('Valid for').selectOption({ label: '7 days' });
      await dialog.getByRole('switch', { name: 'Include policies' }).check();
      await assertA11y(page, 'license file dialog');
      const [download] = await Promise.all([page.waitForEvent('download'), dialog.getByRole('button', { name: 'Issue and download' }).click()]);
      assert.equal(download.suggestedFilename(), 'air-gapped.lic');
      const text = readFileSync(await download.path(), 'utf8');
      assert.match(text, /^-----BEGIN ENTITLED LICENSE FILE-----\n[\s\S]+\n-----END ENTITLED LICENSE FILE-----\n?$/);
      await dialog.waitFor({ state: 'detached' });
      await page.getByText(/License file issued, valid until .*, and downloaded as air-gapped\.lic\./).waitFor();

      // The file is listed with who issued it, its key and its expiry (7 days on).
      const files = (await q(`{ instances(where: {slug: "air-gapped"}) { edges { node { licenseFiles { id kid expiresAt } } } } }`)).instances.edges[0].node
        .licenseFiles;
      assert.equal(files.length, 1);
      const envelope = JSON.parse(Buffer.from(text.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64').toString('utf8'));
      assert.equal(envelope.kid, files[0].kid, 'the downloaded file is the one listed');
      const row = page.getByTestId(`license-file-${files[0].id}`);
      await row.getByText('initial admin key').waitFor();
      await row.getByText('with policies').waitFor();
      assert.equal(await row.locator(`[title="${files[0].kid}"]`).count(), 1, 'the key id is on hover');
      const days = (new Date(files[0].expiresAt) - Date.now()) / 86_400_000;
      assert.ok(days > 6.9 && days <= 7, `expires in 7 days, not ${days}`);
      await assertA11y(page, 'instance with license files');
      await shot(page, 'instance-license-files-1280');

      // Settings: the key made for that file is current; rotating retires it.
      await nav(page, 'Settings');
      const keys = page.getByTestId('signing-keys');
      await keys.getByText(files[0].kid).waitFor();
      assert.equal(await page.getByTestId('signing-key-current').count(), 1);
      await page.getByRole('button', { name: 'Rotate signing key' }).click();
      const confirm = page.getByRole('dialog', { name: 'Rotate the signing key?' });
      await confirm.getByRole('button', { name: 'Rotate signing key' }).click();
      await confirm.waitFor({ state: 'detached' });
      await page.getByTestId('signing-key-retired').getByText(files[0].kid).waitFor();
      assert.equal(await page.getByTestId('signing-key-current').count(), 1);
      assert.equal(await page.getByTestId('signing-key-retired').count(), 1);
      await page.getByTestId('signing-key-current').getByText('Current').waitFor();
      await page.getByTestId('signing-key-retired').getByText('Retired').waitFor();
      const jwks = await (await fetch(`${server.base}/v1/orgs/default/jwks.json`)).json();
      assert.equal(jwks.keys.length, 2, 'both keys verify');
      await assertA11y(page, 'settings');
      await shot(page, 'settings-1280');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('the instance and settings pages at 390 px', async () => {
    const { page, context, problems } = await newPage(browser, NARROW);
    try {
      await signIn(page, server.base, server.adminKey);
      await page.goto(server.base + '/instances/air-gapped');
      await page.getByTestId('license-files').waitFor();
      await shot(page, 'instance-license-files-390');
      await nav(page, 'Settings');
      await page.getByTestId('signing-key-retired').waitFor();
      await assertA11y(page, 'settings @390');
      await shot(page, 'settings-390');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `no horizontal scroll at 390 px (overflow ${overflow}px)`);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});

describe('API keys', () => {
  test('create a READ key, see its secret once, sign in with it (mutations hidden), revoke it (sign-in refused)', async () => {
    const admin = await newPage(browser, DESKTOP);
    const { page } = admin;
    let secret;
    try {
      await signIn(page, server.base, server.adminKey);
      await nav(page, 'API keys');
      await page.getByTestId(/^api-key-etk_/).first().waitFor();
      assert.equal(await page.getByText('This console signed in with it.').count(), 1);

      await page.getByRole('button', { name: 'New API key' }).click();
      const dialog = page.getByRole('dialog', { name: 'New API key' });
      await dialog.getByRole('button', { name: 'Create key' }).click();
      await dialog.getByText('Name the key after the service or person that uses it.').waitFor();
      await dialog.getByLabel('Name', { exact: true }).fill('Support desk');
      // READ is preselected; ADMIN and CHECK are not.
      assert.equal(await dialog.getByRole('checkbox', { name: /^READ/ }).isChecked(), true);
      assert.equal(await dialog.getByRole('checkbox', { name: /^ADMIN/ }).isChecked(), false);
      assert.equal(await dialog.getByRole('checkbox', { name: /^CHECK/ }).isChecked(), false);
      await assertA11y(page, 'new API key dialog');
      await shot(page, 'api-key-new-1280', false);
      await dialog.getByRole('button', { name: 'Create key' }).click();
      const shown = page.getByRole('dialog', { name: 'API key Support desk created' });
      await shown.getByText('Copy this secret now: it will not be shown again.').waitFor();
      secret = await shown.getByTestId('api-key-secret').inputValue();
      assert.match(secret, /^etk_[a-z0-9]+$/);
      await shown.getByText('Scopes: READ; never expires.').waitFor();
      await assertA11y(page, 'API key secret');
      await shot(page, 'api-key-secret-1280', false);
      await shown.getByRole('button', { name: 'I have stored the secret' }).click();
      await shown.waitFor({ state: 'detached' });
      const row = page.getByTestId(`api-key-${secret.slice(0, 10)}`);
      await row.getByText('Support desk').waitFor();
      await row.getByText('READ', { exact: true }).waitFor();
      assert.equal(await row.getByTestId('last-used').innerText(), 'Never');
      // Shown once: nowhere on the page any more, nor after a reload.
      await page.reload();
      await row.waitFor();
      assert.equal((await page.content()).includes(secret), false, 'the secret is not on the page after it was shown');

      // Signed in with the READ key: browsing works, changes are hidden.
      const reader = await newPage(browser, DESKTOP);
      try {
        await signIn(reader.page, server.base, secret);
        await reader.page.getByText('Read-only: changes are hidden.').waitFor();
        assert.equal(await reader.page.getByRole('button', { name: 'New license' }).count(), 0);
        await reader.page.goto(server.base + '/instances/air-gapped');
        await reader.page.getByRole('heading', { level: 1, name: 'Air-gapped plant' }).waitFor();
        for (const name of ['Edit', 'Delete', 'Download license file']) {
          assert.equal(await reader.page.getByRole('button', { name }).count(), 0, `${name} is hidden from a READ key`);
        }
        const links = await reader.page.getByRole('navigation', { name: 'Primary' }).getByRole('link').allInnerTexts();
        assert.equal(links.includes('API keys'), false, 'a READ key does not see the API keys page');
        assert.deepEqual(reader.problems, []);
      } finally {
        await reader.context.close();
      }

      // Its use shows up (to the minute) once the server recorded it.
      for (let i = 0; ; i++) {
        await page.getByRole('button', { name: 'Refresh' }).click();
        if ((await row.getByTestId('last-used').innerText()) !== 'Never') break;
        if (i > 50) throw new Error('the READ key\'s last use never showed');
        await new Promise((r) => setTimeout(r, 200));
      }
      await shot(page, 'api-keys-1280');
      await assertA11y(page, 'API keys');

      // Revoke, with confirmation.
      await row.getByRole('button', { name: 'Revoke Support desk' }).click();
      const confirm = page.getByRole('dialog', { name: 'Revoke Support desk?' });
      await confirm.getByRole('button', { name: 'Revoke key' }).click();
      await confirm.waitFor({ state: 'detached' });
      await row.getByText('Revoked', { exact: true }).waitFor();
      assert.equal(await row.getByRole('button', { name: 'Revoke Support desk' }).count(), 0);

      const refused = await newPage(browser, DESKTOP);
      try {
        await refused.page.goto(server.base + '/');
        await refused.page.getByLabel('API key').fill(secret);
        await refused.page.getByRole('button', { name: 'Sign in' }).click();
        await refused.page.getByText(/The server does not accept this key \(API key "Support desk" has been revoked\)/).waitFor();
        assert.equal(await refused.page.getByRole('heading', { level: 1, name: 'Licenses' }).count(), 0);
      } finally {
        await refused.context.close();
      }
      assert.deepEqual(admin.problems, []);
    } finally {
      await admin.context.close();
    }
  });

  test('the API keys page at 390 px', async () => {
    const { page, context, problems } = await newPage(browser, NARROW);
    try {
      await signIn(page, server.base, server.adminKey);
      await nav(page, 'API keys');
      await page.getByText('Support desk').waitFor();
      await assertA11y(page, 'API keys @390');
      await shot(page, 'api-keys-390');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `no horizontal scroll at 390 px (overflow ${overflow}px)`);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});

describe('check decisions', () => {
  before(async () => {
    const ents = await q(`mutation {
      a: createEntitlement(input: {name: "API calls", slug: "api-calls", type: NUMBER, resetPeriod: MONTH}) { id }
      b: createEntitlement(input: {name: "SSO", slug: "sso", type: BOOLEAN}) { id } }`);
    const lic = (await q(`mutation { createLicense(input: {name: "Checked", slug: "checked", type: PAID}) { id } }`)).createLicense.id;
    await q(`mutation($l: ID!, $a: ID!, $b: ID!) {
      a: setLicenseEntitlement(input: {licenseID: $l, entitlementID: $a, value: {type: "number", value: 10}}) { id }
      b: setLicenseEntitlement(input: {licenseID: $l, entitlementID: $b, value: {type: "boolean", value: true}}) { id } }`, {
      l: lic,
      a: ents.a.id,
      b: ents.b.id,
    });
    // Started a year ago, so usage of past periods can be reported for it.
    const startsAt = new Date(Date.now() - 366 * 86_400_000).toISOString();
    await q(`mutation($l: ID!, $s: Time!) { createInstance(input: {name: "Checker", slug: "checker", licenseID: $l, startsAt: $s}) { id } }`, {
      l: lic,
      s: startsAt,
    });
    await q(`mutation($m: String!) { createPolicy(input: {name: "region", module: $m, active: true}) { id } }`, {
      m: 'package entitled.custom.region\n\ndeny contains msg if {\n\tinput.entitlement.slug == "sso"\n\tinput.request.context.region == "eu"\n\tmsg := "SSO is not offered in the EU region"\n}\n',
    });
    // The server decides with the new policy before the pages ask (compiling it may take a while on a busy machine).
    for (let i = 0; ; i++) {
      const d = await q(`{ allowed(instance: "checker", entitlement: "sso", context: {region: "eu"}) { reason } }`);
      if (d.allowed.reason === 'DENIED_BY_POLICY') break;
      if (i > 100) throw new Error(`the region policy never applied: ${d.allowed.reason}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  for (const viewport of [DESKTOP, NARROW]) {
    test(`requested, context, the explanation and an unknown instance (${viewport.width} px)`, async () => {
      const { page, context, problems } = await newPage(browser, viewport);
      try {
        await signIn(page, server.base, server.adminKey);
        await nav(page, 'Check decisions');
        await page.getByLabel('Instance slug').fill('checker');
        await page.getByRole('button', { name: 'Check', exact: true }).click();
        await page.getByTestId('decision-api-calls').getByText('Allowed', { exact: true }).waitFor({ timeout: 30_000 });
        await page.getByTestId('decision-sso').getByText('Allowed', { exact: true }).waitFor();

        // One entitlement, asking for more than the limit.
        await page.getByLabel('Entitlement slug').fill('api-calls');
        await page.getByLabel('Requested').fill('11');
        await page.getByRole('button', { name: 'Check', exact: true }).click();
        await page.getByTestId('decision-api-calls').getByText('LIMIT_EXCEEDED').waitFor();
        assert.equal(await page.getByTestId('decision-sso').count(), 0, 'only the entitlement asked');

        // Context: bad JSON is refused in place; good JSON reaches the policy.
        await page.getByLabel('Entitlement slug').fill('');
        await page.getByLabel('Requested').fill('');
        await page.getByLabel('Context (JSON)').fill('{"region": "eu"');
        await page.getByRole('button', { name: 'Check', exact: true }).click();
        await page.getByText(/^Invalid JSON/).waitFor();
        await page.getByLabel('Context (JSON)').fill('{"region": "eu"}');
        await page.getByRole('button', { name: 'Check', exact: true }).click();
        const sso = page.getByTestId('decision-sso');
        await sso.getByText('DENIED_BY_POLICY').waitFor();
        await sso.getByText('SSO is not offered in the EU region').waitFor();
        await page.getByTestId('decision-api-calls').getByText('Allowed', { exact: true }).waitFor();

        // Why? The rule that denied, with its file and row.
        await sso.getByRole('button', { name: 'Why? sso' }).click();
        const why = page.getByTestId('explanation');
        await why.getByText('data.entitled.custom.region.deny').first().waitFor();
        await why.getByText(/region\.rego:\d+:\d+/).first().waitFor();
        await assertA11y(page, `check @${viewport.width}`);
        await shot(page, `check-${viewport.width}`);

        // An unknown instance says so.
        await page.getByLabel('Instance slug').fill('no-such-box');
        await page.getByLabel('Context (JSON)').fill('');
        await page.getByRole('button', { name: 'Check', exact: true }).click();
        await page.getByText('No instance with slug "no-such-box".').waitFor();
        assert.deepEqual(problems, []);
      } finally {
        await context.close();
      }
    });
  }
});

describe('search', () => {
  test('licenses, entitlements and policies can be searched; a granted entitlement cannot be deleted, and says why', async () => {
    const { page, context, problems } = await newPage(browser, DESKTOP);
    try {
      await signIn(page, server.base, server.adminKey);
      await page.getByRole('link', { name: 'Offline' }).waitFor();
      await page.getByLabel('Search', { exact: true }).fill('check');
      await page.getByRole('link', { name: 'Checked' }).waitFor();
      await page.getByRole('link', { name: 'Offline' }).waitFor({ state: 'detached' });
      assert.match(page.url(), /\?q=check$/);
      await page.getByLabel('Search', { exact: true }).fill('nothing-like-this');
      await page.getByText('No license matches "nothing-like-this" with these filters.').waitFor();
      await shot(page, 'licenses-search-1280');

      await nav(page, 'Entitlements');
      await page.getByLabel('Search', { exact: true }).fill('SSO');
      await page.getByTestId('entitlement-sso').waitFor();
      await page.getByTestId('entitlement-api-calls').waitFor({ state: 'detached' });
      const del = page.getByTestId('entitlement-sso').getByRole('button', { name: 'Delete SSO' });
      assert.equal(await del.isDisabled(), true, 'a granted entitlement cannot be deleted');
      await page.getByTestId('entitlement-sso').getByText('Cannot delete: 1 license grants it. Remove it from that license first.').waitFor();
      await page.getByTestId('entitlement-sso').getByRole('link', { name: 'Checked' }).waitFor();
      await assertA11y(page, 'entitlements search');

      await nav(page, 'Policies');
      await page.getByTestId('policy-region').waitFor();
      await page.getByLabel('Search', { exact: true }).fill('nope');
      await page.getByText('No policy matches "nope".').waitFor();
      await page.getByRole('button', { name: 'Clear search' }).click();
      await page.getByTestId('policy-region').waitFor();
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});

describe('usage over time', () => {
  test('three past periods reported through the API show in the chart and the table', async () => {
    const now = new Date();
    const past = [1, 2, 3].map((m) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - m, 2, 12)).toISOString());
    const values = [7, 5, 3];
    for (let i = 0; i < 3; i++) {
      await q(`mutation($in: ReportUsageInput!) { reportUsage(input: $in) { usage { value } } }`, {
        in: { instance: 'checker', entitlement: 'api-calls', value: values[i], timestamp: past[i], idempotencyKey: `past-${i}` },
      });
    }
    for (const viewport of [DESKTOP, NARROW]) {
      const { page, context, problems } = await newPage(browser, viewport);
      try {
        await signIn(page, server.base, server.adminKey);
        await page.goto(server.base + '/instances/checker');
        const history = page.getByTestId('usage-history-api-calls');
        await history.waitFor();
        assert.ok((await history.locator('canvas').count()) >= 1, 'the chart is drawn');
        const table = history.getByRole('table');
        for (let i = 0; i < 3; i++) {
          const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - (i + 1), 1));
          const row = table.getByRole('row').filter({ has: page.locator(`time[datetime^="${start.toISOString().slice(0, 10)}"]`) });
          await row.getByText(String(values[i]), { exact: true }).first().waitFor();
          await row.getByText('10', { exact: true }).first().waitFor();
        }
        if (viewport === DESKTOP) {
          // The ledger as CSV: a header and the three reports, oldest first.
          const [download] = await Promise.all([page.waitForEvent('download'), history.getByRole('button', { name: 'Export CSV' }).click()]);
          assert.match(download.suggestedFilename(), /^checker-api-calls-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv$/);
          const lines = readFileSync(await download.path(), 'utf8').trimEnd().split('\r\n');
          assert.equal(lines[0], 'timestamp,recordedAt,kind,value,aggregate,periodStart,idempotencyKey');
          const rows = lines.slice(1).map((l) => l.split(','));
          assert.deepEqual(
            rows.map((r) => [r[2], r[3], r[6]]),
            [
              ['REPORT', '3', 'past-2'],
              ['REPORT', '5', 'past-1'],
              ['REPORT', '7', 'past-0'],
            ],
          );
          assert.deepEqual(rows.map((r) => new Date(r[0]).toISOString()), [past[2], past[1], past[0]]);
          await history.getByText('Exported 3 ledger entries as').waitFor();
        }
        await assertA11y(page, `usage history @${viewport.width}`);
        await shot(page, `instance-usage-history-${viewport.width}`);
        assert.deepEqual(problems, []);
      } finally {
        await context.close();
      }
    }
  });
});

describe('paging', () => {
  test('600 instances page with the cursor', async () => {
    const lic = (await q(`{ licenses(where: {slug: "offline"}) { edges { node { id } } } }`)).licenses.edges[0].node.id;
    for (let b = 0; b < 6; b++) {
      const fields = Array.from({ length: 100 }, (_, i) => {
        const n = String(b * 100 + i).padStart(3, '0');
        return `i${n}: createInstance(input: {name: "Fleet ${n}", slug: "fleet-${n}", licenseID: $l}) { id }`;
      });
      await q(`mutation($l: ID!) { ${fields.join('\n')} }`, { l: lic });
    }
    const total = (await q(`{ instances { totalCount } }`)).instances.totalCount;
    assert.ok(total >= 600);
    const { page, context, problems } = await newPage(browser, DESKTOP);
    try {
      await signIn(page, server.base, server.adminKey);
      await nav(page, 'Instances');
      await page.getByText(`Showing 50 of ${total.toLocaleString('en-US')} instances`).waitFor();
      for (let shown = 50; shown < total; shown = Math.min(total, shown + 50)) {
        await page.getByRole('button', { name: 'Show more' }).click();
        await page.getByText(`Showing ${Math.min(total, shown + 50).toLocaleString('en-US')} of ${total.toLocaleString('en-US')} instances`).waitFor();
      }
      assert.equal(await page.getByRole('button', { name: 'Show more' }).count(), 0, 'the last page has no next');
      await page.getByRole('link', { name: 'Fleet 599' }).waitFor();
      assert.equal(await page.getByRole('link', { name: /^Fleet \d{3}$/ }).count(), 600, 'every instance once');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});
