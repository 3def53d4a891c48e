// Scorekeeping in the browser (issue 7): two players finish a rated tic-tac-toe game; both
// see their rating change on the result screen; a third player watching the leaderboard sees
// it update live; "find me", the profile (statistics, rating chart, history) and the replay
// of the finished game move by move.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, dataDir, removeDir, launch, newPlayer, signUp, createGame, screenshot,
  username, assertNoConsoleErrors,
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

/** @param {import('playwright-core').Page} page @param {string} text */
const status = (page, text) => page.locator('#status-line', { hasText: text }).waitFor();

test('a rated game changes both ratings live: result screen, leaderboard, profile, history and replay', async () => {
  const alice = await newPlayer(browser, server.url);
  const bob = await newPlayer(browser, server.url);
  const carol = await newPlayer(browser, server.url);
  const aliceName = username('alice');
  const bobName = username('bob');
  const carolName = username('carol');

  // Carol watches the tic-tac-toe leaderboard: empty for now.
  await carol.page.goto('/');
  await signUp(carol.page, carolName);
  await carol.page.locator('#nav-leaderboard').click();
  await carol.page.locator('#leaderboard-page[data-kind="chess"]').waitFor();
  await carol.page.locator('.kind-tabs a', { hasText: 'Tic-tac-toe' }).click();
  await carol.page.locator('#leaderboard-page[data-kind="tictactoe"] #leaderboard-empty').waitFor();

  // Alice creates a rated game; Bob joins from the link; Alice wins with the top row.
  await alice.page.goto('/');
  await signUp(alice.page, aliceName);
  const id = await createGame(alice.page, { kind: 'tictactoe', name: 'Ranked noughts', seat: 'first', rated: true });
  await bob.page.goto(`/game/${id}`);
  await signUp(bob.page, bobName);
  await bob.page.locator('#join-button').click();
  await status(alice.page, 'Your turn');
  const cells = [0, 3, 1, 4, 2];
  for (const [i, cell] of cells.entries()) {
    const p = i % 2 === 0 ? alice : bob;
    await status(p.page, 'Your turn');
    await p.page.locator(`.ttt-cell[data-cell="${cell}"]`).click();
  }
  await status(alice.page, 'You won');
  await status(bob.page, 'You lost');

  // The result screens show the rating change at once (Glicko-2 from 1500: +162 / −162).
  await alice.page.locator('#rating-change', { hasText: 'Rating 1662 (+162)' }).waitFor();
  await bob.page.locator('#rating-change', { hasText: 'Rating 1338 (\u2212162)' }).waitFor();
  await screenshot(alice.page, 'ratings-result-screen');

  // Carol's leaderboard updated live, without a reload.
  await carol.page.locator('#leaderboard-table tr[data-player]').nth(1).waitFor();
  const names = await carol.page.locator('#leaderboard-table tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-player')));
  assert.deepEqual(names, [aliceName, bobName]);
  assert.equal((await carol.page.locator('#leaderboard-table tbody tr').first().locator('.score').textContent()), '1662?');
  await screenshot(carol.page, 'ratings-leaderboard');

  // Bob finds himself on the board: his row is highlighted.
  await bob.page.goto('/leaderboard/tictactoe');
  await bob.page.locator('#find-me').click();
  await bob.page.locator('#leaderboard-table tr.me', { hasText: bobName }).waitFor();
  assert.equal(await bob.page.locator('#leaderboard-table tr.me .rank').textContent(), '2');

  // Alice's profile: statistics, the chart, the history with a replay link.
  await alice.page.locator('#profile-link').click();
  await alice.page.locator('#player-page .kind-stats[data-kind="tictactoe"] .stat-rating', { hasText: '1662 (provisional)' }).waitFor();
  assert.equal(await alice.page.locator('.kind-stats[data-kind="tictactoe"] .stat-rank').textContent(), '#1');
  assert.equal(await alice.page.locator('.kind-stats[data-kind="tictactoe"] .stat-wld').textContent(), '1 / 0 / 0');
  assert.equal(await alice.page.locator('.kind-stats[data-kind="tictactoe"] svg.rating-chart circle').count(), 2);
  const row = alice.page.locator('#history-rows tr').first();
  await row.waitFor();
  assert.match(await row.textContent() ?? '', new RegExp(`${bobName}win\\+162Replay`));
  await screenshot(alice.page, 'ratings-profile');

  // The replay, move by move.
  await row.locator('.replay-link').click();
  await alice.page.locator('#replay-label', { hasText: 'Start · 5 moves' }).waitFor();
  await alice.page.locator('#replay-next').click();
  await alice.page.locator('#replay-label', { hasText: 'Move 1 of 5' }).waitFor();
  assert.equal(await alice.page.locator('#replay-board td').nth(0).textContent(), 'X');
  await alice.page.locator('#replay-last').click();
  await alice.page.locator('#replay-label', { hasText: 'Move 5 of 5' }).waitFor();
  const top = await alice.page.locator('#replay-board tr').first().locator('td').allTextContents();
  assert.deepEqual(top, ['X', 'X', 'X']);
  assert.equal(await alice.page.locator('#replay-next').isDisabled(), true);
  await alice.page.locator('#replay-first').click();
  await alice.page.locator('#replay-label', { hasText: 'Start' }).waitFor();
  await screenshot(alice.page, 'ratings-replay');

  assertNoConsoleErrors([alice, bob, carol]);
});
