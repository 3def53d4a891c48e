// Two people play a light-cycles session (real-time) in two browsers: the canvas draws the
// arena, the scoreboard counts, one steers with the keyboard and the on-screen buttons
// during each round's countdown, the other drives straight on, and the session ends with a
// winner on both screens; its points are on the kind's points board. Then the same on a
// touch screen: steering by a swipe on the arena and by tapping the on-screen pad.

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
  // A countdown long enough for a steering gesture to land in it even on a loaded machine: a
  // turn that lands after the round has started can let the cycles meet head-on (a draw) or
  // let Bob run into Alice's trail, and the session then takes more than two rounds.
  server = await startServer({ dir, env: { VERSUS_REALTIME_TICK_HZ: '25', VERSUS_REALTIME_COUNTDOWN_MS: '4000' } });
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

/**
 * Creates a light-cycles game through the lobby form with `points` to win, after checking
 * that the form refuses an out-of-range value next to the field.
 * @param {import('playwright-core').Page} page
 * @param {number} points
 */
async function createArena(page, points) {
  const form = page.locator('#create-form');
  await form.locator('label[for="kind-lightcycles"]').click();
  const field = form.getByLabel('Points to win');
  await field.fill('30');
  await form.getByLabel('Name').fill('Grid night');
  await form.getByRole('button', { name: 'Create game' }).click();
  await form.locator('[data-field="points_to_win"] .field-error', { hasText: '1 to 25' }).waitFor();
  await field.fill(String(points));
  return createGame(page, { kind: 'lightcycles', name: 'Grid night', seat: 'first' });
}

/**
 * Waits until the page shows a round after `done` in its countdown (or the end); returns the
 * board then, or null once the session is over.
 * @param {import('playwright-core').Page} page
 * @param {number} done the last round steered
 */
async function nextCountdown(page, done) {
  await page.waitForFunction(
    (d) => {
      const pg = document.getElementById('game-page');
      const el = /** @type {HTMLElement | null} */ (document.querySelector('.lc-board'));
      if (pg?.dataset.state === 'finished') return true;
      return !!el && Number(el.dataset.round) > d && Number(el.dataset.tick) < Number(el.dataset.frozenUntil);
    },
    done,
  );
  if (await page.locator('#game-page[data-state="finished"]').count()) return null;
  return boardState(page);
}

/**
 * The points board of light cycles, as the leaderboard page shows it: `name → [points,
 * sessions]`.
 * @param {import('playwright-core').Page} page
 */
async function pointsBoard(page) {
  await page.goto('/leaderboard/lightcycles');
  await page.locator('#points-table').waitFor();
  return page.locator('#points-table tbody tr').evaluateAll((rows) => Object.fromEntries(rows.map((r) => {
    const el = /** @type {HTMLElement} */ (r);
    return [el.dataset.player, [Number(el.querySelector('.points')?.textContent), Number(el.querySelector('.sessions')?.textContent)]];
  })));
}

test('two players play a light-cycles session to the end in two browsers', async () => {
  const alice = await newPlayer(browser, server.url);
  const bob = await newPlayer(browser, server.url);
  const aliceName = username('alice');
  const bobName = username('bob');

  await alice.page.goto('/');
  await signUp(alice.page, aliceName);
  const id = await createArena(alice.page, 2);
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
    const s = await nextCountdown(alice.page, steered);
    if (!s) break;
    const dir = towardsAWall(s);
    if (s.round === 2) await alice.page.locator(`.lc-pad [data-dir="${dir}"]`).click();
    else await alice.page.keyboard.press(KEY[dir]);
    steered = s.round;
    if (s.round === 1) await screenshot(bob.page, 'lightcycles-countdown');
  }
  assert.equal(steered, 2, 'two rounds were played (2 points to win)');
  for (const p of [alice, bob]) {
    await p.page.locator('#game-page[data-state="finished"]').waitFor();
    await p.page.locator('#lc-banner', { hasText: 'Orange wins the session.' }).waitFor();
    await p.page.locator('.lc-score[data-seat="1"] .lc-points', { hasText: '2 / 2' }).waitFor();
    await p.page.locator('.lc-score[data-seat="0"] .lc-points', { hasText: '0 / 2' }).waitFor();
  }
  await screenshot(alice.page, 'lightcycles-finished');
  // The session's points are on the kind's points board.
  const board = await pointsBoard(alice.page);
  assert.deepEqual(board[bobName], [2, 1]);
  assert.deepEqual(board[aliceName], [0, 1]);
  await alice.page.locator('#points-table tr.me', { hasText: aliceName }).waitFor();
  await screenshot(alice.page, 'lightcycles-points');
  assertNoConsoleErrors([alice, bob]);
});

