// Two people play tic-tac-toe in two browsers through a shared link while a third watches;
// then they play a rematch.

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

/**
 * @param {import('playwright-core').Page} page
 * @param {number} cell
 * @param {'X' | 'O' | 'empty'} mark
 */
const cellShows = (page, cell, mark) =>
  page.locator(`.ttt-cell[data-cell="${cell}"][aria-label$=", ${mark}"]`).waitFor();

/** @param {import('playwright-core').Page} page @param {string} text */
const status = (page, text) => page.locator('#status-line', { hasText: text }).waitFor();

test('two players finish a tic-tac-toe game from a shared link, a spectator sees every move, and a rematch starts', async () => {
  const alice = await newPlayer(browser, server.url);
  const bob = await newPlayer(browser, server.url);
  const carol = await newPlayer(browser, server.url);
  const aliceName = username('alice');
  const bobName = username('bob');

  // Alice signs up and creates a game; she plays X (first).
  await alice.page.goto('/');
  await signUp(alice.page, aliceName);
  const id = await createGame(alice.page, { kind: 'tictactoe', name: 'Noughts and crosses', seat: 'first' });
  await status(alice.page, 'Waiting for an opponent');
  const link = await alice.page.locator('#share-url').inputValue();
  assert.equal(link, `${server.url}/game/${id}`);
  // The copy button puts the link on the clipboard.
  await alice.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  await alice.page.locator('#copy-link').click();
  await alice.page.locator('#copy-link', { hasText: 'Copied!' }).waitFor();
  assert.equal(await alice.page.evaluate(() => navigator.clipboard.readText()), link);

  // Bob opens the link signed out: he sees what he is invited to, signs up, and joins.
  await bob.page.goto(link);
  await bob.page.locator('#invite-card', { hasText: 'Noughts and crosses' }).waitFor();
  await signUp(bob.page, bobName);
  await status(bob.page, 'A seat is free');
  await bob.page.locator('#join-button').click();
  await status(bob.page, `Waiting for ${aliceName}`);
  await status(alice.page, 'Your turn');

  // Carol opens the same link as a guest: the seats are taken, so she watches.
  await carol.page.goto(link);
  await carol.page.locator('#guest-button').click();
  await status(carol.page, `${aliceName} to move`);
  assert.equal(await carol.page.locator('#join-button').count(), 0);

  // X center; O top-left; X top-right (with the keyboard); O bottom-right; X bottom-left wins.
  await alice.page.locator('.ttt-cell[data-cell="4"]').click();
  for (const p of [alice, bob, carol]) await cellShows(p.page, 4, 'X');
  await status(bob.page, 'Your turn');
  await screenshot(bob.page, 'tictactoe-in-progress');

  await bob.page.locator('.ttt-cell[data-cell="0"]').click();
  for (const p of [alice, bob, carol]) await cellShows(p.page, 0, 'O');

  // Keyboard: the focused cell is the grid's tab stop; arrows move, Space plays.
  await status(alice.page, 'Your turn');
  await alice.page.locator('.ttt-cell[data-cell="4"]').focus();
  await alice.page.keyboard.press('ArrowUp');
  await alice.page.keyboard.press('ArrowRight');
  assert.equal(await alice.page.evaluate(() => document.activeElement?.getAttribute('data-cell')), '2');
  await alice.page.keyboard.press('Space');
  for (const p of [alice, bob, carol]) await cellShows(p.page, 2, 'X');

  await status(bob.page, 'Your turn');
  await bob.page.locator('.ttt-cell[data-cell="8"]').focus();
  await bob.page.keyboard.press('Enter');
  for (const p of [alice, bob, carol]) await cellShows(p.page, 8, 'O');

  await status(alice.page, 'Your turn');
  await alice.page.locator('.ttt-cell[data-cell="6"]').click();

  await status(alice.page, 'You won by three in a row');
  await status(bob.page, 'You lost by three in a row');
  await status(carol.page, `${aliceName} won by three in a row`);
  for (const p of [alice, bob, carol]) {
    assert.deepEqual(await moveTexts(p.page), ['b2', 'a3', 'c3', 'c1', 'a1']);
    assert.equal(await p.page.locator('.ttt-cell.win').count(), 3);
  }
  await screenshot(alice.page, 'tictactoe-result');
  await screenshot(carol.page, 'tictactoe-spectator');

  // Rematch: Bob asks, Alice accepts; seats rotate, so Bob is X and moves first.
  await bob.page.locator('#rematch-button').click();
  await alice.page.locator('#rematch-offer', { hasText: `${bobName} wants a rematch` }).waitFor();
  await alice.page.locator('#accept-rematch').click();
  await status(bob.page, 'Your turn');
  await status(alice.page, `Waiting for ${bobName}`);
  await status(carol.page, `${bobName} to move`);
  for (const p of [alice, bob, carol]) {
    for (let c = 0; c < 9; c++) await cellShows(p.page, c, 'empty');
    assert.deepEqual(await moveTexts(p.page), []);
  }
  await bob.page.locator('.ttt-cell[data-cell="4"]').click();
  for (const p of [alice, bob, carol]) await cellShows(p.page, 4, 'X');
  await status(alice.page, 'Your turn');

  assertNoConsoleErrors([alice, bob, carol]);
  await Promise.all([alice, bob, carol].map((p) => p.context.close()));
});
