// Test harness: builds and starts a real entitled server on a fresh SQLite
// file, drives Debian's Chromium (never a downloaded browser) through
// playwright-core, and talks to the API directly where a test needs to.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '../..');
export const outDir = join(repoRoot, 'console', 'e2e', 'test-output');
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

/** Builds the server binary from the repository root (the console embedded as committed/built). */
export function buildServer(dir) {
  const bin = join(dir, 'entitled');
  execFileSync('go', ['build', '-o', bin, '.'], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] });
  return bin;
}

/**
 * Starts the server on a free loopback port with an empty SQLite database
 * and resolves once it printed its admin key and answers /healthz. `env`
 * adds settings (webhook tests allow loopback receivers and retry fast).
 */
export async function startServer({ env = {}, log: logName = 'server.log' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'entitled-e2e-'));
  const bin = buildServer(dir);
  const port = await freePort();
  mkdirSync(outDir, { recursive: true });
  const log = createWriteStream(join(outDir, logName));
  const proc = spawn(bin, [], {
    cwd: dir,
    env: {
      ...process.env,
      ENTITLED_ADDR: `127.0.0.1:${port}`,
      ENTITLED_DATABASE_URL: `sqlite://${join(dir, 'e2e.db')}`,
      ENTITLED_LOG_LEVEL: 'WARN',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stderr.pipe(log);
  const adminKey = await new Promise((resolveKey, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server printed no admin key within 60s; stdout: ${out}`)), 60_000);
    proc.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /etk_[A-Za-z0-9_]+/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolveKey(m[0]);
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before printing its admin key; see console/e2e/test-output/${logName}`));
    });
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) break;
    } catch {
      /* not yet */
    }
    if (i > 100) throw new Error('server did not answer /healthz');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    adminKey,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => {
          const t = setTimeout(() => {
            proc.kill('SIGKILL');
            r();
          }, 5000);
          proc.on('exit', () => {
            clearTimeout(t);
            r();
          });
        });
      }
      log.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A GraphQL call with fetch; throws on GraphQL errors. */
export async function gql(base, key, query, variables = {}) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors?.length) throw new Error(`GraphQL: ${JSON.stringify(body.errors)}`);
  return body.data;
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

/**
 * Runs axe-core on the page as it is and returns its violations. The
 * script goes in through DevTools evaluation, so the console's own
 * Content-Security-Policy stays on during the test.
 */
export async function axe(page) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
  });
  return result;
}
