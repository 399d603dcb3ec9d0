// License files and keys against the real server: an instance's license
// file issued and downloaded from its page and listed there, the signing
// keys rotated on the Settings page, and API keys created, used and
// revoked on the API keys page.
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
      assert.equal(await row.locator('[title]').first().getAttribute('title'), files[0].kid);
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
