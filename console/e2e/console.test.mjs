// End-to-end tests of the console in real headless Chromium (Debian's
// /usr/bin/chromium) against a real entitled server on a fresh SQLite file.
// Run: cd console/e2e && npm test   (or bash .ci/console.sh from the root)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { axe, gql, launchBrowser, outDir, startServer } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const DESKTOP = { width: 1280, height: 900 };
const NARROW = { width: 390, height: 844 };

async function newPage(viewport) {
  const context = await browser.newContext({
    viewport,
    deviceScaleFactor: 1,
    isMobile: viewport.width < 500,
    hasTouch: viewport.width < 500,
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  return { page, context, problems };
}

/** A screenshot in console/e2e/test-output/. */
async function shot(page, name, fullPage = true) {
  await page.screenshot({ path: join(outDir, `${name}.png`), fullPage, animations: 'disabled' });
}

async function signIn(page, key) {
  await page.goto(server.base + '/');
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Follows a link of the primary navigation, opening the menu on narrow screens. */
async function nav(page, label) {
  const toggle = page.getByRole('button', { name: 'Menu' });
  if (await toggle.isVisible()) await toggle.click();
  await page.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: label }).click();
  await page.getByRole('heading', { level: 1, name: label }).waitFor();
}

async function assertNoCriticalA11y(page, name) {
  const violations = await axe(page);
  const critical = violations.filter((v) => v.impact === 'critical');
  for (const v of violations) console.log(`  axe ${name}: ${v.impact} ${v.id}: ${v.help} [${v.nodes.join(', ')}]`);
  assert.deepEqual(critical, [], `critical accessibility violations on ${name}`);
}

async function licenseBySlug(slug) {
  const data = await gql(
    server.base,
    server.adminKey,
    `query($slug: String!) { licenses(where: {slug: $slug}) { edges { node { id version entitlements { entitlement { slug } value overagePercent } } } } }`,
    { slug },
  );
  return data.licenses.edges[0]?.node;
}

async function createEntitlement(page, { name, type, reset }) {
  await page.getByRole('button', { name: 'New entitlement' }).click();
  const dialog = page.getByRole('dialog', { name: 'New entitlement' });
  await dialog.getByLabel('Name', { exact: true }).fill(name);
  await dialog.getByRole('radio', { name: new RegExp(`^${type}`) }).check();
  if (type === 'Number') {
    // Metering fields appear only for NUMBER entitlements.
    await dialog.getByLabel('Reset period').selectOption({ label: reset });
    await dialog.getByLabel('Meter type').waitFor();
  } else {
    assert.equal(await dialog.getByLabel('Meter type').count(), 0, 'meter type is only for NUMBER');
  }
  await dialog.getByRole('button', { name: 'Create entitlement' }).click();
  await dialog.waitFor({ state: 'detached' });
}

/**
 * The main flow of the issue: entitlements of each type, a license linking
 * them (with an invalid CONFIG JSON first), the version history, an
 * instance with its decisions and usage meter, usage reported through the
 * API moving the meter. `sfx` keeps the two viewports' data apart.
 */
async function mainFlow(viewport, sfx) {
  const { page, context, problems } = await newPage(viewport);
  const tag = `${viewport.width}`;
  const ss = sfx ? `-${sfx.trim().toLowerCase()}` : ''; // the slug suffix
  try {
    await page.goto(server.base + '/');
    await page.getByLabel('API key').waitFor();
    await shot(page, `signin-${tag}`);
    await signIn(page, server.adminKey);
    await page.getByRole('heading', { level: 1, name: 'Licenses' }).waitFor();
    // The organization and the key's scopes are shown (behind the menu on narrow screens).
    const toggle = page.getByRole('button', { name: 'Menu' });
    if (await toggle.isVisible()) await toggle.click();
    await page.getByTestId('org-name').filter({ hasText: 'Default' }).waitFor();
    await page.getByLabel('Scopes').getByText('ADMIN').waitFor();
    await shot(page, `signed-in-${tag}`, false);
    if (await page.getByRole('button', { name: 'Close' }).isVisible()) await page.getByRole('button', { name: 'Close' }).click();
    if (sfx === '') await assertNoCriticalA11y(page, 'licenses (empty)');

    // One entitlement of each type.
    await nav(page, 'Entitlements');
    await createEntitlement(page, { name: `API calls${sfx}`, type: 'Number', reset: 'Month' });
    await createEntitlement(page, { name: `SSO${sfx}`, type: 'Boolean' });
    await createEntitlement(page, { name: `Branding${sfx}`, type: 'Config' });
    const calls = `api-calls${ss}`;
    const sso = `sso${ss}`;
    const branding = `branding${ss}`;
    for (const slug of [calls, sso, branding]) await page.getByTestId(`entitlement-${slug}`).waitFor();
    await assertNoCriticalA11y(page, `entitlements @${tag}`);
    await shot(page, `entitlements-${tag}`);

    // A license, made the default.
    await nav(page, 'Licenses');
    await page.getByRole('button', { name: 'New license' }).click();
    let dialog = page.getByRole('dialog', { name: 'New license' });
    await dialog.getByLabel('Name', { exact: true }).fill(`Enterprise${sfx}`);
    const licSlug = `enterprise${ss}`;
    assert.equal(await dialog.getByLabel('Slug').inputValue(), licSlug, 'slug follows the name');
    await dialog.getByLabel('Type', { exact: true }).selectOption('PAID');
    await dialog.getByLabel('Version name').fill('2026.1');
    await dialog.getByRole('switch', { name: 'Default license' }).check();
    await dialog.getByRole('button', { name: 'Create license' }).click();
    await page.getByRole('heading', { level: 1, name: `Enterprise${sfx}` }).waitFor();
    await page.getByTestId('license-version').filter({ hasText: 'Version 1' }).waitFor();

    // A GraphQL error that names a field is shown next to that field.
    await page.getByRole('button', { name: 'Edit', exact: true }).click();
    dialog = page.getByRole('dialog', { name: `Edit Enterprise${sfx}` });
    // The slug is fixed once created: shown, not editable.
    assert.equal(await dialog.getByLabel('Slug').isEditable(), false);
    await dialog.getByLabel('Version name').fill('v'.repeat(150));
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    const fieldError = dialog
      .locator('.field-invalid')
      .filter({ has: page.getByLabel('Version name') })
      .locator('.field-error');
    await fieldError.waitFor();
    assert.match(await fieldError.innerText(), /at most 100/i);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });

    const addLink = async (name) => {
      await page.getByRole('button', { name: 'Add entitlement' }).click();
      await page
        .getByRole('group', { name: 'Pick an entitlement to add' })
        .getByRole('button', { name: new RegExp(`^${name}`) })
        .click();
      return page.getByRole('dialog', { name: `Add ${name}` });
    };

    // NUMBER: a limit and an overage.
    dialog = await addLink(`API calls${sfx}`);
    await dialog.getByLabel('Limit', { exact: true }).fill('1000');
    await dialog.getByLabel('Overage %').fill('10');
    await dialog.getByRole('button', { name: 'Add to license' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByTestId('license-version').filter({ hasText: 'Version 2' }).waitFor();
    await page.getByTestId(`link-${calls}`).getByText('1,000').waitFor();

    // BOOLEAN: a switch.
    dialog = await addLink(`SSO${sfx}`);
    assert.equal(await dialog.getByRole('switch', { name: 'Enabled' }).isChecked(), true);
    await dialog.getByRole('button', { name: 'Add to license' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByTestId('license-version').filter({ hasText: 'Version 3' }).waitFor();
    await page.getByTestId(`link-${sso}`).getByText('Enabled', { exact: true }).waitFor();

    // CONFIG: invalid JSON shows an inline error and saves nothing.
    dialog = await addLink(`Branding${sfx}`);
    const json = dialog.getByLabel('Configuration (JSON)');
    await json.fill('{"theme": "dark",}');
    const jsonError = dialog.locator('.field-error');
    await jsonError.waitFor();
    assert.match(await jsonError.innerText(), /Invalid JSON/);
    assert.equal(await json.getAttribute('aria-invalid'), 'true');
    await shot(page, `config-json-error-${tag}`, false);
    await dialog.getByRole('button', { name: 'Add to license' }).click();
    await page.waitForTimeout(300);
    assert.ok(await dialog.isVisible(), 'the dialog stays open');
    assert.match(await jsonError.innerText(), /Invalid JSON/);
    let lic = await licenseBySlug(licSlug);
    assert.equal(lic.version, 3, 'invalid JSON bumped nothing');
    assert.deepEqual(lic.entitlements.map((l) => l.entitlement.slug).sort(), [calls, sso].sort(), 'invalid JSON linked nothing');
    // An array is JSON but not an object.
    await json.fill('["dark"]');
    assert.match(await jsonError.innerText(), /JSON object/);
    await json.fill('{"theme": "dark", "logo": true}');
    await jsonError.waitFor({ state: 'detached' });
    await dialog.getByRole('button', { name: 'Add to license' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByTestId('license-version').filter({ hasText: 'Version 4' }).waitFor();
    await page.getByTestId(`link-${branding}`).getByText('{"logo": true, "theme": "dark"}').waitFor();

    // Change a value: the history shows what changed.
    await page.getByRole('button', { name: `Change API calls${sfx}` }).click();
    dialog = page.getByRole('dialog', { name: `Change API calls${sfx}` });
    assert.equal(await dialog.getByLabel('Limit', { exact: true }).inputValue(), '1000');
    await dialog.getByLabel('Limit', { exact: true }).fill('2000');
    await dialog.getByRole('button', { name: 'Save value' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByTestId('license-version').filter({ hasText: 'Version 5' }).waitFor();

    lic = await licenseBySlug(licSlug);
    assert.equal(lic.version, 5);
    const byslug = Object.fromEntries(lic.entitlements.map((l) => [l.entitlement.slug, l]));
    assert.deepEqual(byslug[calls].value, { type: 'number', value: 2000 });
    assert.equal(byslug[calls].overagePercent, 10);
    assert.deepEqual(byslug[sso].value, { type: 'boolean', value: true });
    assert.deepEqual(byslug[branding].value, { type: 'object', value: { theme: 'dark', logo: true } });

    // Version history: the bump, and what changed between versions.
    await page.reload();
    const v5 = page.getByTestId('version-5');
    await v5.waitFor();
    await v5.getByText('Current', { exact: true }).waitFor();
    assert.match(await v5.locator('.diff').innerText(), new RegExp(`${calls}: 1,000 \\(\\+10% overage\\) → 2,000 \\(\\+10% overage\\)`));
    assert.match(await page.getByTestId('version-4').locator('.diff').innerText(), new RegExp(`${branding}`));
    await page.getByTestId('version-1').waitFor();
    await assertNoCriticalA11y(page, `license detail @${tag}`);
    await shot(page, `license-detail-${tag}`);

    // The list shows it: type, version and name, flags, instance count; filters and sort.
    await nav(page, 'Licenses');
    const row = page.getByRole('row').filter({ hasText: `Enterprise${sfx}` });
    await row.getByText('v5').waitFor();
    await row.getByText('2026.1').waitFor();
    await row.getByText('Default', { exact: true }).waitFor();
    await page.getByLabel('Type').selectOption('TRIAL');
    await page.getByText('No license matches these filters.').waitFor();
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await row.waitFor();
    await page.getByLabel('Status').selectOption('active');
    await page.getByLabel('Sort by').selectOption('VERSION');
    await page.getByRole('button', { name: /Ascending order/ }).click();
    await row.waitFor();
    assert.match(page.url(), /sort=VERSION/);
    await assertNoCriticalA11y(page, `licenses @${tag}`);
    await shot(page, `licenses-${tag}`);

    // An instance: the default license is preselected; metadata as JSON.
    await nav(page, 'Instances');
    await page.getByRole('button', { name: 'New instance' }).click();
    dialog = page.getByRole('dialog', { name: 'New instance' });
    await dialog.getByLabel('Name', { exact: true }).fill(`EU production${sfx}`);
    const instSlug = `eu-production${ss}`;
    const picker = dialog.getByLabel('License');
    await picker.locator('option', { hasText: `Enterprise${sfx} (` }).waitFor({ state: 'attached' });
    assert.match(await picker.locator('option:checked').innerText(), new RegExp(`Enterprise${sfx} \\(.*default`));
    await dialog.getByLabel('Metadata (JSON)').fill('{"region": eu}');
    await dialog.locator('.field-error').filter({ hasText: 'Invalid JSON' }).waitFor();
    await dialog.getByLabel('Metadata (JSON)').fill('{"region": "eu"}');
    await dialog.getByRole('button', { name: 'Create instance' }).click();
    await page.getByRole('heading', { level: 1, name: `EU production${sfx}` }).waitFor();

    // Decisions for each entitlement, and the usage meter at 0.
    const decisions = page.getByTestId('decisions');
    for (const slug of [calls, sso, branding])
      await decisions.getByTestId(`decision-${slug}`).getByText('Allowed', { exact: true }).waitFor();
    await decisions.getByTestId(`decision-${calls}`).getByText('ALLOWED', { exact: true }).waitFor();
    const meterValue = page.getByTestId(`meter-${calls}-value`);
    assert.equal(await meterValue.innerText(), '0');
    await page.getByTestId(`meter-${calls}`).getByText('/ 2,000').waitFor();

    // Usage reported through the API moves the meter after a reload.
    await gql(
      server.base,
      server.adminKey,
      `mutation($i: String!, $e: String!) { reportUsage(input: {instance: $i, entitlement: $e, value: 120}) { usage { value } } }`,
      { i: instSlug, e: calls },
    );
    await page.reload();
    await page.getByTestId(`meter-${calls}-value`).filter({ hasText: /^120$/ }).waitFor();
    await page.getByTestId(`meter-${calls}`).getByText('2,080').waitFor(); // remaining: hard cap 2,200 − 120
    // Crossing 80% of the limit records a threshold event.
    await gql(
      server.base,
      server.adminKey,
      `mutation($i: String!, $e: String!) { reportUsage(input: {instance: $i, entitlement: $e, value: 1500}) { usage { value } } }`,
      { i: instSlug, e: calls },
    );
    await page.reload();
    await page
      .getByTestId(`meter-${calls}-value`)
      .filter({ hasText: /^1,620$/ })
      .waitFor();
    await page.getByText('80% of limit').waitFor();
    await decisions.getByTestId(`decision-${calls}`).getByText('Used 1,620 of 2,000').waitFor();
    await assertNoCriticalA11y(page, `instance detail @${tag}`);
    await shot(page, `instance-detail-${tag}`);

    // Search by slug or name; the license is listed.
    await nav(page, 'Instances');
    const search = page.getByRole('searchbox', { name: 'Search' });
    await search.fill(instSlug.slice(0, 7));
    await page.getByRole('link', { name: `EU production${sfx}` }).waitFor();
    await search.fill(`eu PRODUCTION${sfx}`);
    await page.getByRole('link', { name: `EU production${sfx}` }).waitFor();
    await search.fill('no-such-instance-anywhere');
    await page.getByText('No instance matches "no-such-instance-anywhere".').waitFor();
    await page.getByRole('button', { name: 'Clear search' }).click();
    await page
      .getByRole('row')
      .filter({ hasText: `EU production${sfx}` })
      .getByRole('link', { name: `Enterprise${sfx}` })
      .waitFor();
    await assertNoCriticalA11y(page, `instances @${tag}`);
    await shot(page, `instances-${tag}`);

    assert.deepEqual(problems, [], 'no script errors in the page');
  } catch (err) {
    await page.screenshot({ path: join(outDir, `failure-main-${tag}.png`), fullPage: true }).catch(() => {});
    throw err;
  } finally {
    await context.close();
  }
}

describe('console', () => {
  test('desktop (1280 px): sign in, entitlements, license with links and history, instance with decisions and usage', async () => {
    await mainFlow(DESKTOP, '');
  });

  test('narrow viewport (390 px): the same flow works', async () => {
    await mainFlow(NARROW, ' M');
  });

  test('unlimited numbers; expiry is highlighted; deletes ask first', async () => {
    const { page, context, problems } = await newPage(DESKTOP);
    try {
      // NUMBER links: the "unlimited" switch stores -1; the meter says so.
      await signIn(page, server.adminKey);
      await page.getByRole('heading', { level: 1, name: 'Licenses' }).waitFor();
      await page.goto(server.base + '/licenses/enterprise-m');
      await page.getByRole('button', { name: 'Change API calls M' }).click();
      let dialog = page.getByRole('dialog', { name: 'Change API calls M' });
      await dialog.getByRole('switch', { name: 'Unlimited' }).check();
      assert.equal(await dialog.getByLabel('Limit', { exact: true }).isDisabled(), true);
      await dialog.getByRole('button', { name: 'Save value' }).click();
      await dialog.waitFor({ state: 'detached' });
      await page.getByTestId('link-api-calls-m').getByText('Unlimited', { exact: true }).waitFor();
      const lic = await licenseBySlug('enterprise-m');
      assert.deepEqual(lic.entitlements.find((l) => l.entitlement.slug === 'api-calls-m').value, { type: 'number', value: -1 });
      await page.goto(server.base + '/instances/eu-production-m');
      await page.getByTestId('meter-api-calls-m').getByText('/ unlimited').waitFor();
      await page.getByTestId('decision-api-calls-m').getByText(/^Unlimited/).waitFor();

      const day = 24 * 3600 * 1000;
      const now = Date.now();
      await gql(
        server.base,
        server.adminKey,
        `mutation($a: CreateInstanceInput!, $b: CreateInstanceInput!) { a: createInstance(input: $a) { id } b: createInstance(input: $b) { id } }`,
        {
          a: { name: 'Soon', slug: 'expiring-soon', expiresAt: new Date(now + 10 * day + 3600_000).toISOString() },
          b: {
            name: 'Gone',
            slug: 'expired-one',
            startsAt: new Date(now - 60 * day).toISOString(),
            expiresAt: new Date(now - day).toISOString(),
          },
        },
      );
      await nav(page, 'Instances');
      await page
        .getByRole('row')
        .filter({ hasText: 'expiring-soon' })
        .getByText(/Expires in 1[01] days/)
        .waitFor();
      await page
        .getByRole('row')
        .filter({ hasText: 'expired-one' })
        .getByText(/^Expired/)
        .waitFor();
      await page.getByRole('link', { name: 'Gone' }).click();
      await page.getByText(/This instance expired on/).waitFor();
      await page.getByTestId('decisions').getByText('LICENSE_EXPIRED').first().waitFor();

      // Delete asks first; Cancel keeps it.
      await page.getByRole('button', { name: 'Delete', exact: true }).click();
      dialog = page.getByRole('dialog', { name: 'Delete Gone?' });
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      await dialog.waitFor({ state: 'detached' });
      await page.getByRole('button', { name: 'Delete', exact: true }).click();
      dialog = page.getByRole('dialog', { name: 'Delete Gone?' });
      await dialog.getByRole('button', { name: 'Delete instance' }).click();
      await page.getByRole('heading', { level: 1, name: 'Instances' }).waitFor();
      const left = await gql(server.base, server.adminKey, `{ instances(where: {slug: "expired-one"}) { totalCount } }`);
      assert.equal(left.instances.totalCount, 0);

      // A license that instances use cannot be deleted: the button is disabled and says why.
      await nav(page, 'Licenses');
      await page.getByRole('link', { name: 'Enterprise M' }).click();
      const del = page.getByRole('button', { name: 'Delete', exact: true });
      await del.waitFor();
      assert.equal(await del.isDisabled(), true, 'delete is disabled while instances use the license');
      await page.getByText(/^Cannot delete: \d+ instances? uses? this license/).waitFor();
      assert.equal(await del.getAttribute('aria-describedby'), 'delete-blocked');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('scopes: READ hides every change, CHECK sees decisions only; sign out forgets the key', async () => {
    const keys = await gql(
      server.base,
      server.adminKey,
      `mutation { r: createAPIKey(input: {name: "auditor", scopes: [READ]}) { secret } c: createAPIKey(input: {name: "service", scopes: [CHECK]}) { secret } }`,
    );
    let { page, context } = await newPage(DESKTOP);
    try {
      await signIn(page, keys.r.secret);
      await page.getByRole('heading', { level: 1, name: 'Licenses' }).waitFor();
      await page.getByText('Read-only: changes are hidden.').waitFor();
      assert.equal(await page.getByRole('button', { name: 'New license' }).count(), 0);
      await page.getByRole('link', { name: 'Enterprise', exact: true }).click();
      await page.getByRole('heading', { level: 1, name: 'Enterprise' }).waitFor();
      for (const name of ['Edit', 'Delete', 'Add entitlement', 'Deactivate']) {
        assert.equal(await page.getByRole('button', { name, exact: true }).count(), 0, `${name} is hidden for READ`);
      }
      await page.goto(server.base + '/instances/eu-production');
      await page.getByText('may not ask for decisions').waitFor();
      await page.getByTestId('meter-api-calls').waitFor(); // READ may read usage
      await assertNoCriticalA11y(page, 'instance detail (READ)');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('API key').waitFor();
      await page.reload();
      await page.getByLabel('API key').waitFor(); // the key is gone from the tab session
    } finally {
      await context.close();
    }

    ({ page, context } = await newPage(DESKTOP));
    try {
      await signIn(page, keys.c.secret);
      await page.getByRole('heading', { level: 1, name: 'Check decisions' }).waitFor();
      const links = await page.getByRole('navigation', { name: 'Primary' }).getByRole('link').allInnerTexts();
      assert.deepEqual(links, ['Check decisions']);
      await page.getByLabel('Instance slug').fill('eu-production');
      await page.getByRole('button', { name: 'Check', exact: true }).click();
      await page.getByTestId('decision-sso').getByText('Allowed', { exact: true }).waitFor();
      await assertNoCriticalA11y(page, 'check (CHECK)');
      // A reload keeps the session (sessionStorage) for this tab.
      await page.reload();
      await page.getByTestId('decision-sso').waitFor();
    } finally {
      await context.close();
    }

    ({ page, context } = await newPage(DESKTOP));
    try {
      await signIn(page, 'etk_not_a_real_key');
      await page
        .locator('.field-error')
        .getByText(/does not accept this key/)
        .waitFor();
    } finally {
      await context.close();
    }
  });

  test('entitlements: edit keeps the type; delete asks first', async () => {
    const { page, context, problems } = await newPage(DESKTOP);
    try {
      await gql(
        server.base,
        server.adminKey,
        `mutation { createEntitlement(input: {name: "Seats", slug: "seats", type: NUMBER, meterType: CALCULATED_USAGE}) { id } }`,
      );
      await signIn(page, server.adminKey);
      await nav(page, 'Entitlements');
      const row = page.getByTestId('entitlement-seats');
      await row.getByText('Calculated usage, Latest').waitFor();
      await row.getByRole('button', { name: 'Edit Seats' }).click();
      const dialog = page.getByRole('dialog', { name: 'Edit Seats' });
      assert.equal(await dialog.getByRole('radio', { name: /^Number/ }).isDisabled(), true, 'type is immutable');
      await dialog.getByLabel('Reset period').selectOption('DAY');
      await dialog.getByRole('button', { name: 'Save changes' }).click();
      await dialog.waitFor({ state: 'detached' });
      await row.getByText('Resets every day').waitFor();
      // The grants column says which licenses grant each entitlement.
      await page.getByTestId('entitlement-api-calls').getByRole('link', { name: 'Enterprise' }).waitFor();

      await row.getByRole('button', { name: 'Delete Seats' }).click();
      const confirm = page.getByRole('dialog', { name: 'Delete Seats?' });
      await confirm.getByRole('button', { name: 'Delete entitlement' }).click();
      await row.waitFor({ state: 'detached' });

      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
  test('usage: an admin resets a meter with a reason, after a confirmation', async () => {
    const { page, context, problems } = await newPage(DESKTOP);
    try {
      const q = (query, variables) => gql(server.base, server.adminKey, query, variables);
      const ent = (await q(`mutation { createEntitlement(input: {name: "Builds", slug: "builds", type: NUMBER}) { id } }`)).createEntitlement.id;
      const lic = (await q(`mutation { createLicense(input: {name: "Builder", slug: "builder", type: PAID}) { id } }`)).createLicense.id;
      await q(`mutation($l: ID!, $e: ID!) { setLicenseEntitlement(input: {licenseID: $l, entitlementID: $e, value: {type: "number", value: 10}}) { id } }`, { l: lic, e: ent });
      await q(`mutation($l: ID!) { createInstance(input: {name: "CI box", slug: "ci-box", licenseID: $l}) { id } }`, { l: lic });
      await q(`mutation { reportUsage(input: {instance: "ci-box", entitlement: "builds", value: 8}) { replayed } }`);
      await signIn(page, server.adminKey);
      await page.getByRole('heading', { level: 1, name: 'Licenses' }).waitFor();
      await page.goto(server.base + '/instances/ci-box');
      await page.getByTestId('meter-builds-value').getByText('8').waitFor();
      await page.getByRole('button', { name: 'Reset usage of Builds' }).click();
      const dialog = page.getByRole('dialog', { name: 'Reset usage of Builds?' });
      await dialog.getByLabel('Reason').fill('test run counted twice');
      await dialog.getByRole('button', { name: 'Reset usage' }).click();
      await dialog.waitFor({ state: 'detached' });
      await page.getByTestId('meter-builds-value').getByText('0', { exact: true }).waitFor();
      const events = await q(`{ usageEvents(first: 10) { edges { node { kind } } } }`);
      assert.ok(events.usageEvents.edges.some((e) => e.node.kind === 'RESET'), 'the ledger records the reset');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
  test('policies: problems at their row and column, tests, preview, activate and deactivate', async () => {
    const { page, context, problems } = await newPage(DESKTOP);
    try {
      await signIn(page, server.adminKey);
      await page.getByRole('heading', { level: 1, name: 'Licenses' }).waitFor();
      await nav(page, 'Policies');
      await page.getByText('No custom policies yet.').waitFor();
      await assertNoCriticalA11y(page, 'policies (empty)');
      await page.getByRole('link', { name: 'New policy' }).click();
      await page.getByRole('heading', { level: 1, name: 'New policy' }).waitFor();
      await page.getByLabel('Name', { exact: true }).fill('eu-sso');

      // A compile error is shown at its row and column, and marks its line.
      const editor = page.getByRole('textbox', { name: 'Rego module' });
      await editor.fill('package entitled.custom\n\ndeny contains msg if {\n\tx := 1\n\tmsg := "unused"\n}\n');
      const problem = page.getByRole('list', { name: 'Problems' }).getByRole('button').first();
      await problem.waitFor();
      assert.match(await problem.innerText(), /Line 4, column 2/);
      assert.match(await problem.innerText(), /x unused/);
      await page.locator('.gutter-bad').filter({ hasText: /^4$/ }).waitFor();
      await problem.click();
      const caret = await editor.evaluate((t) => t.selectionStart);
      assert.equal(caret, 'package entitled.custom\n\ndeny contains msg if {\n\t'.length, 'the caret moves to the problem');

      await editor.fill(
        'package entitled.custom\n\ndeny contains msg if {\n\tinput.instance.metadata.region == "eu"\n\tinput.entitlement.slug == "sso"\n\tmsg := "SSO is not offered in the EU region"\n}\n',
      );
      await page.getByText('No problems found.').waitFor();
      await page.getByRole('textbox', { name: /^Tests/ }).fill(
        [
          'package entitled.custom_test',
          '',
          'import data.entitled.custom',
          '',
          'test_eu_denied if {',
          '\tcustom.deny with input as {"instance": {"metadata": {"region": "eu"}}, "entitlement": {"slug": "sso"}}',
          '}',
          '',
          'test_us_allowed if {',
          '\tcount(custom.deny) == 0 with input as {"instance": {"metadata": {"region": "us"}}, "entitlement": {"slug": "sso"}}',
          '}',
          '',
          'test_fails if {',
          '\tcount(custom.deny) == 2 with input as {"instance": {"metadata": {"region": "eu"}}, "entitlement": {"slug": "sso"}}',
          '}',
          '',
        ].join('\n'),
      );
      await page.getByRole('button', { name: 'Run tests' }).click();
      await page.getByText('2 passed, 1 failed').waitFor();
      await page.getByTestId('test-test_fails').getByText('Fail', { exact: true }).waitFor();
      await page.getByTestId('test-test_eu_denied').getByText('Pass', { exact: true }).waitFor();

      // An EU instance on a license without SSO is denied it already: the
      // draft changes only its reason (NOT_ENTITLED → DENIED_BY_POLICY).
      const spare = await gql(server.base, server.adminKey, `mutation { createLicense(input: {name: "Spare", slug: "spare", type: PAID}) { id } }`);
      await gql(server.base, server.adminKey, `mutation($i: CreateInstanceInput!) { createInstance(input: $i) { id } }`, {
        i: { name: 'EU spare', slug: 'eu-spare', metadata: { region: 'eu' }, licenseID: spare.createLicense.id },
      });

      // Preview lists the decisions that would flip, before → after with both reasons.
      await page.getByRole('button', { name: 'Preview' }).click();
      const change = page.getByTestId('change-eu-production-sso');
      await change.waitFor();
      const before = change.getByTestId('change-before');
      const after = change.getByTestId('change-after');
      await before.getByText('Allowed', { exact: true }).waitFor();
      await before.getByText('ALLOWED', { exact: true }).waitFor();
      await after.getByText('Denied', { exact: true }).waitFor();
      await after.getByText('DENIED_BY_POLICY').waitFor();
      await after.getByText('SSO is not offered in the EU region').waitFor();
      assert.equal(await page.getByTestId('change-eu-production-api-calls').count(), 0);
      // The reason-only change is hidden until "Show all changes" is on.
      const showAll = page.getByRole('switch', { name: 'Show all changes' });
      assert.equal(await showAll.isChecked(), false);
      assert.equal(await page.getByTestId('change-eu-spare-sso').count(), 0);
      await showAll.check();
      const reasonOnly = page.getByTestId('change-eu-spare-sso');
      await reasonOnly.waitFor();
      await reasonOnly.getByTestId('change-before').getByText('Denied', { exact: true }).waitFor();
      await reasonOnly.getByTestId('change-before').getByText('NOT_ENTITLED').waitFor();
      await reasonOnly.getByTestId('change-after').getByText('DENIED_BY_POLICY').waitFor();
      await change.waitFor();
      await showAll.uncheck();
      await reasonOnly.waitFor({ state: 'detached' });
      await assertNoCriticalA11y(page, 'policy editor');
      await shot(page, 'policy-editor-1280');

      await page.getByRole('button', { name: 'Create policy' }).click();
      await page.getByRole('heading', { level: 1, name: 'eu-sso' }).waitFor();
      let d = await gql(server.base, server.adminKey, `{ allowed(instance: "eu-production", entitlement: "sso") { allowed } }`);
      assert.equal(d.allowed.allowed, true, 'an inactive policy changes nothing');

      await page.getByRole('button', { name: 'Activate', exact: true }).click();
      let dialog = page.getByRole('dialog', { name: 'Activate eu-sso?' });
      await dialog.getByRole('button', { name: 'Activate', exact: true }).click();
      await page.getByText('Activated: decisions use this policy now.').waitFor();
      await page.goto(server.base + '/instances/eu-production');
      await page.getByTestId('decision-sso').getByText('DENIED_BY_POLICY').waitFor();
      await page.getByTestId('decision-sso').getByText('SSO is not offered in the EU region').waitFor();

      await nav(page, 'Policies');
      const row = page.getByTestId('policy-eu-sso');
      await row.getByText('Active', { exact: true }).waitFor();
      await row.getByRole('button', { name: 'Deactivate eu-sso' }).click();
      dialog = page.getByRole('dialog', { name: 'Deactivate eu-sso?' });
      await dialog.getByRole('button', { name: 'Deactivate', exact: true }).click();
      await row.getByText('Inactive', { exact: true }).waitFor();
      d = await gql(server.base, server.adminKey, `{ allowed(instance: "eu-production", entitlement: "sso") { allowed } }`);
      assert.equal(d.allowed.allowed, true);
      await assertNoCriticalA11y(page, 'policies');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});
