// Two people play a light-cycles session (real-time) in two browsers: the canvas draws the
// arena, the scoreboard counts, one steers with the keyboard and the on-screen buttons
// during each round's countdown, the other drives straight on, and the session ends with a
// winner on both screens.

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
  server = await startServer({ dir, env: { VERSUS_REALTIME_TICK_HZ: '20', VERSUS_REALTIME_COUNTDOWN_MS: '1500' } });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await removeDir(dir);
});

/** @param {import('playwright-core').Page} page @param {string} text */
const status = (page, text) => page.locator('#status-line', { hasText: text }).waitFor();

/**
 * The board's state as the page shows it.
 * @param {import('playwright-core').Page} page
 */
async function boardState(page) {
  return page.locator('.lc-board').evaluate((el) => {
    const d = /** @type {HTMLElement} */ (el).dataset;
    const [width, height] = (d.size ?? '0x0').split('x').map(Number);
    return {
      round: Number(d.round), tick: Number(d.tick), frozenUntil: Number(d.frozenUntil),
      width, height, cycles: JSON.parse(d.cycles ?? '[]'),
    };
  });
}

/**
 * The turn that leads seat 0's cycle to the nearest side wall (never a reversal).
 * @param {{ width: number, height: number, cycles: { x: number, y: number, dir: string }[] }} s
 */
function towardsAWall(s) {
  const c = s.cycles[0];
  if (c.dir === 'left' || c.dir === 'right') return c.y < s.height / 2 ? 'up' : 'down';
  return c.x < s.width / 2 ? 'left' : 'right';
}

/** @type {Record<string, string>} */
const KEY = { up: 'ArrowUp', down: 'ArrowDown', left: 'a', right: 'd' };

test('two players play a light-cycles session to the end in two browsers', async () => {
  const alice = await newPlayer(browser, server.url);
  const bob = await newPlayer(browser, server.url);
  const aliceName = username('alice');
  const bobName = username('bob');

  await alice.page.goto('/');
  await signUp(alice.page, aliceName);
  const id = await createGame(alice.page, { kind: 'lightcycles', name: 'Grid night', seat: 'first' });
  await status(alice.page, 'Waiting for an opponent');

  await bob.page.goto(`/game/${id}`);
  await signUp(bob.page, bobName);
  await status(bob.page, 'A seat is free');
  await bob.page.locator('#join-button').click();
  for (const p of [alice, bob]) {
    await status(p.page, 'Live: steer your cycle');
    await p.page.locator('#lc-canvas').waitFor();
  }

  // Each round, during the countdown, Alice turns towards the nearest side wall (round 2
  // with the on-screen buttons, the others with the keyboard); Bob drives straight on, so
  // he scores every round.
  let steered = 0;
  for (;;) {
    await alice.page.waitForFunction(
      (done) => {
        const page = document.getElementById('game-page');
        const el = /** @type {HTMLElement | null} */ (document.querySelector('.lc-board'));
        if (page?.dataset.state === 'finished') return true;
        return !!el && Number(el.dataset.round) > done && Number(el.dataset.tick) < Number(el.dataset.frozenUntil);
      },
      steered,
    );
    if (await alice.page.locator('#game-page[data-state="finished"]').count()) break;
    const s = await boardState(alice.page);
    const dir = towardsAWall(s);
    if (s.round === 2) await alice.page.locator(`.lc-pad [data-dir="${dir}"]`).click();
    else await alice.page.keyboard.press(KEY[dir]);
    steered = s.round;
    if (s.round === 1) await screenshot(bob.page, 'lightcycles-countdown');
  }
  assert.equal(steered, 3, 'three rounds were played');
  for (const p of [alice, bob]) {
    await p.page.locator('#game-page[data-state="finished"]').waitFor();
    await p.page.locator('#lc-banner', { hasText: 'Orange wins the session.' }).waitFor();
    await p.page.locator('.lc-score[data-seat="1"] .lc-points', { hasText: '3 / 3' }).waitFor();
    await p.page.locator('.lc-score[data-seat="0"] .lc-points', { hasText: '0 / 3' }).waitFor();
  }
  await screenshot(alice.page, 'lightcycles-finished');
  assertNoConsoleErrors([alice, bob]);
});
