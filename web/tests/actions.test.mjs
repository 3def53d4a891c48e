// The actions around the moves, over four sessions of one Connect Four game: abort before
// both sides moved, a draw by agreement, a resignation (confirmed), and claiming victory
// once the opponent has been away longer than the seat hold — each followed by a rematch.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, dataDir, removeDir, launch, newPlayer, signUp, createGame, screenshot,
  username, assertNoConsoleErrors, moveTexts,
} from './helpers.mjs';

/** @type {import('./helpers.mjs').Server} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {string} */
let dir;

before(async () => {
  dir = await dataDir();
  // A short seat hold, so claiming victory over an absent opponent takes seconds.
  server = await startServer({ dir, env: { VERSUS_SEAT_HOLD_SECONDS: '2' } });
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

/** @param {Page} page @param {number} column */
async function drop(page, column) {
  await status(page, 'Your turn');
  await page.locator(`.c4-column[data-column="${column}"]`).click();
}

/** @param {Page[]} pages @param {number} count */
async function movesSeen(pages, count) {
  for (const page of pages) {
    await page.waitForFunction((n) => document.querySelectorAll('#move-list .move').length === n, count);
  }
}

/**
 * One player asks for a rematch, the other accepts; waits for the new session.
 * @param {Page} asker
 * @param {Page} accepter
 * @param {number} number the new session's number
 */
async function rematch(asker, accepter, number) {
  await asker.locator('#rematch-button').click();
  await asker.locator('#rematch-offer', { hasText: 'waiting for your opponent' }).waitFor();
  await accepter.locator('#accept-rematch').click();
  for (const page of [asker, accepter]) {
    await page.locator('.game-meta', { hasText: `Game ${number}` }).waitFor();
    await page.locator('#game-page[data-state="in_progress"]').waitFor();
  }
}

test('players abort, agree a draw, resign and claim victory over an absent opponent, with a rematch after each', async () => {
  const alice = await newPlayer(browser, server.url);
  const bob = await newPlayer(browser, server.url);
  const aliceName = username('alice');
  const bobName = username('bob');
  await alice.page.goto('/');
  await signUp(alice.page, aliceName);
  await createGame(alice.page, { kind: 'connect4', name: 'Best of four', seat: 'first' });
  const link = await alice.page.locator('#share-url').inputValue();
  await bob.page.goto(link);
  await signUp(bob.page, bobName);
  await bob.page.locator('#join-button').click();
  const both = [alice.page, bob.page];

  // Game 1: Alice (red) moves; Bob has not, so he may still abort.
  await drop(alice.page, 3);
  await movesSeen(both, 1);
  await bob.page.locator('#abort-button').click();
  for (const page of both) await status(page, 'Game aborted');

  // Game 2 (seats rotate: Bob is red): Bob offers a draw, Alice accepts.
  await rematch(alice.page, bob.page, 2);
  await drop(bob.page, 3);
  await movesSeen(both, 1);
  await bob.page.locator('#draw-button').click();
  await alice.page.locator('#draw-offer', { hasText: `${bobName} offers a draw` }).waitFor();
  await screenshot(alice.page, 'connect4-draw-offer');
  await alice.page.locator('#accept-draw').click();
  for (const page of both) await status(page, 'Draw by agreement');

  // Game 3 (Alice is red): Alice resigns; the first click only asks to confirm.
  await rematch(bob.page, alice.page, 3);
  await drop(alice.page, 0);
  await drop(bob.page, 6);
  await movesSeen(both, 2);
  await alice.page.locator('#resign-button').click();
  await alice.page.locator('#resign-button', { hasText: 'Really resign?' }).waitFor();
  assert.equal(await bob.page.locator('#status-line').innerText(), `Waiting for ${aliceName}`);
  await alice.page.locator('#resign-button').click();
  await status(alice.page, 'You lost by resignation');
  await status(bob.page, 'You won by resignation');

  // Game 4 (Bob is red): after two moves Bob closes his browser. Alice sees him away, the
  // seat hold counts down, and then she may claim the win.
  await rematch(alice.page, bob.page, 4);
  await drop(bob.page, 2);
  await drop(alice.page, 4);
  await movesSeen(both, 2);
  assert.deepEqual(await moveTexts(alice.page), ['column 3', 'column 5']);
  await bob.context.close();
  await alice.page.locator('#player-top .away', { hasText: 'away' }).waitFor();
  await alice.page.locator('#claim-button').waitFor({ timeout: 10_000 });
  await screenshot(alice.page, 'connect4-claim-victory');
  await alice.page.locator('#claim-button').click();
  await status(alice.page, 'You won by abandonment');

  assertNoConsoleErrors([alice, bob]);
  await alice.context.close();
});
