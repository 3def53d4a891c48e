// Shared by the browser tests: start the real `versus` binary on its own data folder, drive
// Debian's Chromium through playwright-core, collect console errors, take screenshots.
//
// Environment:
//   VERSUS_BIN  the server binary (default ../target/debug/versus from web/; CI sets it,
//               since its CARGO_TARGET_DIR lies outside the repository)
//   CHROMIUM    the browser (default /usr/bin/chromium)
//   TEST_LOG=1  echo the server's log lines
//   VERSUS_WEB_POSTGRES_URL  a PostgreSQL server (postgres://user@host:port/db): each data
//               folder then gets a fresh database of its own there (created and dropped with
//               `psql`, named versus_test_<hex> like the Rust tests' so CI sweeps leftovers),
//               passed as --database-url, instead of SQLite in the data folder

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, mkdir, rm, appendFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

/** @typedef {import('playwright-core').Browser} Browser */
/** @typedef {import('playwright-core').BrowserContext} BrowserContext */
/** @typedef {import('playwright-core').Page} Page */

export const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ARTIFACTS = path.join(WEB, 'artifacts');
const BIN = path.resolve(WEB, process.env.VERSUS_BIN ?? path.join('..', 'target', 'debug', 'versus'));
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Generous waits: CI machines are slow, and a restart replays the journal. */
export const TIMEOUT_MS = 15_000;

/** A free TCP port on 127.0.0.1 (for the restart test, which must keep its origin). */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const POSTGRES = process.env.VERSUS_WEB_POSTGRES_URL ?? '';
/** @type {Map<string, string>} data folder → the URL of its PostgreSQL database */
const databases = new Map();

/**
 * Runs one statement with psql on `url` (throws with psql's message when it fails).
 * @param {string} url
 * @param {string} sql
 */
function psql(url, sql) {
  const r = spawnSync('psql', [url, '-w', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`psql could not run "${sql}": ${r.error?.message ?? r.stderr}`);
  }
}

/**
 * The PostgreSQL database of the server using `dir` (created on first use, so a restarted
 * server finds its data again), or null when the tests run on SQLite.
 * @param {string} dir
 */
function databaseFor(dir) {
  if (!POSTGRES) return null;
  let url = databases.get(dir);
  if (!url) {
    // Generated here from a UUID, never from input.
    const name = `versus_test_${randomUUID().replaceAll('-', '')}`;
    psql(POSTGRES, `CREATE DATABASE ${name}`);
    const u = new URL(POSTGRES);
    u.pathname = `/${name}`;
    url = u.toString();
    databases.set(dir, url);
  }
  return url;
}

// Each test file runs in its own process: its databases go when it ends (best effort; the
// CI sweep removes what a crash leaves).
process.on('exit', () => {
  for (const url of databases.values()) {
    const name = new URL(url).pathname.slice(1);
    spawnSync('psql', [POSTGRES, '-w', '-X', '-q', '-c', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]);
  }
});

// A PostgreSQL node needs its email keys configured (SQLite generates them in the data
// folder): one throwaway key for this test file's servers.
const EMAIL_KEYS = `web-test:${randomBytes(32).toString('base64')}`;

/** Whether the servers use PostgreSQL (`VERSUS_WEB_POSTGRES_URL`) rather than SQLite. */
export const ON_POSTGRES = POSTGRES !== '';

/** A fresh data folder for one server. */
export async function dataDir() {
  return mkdtemp(path.join(tmpdir(), 'versus-web-test-'));
}

/**
 * @typedef {object} Server
 * @property {string} url e.g. http://127.0.0.1:40123
 * @property {() => Promise<void>} stop SIGTERM and wait
 * @property {() => Promise<void>} kill SIGKILL and wait (a crash)
 * @property {() => string} log the server's stderr so far
 */

/**
 * Starts `versus` and resolves once it logs its bound address. Its log is kept in
 * web/artifacts/server-logs/ for when a test fails.
 * @param {{ dir: string, port?: number, env?: Record<string, string> }} options
 * @returns {Promise<Server>}
 */
