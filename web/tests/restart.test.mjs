// The server is killed (SIGKILL) in the middle of a chess game and started again on the same
// data folder and port. Both players' pages, and a spectator's, say they are reconnecting,
// come back by themselves without a reload, resume from their last sequence number, deliver
// the move one player made while the server was down (once), and the game is finished.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, dataDir, removeDir, launch, newPlayer, signUp, createGame, screenshot,
  username, assertNoConsoleErrors, moveTexts, freePort,
} from './helpers.mjs';

/** @type {import('./helpers.mjs').Server | null} */
let server = null;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {string} */
let dir;
/** @type {number} */
let port;

before(async () => {
  dir = await dataDir();
  // A fixed port (found free first), so the pages reconnect to the same origin.
  port = await freePort();
  server = await startServer({ dir, port });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await removeDir(dir);
});

/** @typedef {import('playwright-core').Page} Page */

/** @param {Page} page @param {string} text */
const status = (page, text) => page.locator('#status-line', { hasText: text }).waitFor();

/** @param {Page} page @param {string} uci */
async function play(page, uci) {
  await status(page, 'Your turn');
  await page.locator(`[data-square="${uci.slice(0, 2)}"]`).click();
  await page.locator(`[data-square="${uci.slice(2, 4)}"]`).click();
}

/** @param {Page[]} pages @param {number} count */
async function movesSeen(pages, count) {
  for (const page of pages) {
    await page.waitForFunction((n) => document.querySelectorAll('#move-list .move').length === n, count);
  }
}

/** What the browser itself logs while the server is down (not the app's doing). */
const SERVER_DOWN = [
  /WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/api\/v1\/ws' failed/,
  /Failed to load resource: net::ERR_CONNECTION_REFUSED/,
];

test('after the server is killed and restarted mid-game, both pages reconnect by themselves and the game goes on to the end', async () => {
  const alice = await newPlayer(browser, `http://127.0.0.1:${port}`);
  const bob = await newPlayer(browser, `http://127.0.0.1:${port}`);
  const carol = await newPlayer(browser, `http://127.0.0.1:${port}`);
  const everyone = [alice.page, bob.page, carol.page];
  const aliceName = username('alice');

  await alice.page.goto('/');
  await signUp(alice.page, aliceName);
  await createGame(alice.page, { kind: 'chess', name: 'Through a restart', timeControl: '10 min', seat: 'first' });
  const link = await alice.page.locator('#share-url').inputValue();
  await bob.page.goto(link);
  await signUp(bob.page, username('bob'));
  await bob.page.locator('#join-button').click();
  await carol.page.goto(link);
  await carol.page.locator('#guest-button').click();
  await status(carol.page, `${aliceName} to move`);

  // 1. e4 e5 2. Bc4 Nc6
  const opening = /** @type {[Page, string][]} */ ([
    [alice.page, 'e2e4'], [bob.page, 'e7e5'], [alice.page, 'f1c4'], [bob.page, 'b8c6'],
  ]);
  for (const [i, [page, uci]] of opening.entries()) {
    await play(page, uci);
    await movesSeen(everyone, i + 1);
  }
  await status(alice.page, 'Your turn');

  // Crash.
  assert.ok(server);
  await server.kill();
  server = null;
  for (const page of everyone) {
    await page.locator('#conn-status[data-state="reconnecting"]', { hasText: 'Reconnecting' }).waitFor();
    await page.locator('#conn-banner', { hasText: 'reconnecting' }).waitFor();
  }
  await screenshot(bob.page, 'restart-reconnecting');

  // Alice moves while the server is down: the move waits, faded, and goes out once it is back.
  await alice.page.locator('[data-square="d1"]').click();
  await alice.page.locator('[data-square="h5"]').click();
  await status(alice.page, 'Sending your move');
  assert.equal(await alice.page.locator('.sq.pending').count(), 2);

  // Restart on the same data folder and port; nobody reloads.
  server = await startServer({ dir, port });
  for (const page of everyone) {
    await page.locator('#conn-status[data-state="live"]', { hasText: 'Connected' }).waitFor();
    await page.locator('#conn-banner').waitFor({ state: 'hidden' });
  }
  await movesSeen(everyone, 5);
  for (const page of everyone) {
    assert.deepEqual(await moveTexts(page), ['e4', 'e5', 'Bc4', 'Nc6', 'Qh5']);
  }

  // The game goes on: 3... Nf6?? 4. Qxf7#
  await play(bob.page, 'g8f6');
  await movesSeen(everyone, 6);
  await play(alice.page, 'h5f7');
  await status(alice.page, 'You won by checkmate');
  await status(bob.page, 'You lost by checkmate');
  await status(carol.page, `${aliceName} won by checkmate`);
  for (const page of everyone) {
    assert.deepEqual(await moveTexts(page), ['e4', 'e5', 'Bc4', 'Nc6', 'Qh5', 'Nf6', 'Qxf7#']);
  }
  await screenshot(alice.page, 'restart-finished');

  // The move sent again after the restart was applied exactly once (the server's journal).
  const id = /** @type {string} */ (new URL(alice.page.url()).pathname.split('/').pop());
  const view = await (await fetch(`http://127.0.0.1:${port}/api/v1/games/${id}`)).json();
  assert.deepEqual(view.moves.map((/** @type {any} */ m) => m.move.san), ['e4', 'e5', 'Bc4', 'Nc6', 'Qh5', 'Nf6', 'Qxf7#']);
  assert.equal(view.state, 'finished');

  assertNoConsoleErrors([alice, bob, carol], SERVER_DOWN);
  await Promise.all([alice, bob, carol].map((p) => p.context.close()));
});
