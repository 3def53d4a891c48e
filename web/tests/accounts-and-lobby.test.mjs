// Signing up, logging in and out, guests, errors next to the field that caused them; the
// lobby: live-updating open games, one-click join, the create form with every setting,
// private games, cancelling a game; and the pages on a phone-sized screen.

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

/** @typedef {import('playwright-core').Page} Page */

/**
 * The error shown under a field of a form.
 * @param {Page} page
 * @param {string} form
 * @param {string} field
 */
const fieldError = (page, form, field) => page.locator(`${form} [data-field="${field}"] .field-error`);

/** Chromium logs every 4xx response; these tests provoke them on purpose. */
const EXPECTED_HTTP_ERRORS = [/Failed to load resource: the server responded with a status of (401|409|422)/];

test('sign-up, log-in and guest errors appear next to the field that caused them, and logging out works', async () => {
  const p = await newPlayer(browser, server.url);
  const { page } = p;
  await page.goto('/');
  await page.getByRole('heading', { name: 'Play with friends, live.' }).waitFor();
  await screenshot(page, 'login');

  // Every field wrong at once: the server's errors[] land under each field.
  const su = '#signup-form';
  await page.locator(su).getByLabel('Username').fill('a!');
  await page.locator(su).getByLabel('Email').fill('not-an-email');
  await page.locator(su).getByLabel('Password').fill('short');
  await page.locator(su).getByRole('button', { name: 'Create account' }).click();
  await fieldError(page, su, 'username').waitFor();
  assert.match(await fieldError(page, su, 'username').innerText(), /username/i);
  assert.match(await fieldError(page, su, 'email').innerText(), /email/i);
  assert.match(await fieldError(page, su, 'password').innerText(), /8 characters/);
  assert.equal(await page.locator(`${su} [aria-invalid="true"]`).count(), 3);
  await screenshot(page, 'signup-errors');

  // A good sign-up, then log out.
  const name = username('dana');
  await page.locator(su).getByLabel('Username').fill(name);
  await page.locator(su).getByLabel('Email').fill(`${name}@example.com`);
  await page.locator(su).getByLabel('Password').fill('correct horse battery');
  await page.locator(su).getByRole('button', { name: 'Create account' }).click();
  await page.locator('#user-name', { hasText: name }).waitFor();
  await page.getByRole('heading', { name: 'Open games' }).waitFor();
  await page.locator('#logout-button').click();
  await page.locator('#signup-form').waitFor();
  assert.equal(await page.evaluate(() => localStorage.getItem('versus.session')), null);

  // The same username again: "taken", under the username.
  await page.locator(su).getByLabel('Username').fill(name.toUpperCase());
  await page.locator(su).getByLabel('Email').fill(`other-${name}@example.com`);
  await page.locator(su).getByLabel('Password').fill('correct horse battery');
  await page.locator(su).getByRole('button', { name: 'Create account' }).click();
  await fieldError(page, su, 'username').waitFor();
  assert.match(await fieldError(page, su, 'username').innerText(), /taken/i);
  assert.equal(await fieldError(page, su, 'email').isVisible(), false);

  // Log in: a wrong password is reported under the password; then the right one works.
  await page.getByRole('tab', { name: 'Log in' }).click();
  const li = '#login-form';
  await page.locator(li).getByLabel('Username or email').fill(name);
  await page.locator(li).getByLabel('Password').fill('wrong password!');
  await page.locator(li).getByRole('button', { name: 'Log in' }).click();
  await fieldError(page, li, 'password').waitFor();
  assert.match(await fieldError(page, li, 'password').innerText(), /not right/);
  await page.locator(li).getByLabel('Password').fill('correct horse battery');
  await page.locator(li).getByRole('button', { name: 'Log in' }).click();
  await page.locator('#user-name', { hasText: name }).waitFor();

  // A reload keeps the session (the token is in localStorage, never in the URL).
  await page.reload();
  await page.locator('#user-name', { hasText: name }).waitFor();
  assert.ok(!page.url().includes('token'));

  // Log out, then play as a guest.
  await page.locator('#logout-button').click();
  await page.locator('#guest-button').click();
  await page.locator('#user-name', { hasText: 'guest-' }).waitFor();
  await page.locator('.guest-badge').waitFor();

  assertNoConsoleErrors([p], EXPECTED_HTTP_ERRORS);
  await p.context.close();
});