export async function startServer({ dir, port = 0, env = {} }) {
  if (!existsSync(BIN)) {
    throw new Error(`server binary not found at ${BIN}: build it (cargo build -p versus-server) or set VERSUS_BIN`);
  }
  const database = databaseFor(dir);
  const args = ['--listen', `127.0.0.1:${port}`, '--data-dir', dir];
  if (database) args.push('--database-url', database);
  const child = spawn(BIN, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      NO_COLOR: '1',
      VERSUS_LOG_LEVEL: process.env.VERSUS_LOG_LEVEL ?? 'info',
      ...(database ? { VERSUS_EMAIL_KEYS: EMAIL_KEYS } : {}),
      ...env,
    },
  });
  const logFile = path.join(ARTIFACTS, 'server-logs', `${path.basename(dir)}.log`);
  await mkdir(path.dirname(logFile), { recursive: true });
  let log = '';
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let listening = false;
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in time:\n${log}`)), 30_000);
    /** @param {Buffer} chunk */
    const onData = (chunk) => {
      const text = chunk.toString();
      log += text;
      appendFile(logFile, text).catch(() => {});
      if (process.env.TEST_LOG) process.stderr.write(text);
      // "… listening addr=127.0.0.1:40123 …" (colours stripped, in case).
      if (listening) return;
      for (const line of log.replace(/\x1b\[[0-9;]*m/g, '').split('\n')) {
        const m = line.includes('listening') ? /addr=(\S+)/.exec(line) : null;
        if (m) {
          listening = true;
          clearTimeout(timer);
          resolve(`http://${m[1].replace(/^"|"$/g, '')}`);
        }
      }
    };
    child.stderr.on('data', onData);
    child.stdout.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening:\n${log}`));
    });
  });
  /** @param {NodeJS.Signals} signal */
  const end = async (signal) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return { url, stop: () => end('SIGTERM'), kill: () => end('SIGKILL'), log: () => log };
}

/** Launches Chromium the way CI can: Debian's package, no downloads, no sandbox. */
export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * @typedef {object} Player
 * @property {BrowserContext} context
 * @property {Page} page
 * @property {string[]} errors console errors and uncaught exceptions
 */

/**
 * A new browser profile (its own localStorage) with one page, collecting console errors.
 * @param {Browser} browser
 * @param {string} baseURL
 * @param {{ viewport?: { width: number, height: number }, isMobile?: boolean }} [options]
 * @returns {Promise<Player>}
 */
export async function newPlayer(browser, baseURL, options = {}) {
  const context = await browser.newContext({
    baseURL,
    viewport: options.viewport ?? { width: 1280, height: 900 },
    isMobile: options.isMobile ?? false,
    hasTouch: options.isMobile ?? false,
    deviceScaleFactor: 1,
  });
  context.setDefaultTimeout(TIMEOUT_MS);
  const page = await context.newPage();
  /** @type {string[]} */
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return { context, page, errors };
}

/**
 * Fails when a page logged an error, except messages matching `allowed` (for example the
 * browser's own "WebSocket connection failed" while the server is deliberately down).
 * @param {Player[]} players
 * @param {RegExp[]} [allowed]
 */
export function assertNoConsoleErrors(players, allowed = []) {
  const errors = players.flatMap((p) => p.errors).filter((e) => !allowed.some((re) => re.test(e)));
  assert.deepEqual(errors, [], `unexpected console errors:\n${errors.join('\n')}`);
}

/**
 * Saves a screenshot to web/artifacts/<name>.png.
 * @param {Page} page
 * @param {string} name
 */
export async function screenshot(page, name) {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true, animations: 'disabled' });
}

let counter = 0;
/** A username unique within the test run (3–24 characters). @param {string} prefix */
export function username(prefix) {
  counter += 1;
  return `${prefix}${Date.now().toString(36).slice(-4)}${counter}`;
}

/**
 * Signs up through the form on the page currently showing it.
 * @param {Page} page
 * @param {string} name
 */
export async function signUp(page, name) {
  await page.getByRole('tab', { name: 'Sign up' }).click();
  const form = page.locator('#signup-form');
  await form.getByLabel('Username').fill(name);
  await form.getByLabel('Email').fill(`${name}@example.com`);
  await form.getByLabel('Password').fill('correct horse battery');
  await form.getByRole('button', { name: 'Create account' }).click();
  await page.locator('#user-name').getByText(name).waitFor();
}

/**
 * Creates a game through the lobby form; returns its id (from the URL).
 * @param {Page} page
 * @param {{ kind: 'chess' | 'connect4' | 'tictactoe' | 'lightcycles', name: string, timeControl?: string, seat?: 'first' | 'second' | 'random', visibility?: 'public' | 'private', rated?: boolean, description?: string }} o
 */
export async function createGame(page, o) {
  const form = page.locator('#create-form');
  await form.locator(`label[for="kind-${o.kind}"]`).click();
  await form.getByLabel('Name').fill(o.name);
  if (o.description) await form.getByLabel('Description (optional)').fill(o.description);
  if (o.timeControl) await form.getByLabel('Time control').selectOption({ label: o.timeControl });
  await form.getByLabel('Your side').selectOption(o.seat ?? 'first');
  if (o.rated) await form.getByLabel('Rated').check();
  if (o.visibility === 'private') await form.locator('#vis-private').check();
  await form.getByRole('button', { name: 'Create game' }).click();
  await page.waitForURL(/\/game\/[0-9a-f-]{36}$/);
  await page.locator('#game-page[data-state]').waitFor();
  return /** @type {string} */ (new URL(page.url()).pathname.split('/').pop());
}

/**
 * Waits until a game page has applied the event with sequence number `seq` or later.
 * @param {Page} page
 * @param {number} seq
 */
export async function waitForSeq(page, seq) {
  await page.waitForFunction((n) => Number(document.getElementById('game-page')?.dataset.seq ?? 0) >= n, seq);
}

/**
 * The texts of the move list.
 * @param {Page} page
 */
export async function moveTexts(page) {
  return page.locator('#move-list .move').allTextContents();
}

/** Removes a data folder. */
export async function removeDir(/** @type {string} */ dir) {
  await rm(dir, { recursive: true, force: true });
}
