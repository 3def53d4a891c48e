// Two people play a whole chess game with clocks — legal-move highlighting, a declined draw
// offer, a piece dragged with the mouse, a promotion chosen in the picker, and checkmate with the new queen — while a third
// browser watches.

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
  server = await startServer({ dir });
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

/**
 * Plays `uci` by clicking its two squares (the page must show the player to move).
 * @param {Page} page
 * @param {string} uci
 */
async function play(page, uci) {
  await status(page, 'Your turn');
  await page.locator(`[data-square="${uci.slice(0, 2)}"]`).click();
  await page.locator(`[data-square="${uci.slice(2, 4)}"]`).click();
}

/**
 * Waits until every page lists `count` moves.
 * @param {Page[]} pages
 * @param {number} count
 */
async function movesSeen(pages, count) {
  for (const page of pages) {
    await page.waitForFunction((n) => document.querySelectorAll('#move-list .move').length === n, count);
  }
}

/** @param {Page} page */
const targets = (page) =>
  page.locator('.sq.target, .sq.capture').evaluateAll((els) => els.map((e) => e.getAttribute('data-square')).sort());

/** @param {Page} page @param {string} seat */
const clockText = (page, seat) => page.locator(`.clock[data-seat="${seat}"]`).first().textContent();

test('two players finish a chess game with a promotion and checkmate while a spectator watches', async () => {
  const alice = await newPlayer(browser, server.url);
  const bob = await newPlayer(browser, server.url);
  const carol = await newPlayer(browser, server.url);
  const aliceName = username('alice');
  const bobName = username('bob');
  const everyone = [alice.page, bob.page, carol.page];

  await alice.page.goto('/');
  await signUp(alice.page, aliceName);
  await createGame(alice.page, { kind: 'chess', name: 'Promotion practice', timeControl: '5 + 3', seat: 'first' });
  const link = await alice.page.locator('#share-url').inputValue();
  await screenshot(alice.page, 'chess-waiting');

  await bob.page.goto(link);
  await signUp(bob.page, bobName);
  await bob.page.locator('#join-button').click();
  await status(bob.page, `Waiting for ${aliceName}`);

  await carol.page.goto(link);
  await carol.page.locator('#guest-button').click();
  await status(carol.page, `${aliceName} to move`);

  // Bob plays Black: his board is flipped (a8 in his top-right corner... h1 top-left).
  const bobFirst = await bob.page.locator('.chess-board [data-cell="0"]').getAttribute('data-square');
  assert.equal(bobFirst, 'h1');
  const aliceFirst = await alice.page.locator('.chess-board [data-cell="0"]').getAttribute('data-square');
  assert.equal(aliceFirst, 'a8');

  // Legal-move highlighting: the e-pawn may go to e3 or e4; the knight to f3 or h3.
  await status(alice.page, 'Your turn');
  await alice.page.locator('[data-square="g1"]').click();
  assert.deepEqual(await targets(alice.page), ['f3', 'h3']);
  await alice.page.locator('[data-square="e2"]').click();
  assert.deepEqual(await targets(alice.page), ['e3', 'e4']);
  await screenshot(alice.page, 'chess-legal-moves');
  await alice.page.locator('[data-square="e4"]').click();
  await movesSeen(everyone, 1);

  // White's clock started with the first move... Black's runs now and ticks on every screen.
  await status(bob.page, 'Your turn');
  const before = await clockText(carol.page, '1');
  await carol.page.waitForFunction(
    (b) => document.querySelector('.clock[data-seat="1"]')?.textContent !== b,
    before,
    { timeout: 3000 },
  );

  await play(bob.page, 'f7f5');
  await movesSeen(everyone, 2);

  // Bob offers a draw; Alice declines it.
  await bob.page.locator('#draw-button').click();
  await alice.page.locator('#draw-offer', { hasText: `${bobName} offers a draw` }).waitFor();
  await carol.page.locator('#draw-offer', { hasText: `${bobName} offered a draw` }).waitFor();
  await alice.page.locator('#decline-draw').click();
  for (const page of everyone) await page.locator('#draw-offer').waitFor({ state: 'detached' });

  // 2. exf5 g6 3. fxg6
  for (const [i, [page, uci]] of /** @type {[Page, string][]} */ ([
    [alice.page, 'e4f5'], [bob.page, 'g7g6'], [alice.page, 'f5g6'],
  ]).entries()) {
    await play(page, uci);
    await movesSeen(everyone, 3 + i);
  }
  // 3... Nf6, dragged with the mouse.
  await status(bob.page, 'Your turn');
  await bob.page.locator('[data-square="g8"]').dragTo(bob.page.locator('[data-square="f6"]'));
  await movesSeen(everyone, 6);
  // 4. gxh7 Rg8
  await play(alice.page, 'g6h7');
  await movesSeen(everyone, 7);
  await play(bob.page, 'h8g8');
  await movesSeen(everyone, 8);

  // 5. hxg8=Q: the picker offers four pieces; Alice takes the queen.
  await play(alice.page, 'h7g8');
  const picker = alice.page.getByRole('dialog', { name: 'Promote the pawn to' });
  await picker.waitFor();
  assert.equal(await picker.locator('.promo-choice').count(), 4);
  await screenshot(alice.page, 'chess-promotion');
  await picker.getByRole('button', { name: 'Promote to queen' }).click();
  await movesSeen(everyone, 9);
  for (const page of everyone) {
    await page.locator('[data-square="g8"][aria-label^="g8, white queen"]').waitFor();
  }

  // 5... Nc6 6. Qg6#
  await play(bob.page, 'b8c6');
  await movesSeen(everyone, 10);
  await play(alice.page, 'g8g6');

  await status(alice.page, 'You won by checkmate');
  await status(bob.page, 'You lost by checkmate');
  await status(carol.page, `${aliceName} won by checkmate`);
  const expected = ['e4', 'f5', 'exf5', 'g6', 'fxg6', 'Nf6', 'gxh7', 'Rg8', 'hxg8=Q', 'Nc6', 'Qg6#'];
  for (const page of everyone) {
    assert.deepEqual(await moveTexts(page), expected);
    assert.equal(await page.locator('.sq.check').getAttribute('data-square'), 'e8');
    // The clocks stopped.
    const a = await clockText(page, '0');
    await page.waitForTimeout(300);
    assert.equal(await clockText(page, '0'), a);
  }
  await screenshot(alice.page, 'chess-result');
  await screenshot(bob.page, 'chess-result-black');
  await screenshot(carol.page, 'chess-spectator');

  assertNoConsoleErrors([alice, bob, carol]);
  await Promise.all([alice, bob, carol].map((p) => p.context.close()));
});
