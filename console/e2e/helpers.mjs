// Page helpers shared by the tests of the audit log and the webhooks.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { axe, outDir } from './harness.mjs';

export const DESKTOP = { width: 1280, height: 900 };
export const NARROW = { width: 390, height: 844 };

/** A page in a fresh context; `problems` collects script errors. */
export async function newPage(browser, viewport, { permissions = [] } = {}) {
  const context = await browser.newContext({
    viewport,
    deviceScaleFactor: 1,
    isMobile: viewport.width < 500,
    hasTouch: viewport.width < 500,
  });
  if (permissions.length) await context.grantPermissions(permissions);
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  return { page, context, problems };
}

export async function shot(page, name, fullPage = true) {
  await page.screenshot({ path: join(outDir, `${name}.png`), fullPage, animations: 'disabled' });
}

export async function signIn(page, base, key) {
  await page.goto(base + '/');
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Licenses' }).waitFor();
}

/** Follows a link of the primary navigation, opening the menu on narrow screens. */
export async function nav(page, label, heading = label) {
  const toggle = page.getByRole('button', { name: 'Menu' });
  if (await toggle.isVisible()) await toggle.click();
  await page.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: label }).click();
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

export async function assertNoCriticalA11y(page, name) {
  const violations = await axe(page);
  const critical = violations.filter((v) => v.impact === 'critical');
  for (const v of violations) console.log(`  axe ${name}: ${v.impact} ${v.id}: ${v.help} [${v.nodes.join(', ')}]`);
  assert.deepEqual(critical, [], `critical accessibility violations on ${name}`);
}

/** Waits until fn() is truthy (checked every 200 ms), or fails with `what` after `timeout` ms. */
export async function until(fn, what, timeout = 15_000) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
