// "Play now" in the browser (issue 9): two players press "play now", see the waiting
// indicator, and are paired into the same game, which both see started. A third cancels.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, dataDir, removeDir, launch, newPlayer, signUp, screenshot, username,
  assertNoConsoleErrors,
} from './helpers.mjs';

/** @type {import('./helpers.mjs').Server} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {string} */
let dir;

before(async () => {
  dir = await dataDir();
  server = await startServer({ dir });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await removeDir(dir);
});

test('two players press "play now" and are paired into the same game', async () => {
  const alice = await newPlayer(browser, server.url);
  const bob = await newPlayer(browser, server.url);
  for (const p of [alice, bob]) {
    await p.page.goto('/');
    await signUp(p.page, username(p === alice ? 'alice' : 'bob'));
    await p.page.locator('#play-now-kind').selectOption('tictactoe');
  }

  await alice.page.locator('#play-now-button').click();
  await alice.page.locator('#play-now-waiting').waitFor();
  await screenshot(alice.page, 'matchmaking-waiting');
  await bob.page.locator('#play-now-button').click();

  await alice.page.waitForURL(/\/game\/[0-9a-f-]{36}$/);
  await bob.page.waitForURL(/\/game\/[0-9a-f-]{36}$/);
  assert.equal(new URL(alice.page.url()).pathname, new URL(bob.page.url()).pathname);
  await alice.page.locator('#game-page[data-state="in_progress"]').waitFor();
  await bob.page.locator('#game-page[data-state="in_progress"]').waitFor();
  await screenshot(bob.page, 'matchmaking-paired');
  assertNoConsoleErrors([alice, bob]);
});

test('a waiting player can cancel', async () => {
  const carol = await newPlayer(browser, server.url);
  await carol.page.goto('/');
  await signUp(carol.page, username('carol'));
  await carol.page.locator('#play-now-kind').selectOption('connect4');
  await carol.page.locator('#play-now-button').click();
  await carol.page.locator('#play-now-waiting').waitFor();
  await carol.page.locator('#play-now-cancel').click();
  await carol.page.locator('#play-now-button').waitFor();
  // Cancelled for real: a new ticket of the kind is accepted.
  await carol.page.locator('#play-now-button').click();
  await carol.page.locator('#play-now-waiting').waitFor();
  assertNoConsoleErrors([carol]);
});