test('the lobby lists new games without a reload, joins with one click, and creates games with every setting', async () => {
  const alice = await newPlayer(browser, server.url);
  const bob = await newPlayer(browser, server.url);
  const aliceName = username('alice');
  const bobName = username('bob');
  await alice.page.goto('/');
  await signUp(alice.page, aliceName);
  await bob.page.goto('/');
  await signUp(bob.page, bobName);

  // Bob creates a public game; Alice's lobby shows it by itself.
  const gameName = `Connect with ${bobName}`;
  const id = await createGame(bob.page, { kind: 'connect4', name: gameName, seat: 'first' });
  const row = alice.page.locator(`#open-games [data-game-id="${id}"]`);
  await row.waitFor({ timeout: 10_000 });
  assert.match(await row.innerText(), /Connect Four/);
  await screenshot(alice.page, 'lobby');

  // One click on Join: Alice is in the game, and Bob's page starts it.
  await row.getByRole('button', { name: `Join ${gameName}` }).click();
  await alice.page.waitForURL(`**/game/${id}`);
  await bob.page.locator('#status-line', { hasText: 'Your turn' }).waitFor();
  await alice.page.locator('#status-line', { hasText: `Waiting for ${bobName}` }).waitFor();

  // Every setting of the create form reaches the server: a private, rated chess game with a
  // custom clock and a description, where the creator plays the second seat (Black).
  await alice.page.locator('#lobby-link, a.brand').first().click();
  await alice.page.getByRole('heading', { name: 'Create a game' }).waitFor();
  const form = alice.page.locator('#create-form');
  await form.locator('label[for="kind-chess"]').click();
  await form.getByLabel('Name').fill('Secret blitz');
  await form.getByLabel('Description (optional)').fill('Friends only, no takebacks.');
  await form.getByLabel('Time control').selectOption('custom');
  await form.getByLabel('Minutes each').fill('2');
  await form.getByLabel('Increment (seconds)').fill('1');
  await form.getByLabel('Your side').selectOption('second');
  await form.getByLabel('Rated').check();
  await form.locator('#vis-private').check();
  await form.getByRole('button', { name: 'Create game' }).click();
  await alice.page.waitForURL(/\/game\/[0-9a-f-]{36}$/);
  const privateId = /** @type {string} */ (new URL(alice.page.url()).pathname.split('/').pop());
  await alice.page.locator('.game-meta', { hasText: 'Chess · 2 + 1 · Rated · Private' }).waitFor();
  await alice.page.locator('.game-desc', { hasText: 'Friends only, no takebacks.' }).waitFor();
  await alice.page.locator('#player-bottom', { hasText: 'Black' }).waitFor();
  // A private game is seen only by its insiders: the creator (with her token), not anyone
  // who merely holds the id.
  const aliceToken = await alice.page.evaluate(() => JSON.parse(localStorage.getItem('versus.session') ?? '{}').token);
  assert.equal((await fetch(`${server.url}/api/v1/games/${privateId}`)).status, 404);
  const view = await (await fetch(`${server.url}/api/v1/games/${privateId}`, { headers: { authorization: `Bearer ${aliceToken}` } })).json();
  assert.deepEqual(view.settings, {
    time_control: { initial_seconds: 120, increment_seconds: 1 },
    rated: true,
    visibility: 'private',
    creator_seat: 'second',
  });
  assert.equal(view.participants[0].seat, 1);

  // Private games stay out of the lobby.
  await bob.page.goto('/');
  await bob.page.getByRole('heading', { name: 'Open games' }).waitFor();
  await bob.page.locator('#lobby-updated', { hasText: 'Updated' }).waitFor();
  await bob.page.waitForTimeout(3500);
  assert.equal(await bob.page.locator(`#open-games [data-game-id="${privateId}"]`).count(), 0);

  // A link to a game that does not exist says so.
  await bob.page.goto('/game/00000000-0000-4000-8000-000000000000');
  await bob.page.getByRole('heading', { name: 'Game not found' }).waitFor();

  // The creator can cancel a game nobody joined.
  await alice.page.locator('#abort-button', { hasText: 'Cancel game' }).click();
  await alice.page.locator('#status-line', { hasText: 'Game aborted' }).waitFor();

  assertNoConsoleErrors([alice, bob]);
  await Promise.all([alice.context.close(), bob.context.close()]);
});

test('on a phone-sized screen the lobby and a game fit the width and can be played', async () => {
  const phone = { viewport: { width: 390, height: 844 }, isMobile: true };
  const alice = await newPlayer(browser, server.url, phone);
  const bob = await newPlayer(browser, server.url, phone);
  await alice.page.goto('/');
  await screenshot(alice.page, 'phone-login');
  await signUp(alice.page, username('amy'));
  await alice.page.getByRole('heading', { name: 'Open games' }).waitFor();
  await screenshot(alice.page, 'phone-lobby');
  // (A phone zooms out to fit a too-wide page, so compare with the screen's own width.)
  const wide = await alice.page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(wide <= phone.viewport.width, `the lobby is ${wide}px wide on a ${phone.viewport.width}px screen`);
  const id = await createGame(alice.page, { kind: 'connect4', name: 'Pocket four', seat: 'first' });
  await bob.page.goto(`/game/${id}`);
  await bob.page.locator('#guest-button').click();
  await bob.page.locator('#join-button').click();

  // Red stacks column 4; yellow answers in column 1: red wins with four in a column.
  for (let i = 0; i < 7; i++) {
    const { page } = i % 2 === 0 ? alice : bob;
    await page.locator('#status-line', { hasText: 'Your turn' }).waitFor();
    await page.locator(`.c4-column[data-column="${i % 2 === 0 ? 3 : 0}"]`).tap();
    await alice.page.waitForFunction((n) => document.querySelectorAll('#move-list .move').length === n, i + 1);
  }
  await alice.page.locator('#status-line', { hasText: 'You won by four in a row' }).waitFor();
  await bob.page.locator('#status-line', { hasText: 'You lost by four in a row' }).waitFor();
  assert.equal(await alice.page.locator('.c4-slot.win').count(), 4);

  // Nothing overflows sideways.
  for (const { page } of [alice, bob]) {
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= phone.viewport.width, `the game page is ${width}px wide on a ${phone.viewport.width}px screen`);
  }
  await screenshot(alice.page, 'phone-connect4-result');

  assertNoConsoleErrors([alice, bob]);
  await Promise.all([alice.context.close(), bob.context.close()]);
});