test('on a touch screen a player steers by swiping the arena and tapping the pad', async () => {
  const alice = await newPlayer(browser, server.url, { viewport: { width: 390, height: 844 }, isMobile: true });
  const bob = await newPlayer(browser, server.url);
  const aliceName = username('alice');
  const bobName = username('bob');
  // What Alice's page says to the server, and what it answers: the inputs the server accepted.
  /** @type {string[]} */
  const sent = [];
  let accepted = 0;
  /** @type {number[]} the ticks the accepted inputs were queued for */
  const ticks = [];
  alice.page.on('websocket', (ws) => {
    ws.on('framesent', (f) => {
      const m = typeof f.payload === 'string' ? JSON.parse(f.payload) : null;
      if (m?.type === 'input') sent.push(m.dir);
    });
    ws.on('framereceived', (f) => {
      const m = typeof f.payload === 'string' ? JSON.parse(f.payload) : null;
      if (m?.type === 'input_accepted') {
        accepted += 1;
        ticks.push(m.tick);
      }
    });
  });

  await alice.page.goto('/');
  await signUp(alice.page, aliceName);
  const id = await createArena(alice.page, 2);
  await bob.page.goto(`/game/${id}`);
  await signUp(bob.page, bobName);
  await bob.page.locator('#join-button').click();
  await status(alice.page, 'Live: steer your cycle');
  // A page that starts from a snapshot (a reload, a resync) animates at the server's tick
  // period, 40 ms at 25 Hz, not a default.
  await bob.page.reload();
  await status(bob.page, 'Live: steer your cycle');
  assert.equal(await bob.page.locator('.lc-board').getAttribute('data-tick-ms'), '40');

  const cdp = await alice.context.newCDPSession(alice.page);
  const canvas = alice.page.locator('#lc-canvas');
  let steered = 0;
  /** @type {number[]} each round's first moving tick */
  const starts = [];
  for (;;) {
    const s = await nextCountdown(alice.page, steered);
    if (!s) break;
    const dir = towardsAWall(s);
    starts.push(s.frozenUntil);
    const before = accepted;
    if (s.round === 1) {
      // A swipe across the arena, through the browser's touch input.
      await canvas.scrollIntoViewIfNeeded();
      const box = await canvas.boundingBox();
      assert.ok(box, 'the arena is on screen');
      const x = box.x + box.width / 2;
      const y = box.y + box.height / 2;
      const [dx, dy] = { up: [0, -80], down: [0, 80], left: [-80, 0], right: [80, 0] }[dir] ?? [0, 0];
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [{ x, y }] });
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [{ x: x + dx / 2, y: y + dy / 2 }] });
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [{ x: x + dx, y: y + dy }] });
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
    } else {
      await alice.page.locator(`.lc-pad [data-dir="${dir}"]`).tap();
    }
    const deadline = Date.now() + 10_000;
    while (accepted === before) {
      assert.ok(Date.now() < deadline, `round ${s.round}: the server accepted no input`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(sent.at(-1), dir, `round ${s.round}: the ${s.round === 1 ? 'swipe' : 'tap'} steered ${dir}`);
    steered = s.round;
  }
  assert.equal(steered, 2, `two rounds were played (inputs queued for ticks ${ticks}, rounds moving from ${starts})`);
  assert.equal(sent.length, 2, 'one input per gesture');
  // Alice's turns took her cycle into the wall each round: Bob won both.
  for (const p of [alice, bob]) {
    await p.page.locator('#game-page[data-state="finished"]').waitFor();
    await p.page.locator('.lc-score[data-seat="1"] .lc-points', { hasText: '2 / 2' }).waitFor();
    await p.page.locator('.lc-score[data-seat="0"] .lc-points', { hasText: '0 / 2' }).waitFor();
  }
  await screenshot(alice.page, 'lightcycles-touch');
  assertNoConsoleErrors([alice, bob]);
});
