// Social in the browser (issue 9): two players become friends and see each other's presence;
// one creates a game and invites the other, who accepts from the notifications menu, and they
// play to the end; an invite link is created, revoked (it stops working) and created again,
// and a signed-out visitor joins through it as a guest.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, dataDir, removeDir, launch, newPlayer, signUp, createGame, screenshot, username,
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
  // Short presence windows, so presence changes show quickly.
  server = await startServer({ dir, env: { VERSUS_PRESENCE_COALESCE_MS: '100', VERSUS_PRESENCE_REFRESH_MS: '500' } });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await removeDir(dir);
});

/** @param {import('playwright-core').Page} page @param {string} text */
const status = (page, text) => page.locator('#status-line', { hasText: text }).waitFor();

/** @param {import('playwright-core').Page} page @param {number} cell @param {'X' | 'O'} mark */
const cellShows = (page, cell, mark) => page.locator(`.ttt-cell[data-cell="${cell}"][aria-label$=", ${mark}"]`).waitFor();

test('friends see each other online; an invite accepted from the notifications menu starts a game they play to the end', async () => {
  const alice = await newPlayer(browser, server.url);
  const bob = await newPlayer(browser, server.url);
  const aliceName = username('alice');
  const bobName = username('bob');
  for (const [p, name] of /** @type {const} */ ([[alice, aliceName], [bob, bobName]])) {
    await p.page.goto('/');
    await signUp(p.page, name);
    await p.page.locator('#friend-list:not([aria-busy])').waitFor();
  }

  // Alice asks Bob; a wrong name is refused next to the field.
  await alice.page.locator('#add-friend-username').fill('nobody-by-that-name');
  await alice.page.locator('#add-friend-button').click();
  await alice.page.locator('#add-friend-error', { hasText: 'There is no player called' }).waitFor();
  await alice.page.locator('#add-friend-username').fill(bobName);
  await alice.page.locator('#add-friend-button').click();
  await alice.page.locator(`.friend-request.outgoing[data-username="${bobName}"]`).waitFor();

  // Bob hears of it live: the bell counts it, and he accepts from the menu.
  await bob.page.locator('#notif-count', { hasText: '1' }).waitFor();
  await bob.page.locator(`.friend-request.incoming[data-username="${aliceName}"]`).waitFor();
  await bob.page.locator('#notif-button').click();
  const request = bob.page.locator('.notification[data-kind="friend_request"]');
  await request.locator('.notif-accept').click();
  await bob.page.locator(`.friend[data-username="${aliceName}"][data-status="online"]`).waitFor();
  await bob.page.locator('#notif-count').waitFor({ state: 'hidden' });
  await bob.page.keyboard.press('Escape');
  // Alice's list turns the request into a friend, online.
  await alice.page.locator(`.friend[data-username="${bobName}"][data-status="online"]`).waitFor();
  await screenshot(alice.page, 'social-friends');

  // Alice creates a game and invites Bob from its page.
  const id = await createGame(alice.page, { kind: 'tictactoe', name: 'Friendly match', seat: 'first' });
  await alice.page.locator(`.invite-friend[data-username="${bobName}"]`).click();
  await alice.page.locator(`.sent-invite[data-username="${bobName}"]`).waitFor();
  // Bob, on the lobby, sees Alice playing (she is seated in a waiting game: still online) …
  // … and the invite arrives live; he accepts it from the notifications menu.
  await bob.page.locator('#notif-count', { hasText: '1' }).waitFor();
  await bob.page.locator('#notif-button').click();
  const invite = bob.page.locator('.notification[data-kind="invite"]', { hasText: 'Friendly match' });
  await invite.waitFor();
  await screenshot(bob.page, 'social-notifications');
  await invite.locator('.notif-accept').click();
  await bob.page.waitForURL(new RegExp(`/game/${id}$`));
  await bob.page.locator('#game-page[data-state="in_progress"]').waitFor();
  await alice.page.locator('#game-page[data-state="in_progress"]').waitFor();
  // The invite panel is gone once the game runs.
  assert.equal(await alice.page.locator('#invite-panel').count(), 0);

  // They play: X 0, O 3, X 1, O 4, X 2 wins.
  const moves = /** @type {const} */ ([[alice, 0, 'X'], [bob, 3, 'O'], [alice, 1, 'X'], [bob, 4, 'O'], [alice, 2, 'X']]);
  for (const [p, cell, mark] of moves) {
    await status(p.page, 'Your turn');
    await p.page.locator(`.ttt-cell[data-cell="${cell}"]`).click();
    for (const q of [alice, bob]) await cellShows(q.page, cell, mark);
  }
  await status(alice.page, 'You won by three in a row');
  await status(bob.page, 'You lost by three in a row');

  // Back in the lobby, the result waits in Bob's notifications.
  await bob.page.goto('/');
  await bob.page.locator('#notif-button').click();
  await bob.page.locator('.notification[data-kind="game_result"]').waitFor();
  assertNoConsoleErrors([alice, bob], [/the server responded with a status of 404/]);
  await Promise.all([alice, bob].map((p) => p.context.close()));
});

test('an invite link can be revoked, and a new one seats a signed-out visitor after they sign in as a guest', async () => {
  const alice = await newPlayer(browser, server.url);
  const carol = await newPlayer(browser, server.url);
  await alice.page.goto('/');
  await signUp(alice.page, username('alice'));
  const id = await createGame(alice.page, { kind: 'tictactoe', name: 'Private room', visibility: 'private' });

  await alice.page.locator('#create-invite-link').click();
  const revoked = await alice.page.locator('#invite-link-url').inputValue();
  assert.match(revoked, new RegExp(`^${server.url}/invite/[A-Za-z0-9_-]{43,}$`));
  await alice.page.locator('#revoke-invite-link').click();
  await alice.page.locator('#create-invite-link').waitFor();

  // The revoked link is served, but says it no longer works.
  await carol.page.goto(revoked);
  await carol.page.locator('#guest-button').click();
  await carol.page.locator('#invite-unusable', { hasText: 'revoked' }).waitFor();
  await carol.page.locator('#logout-button').click();

  // A new link: Carol opens it signed out, plays as a guest, sees the game and joins.
  await alice.page.locator('#create-invite-link').click();
  const link = await alice.page.locator('#invite-link-url').inputValue();
  assert.notEqual(link, revoked);
  await alice.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  await alice.page.locator('#copy-invite-link').click();
  await alice.page.locator('#copy-invite-link', { hasText: 'Copied!' }).waitFor();
  assert.equal(await alice.page.evaluate(() => navigator.clipboard.readText()), link);

  await carol.page.goto(link);
  await carol.page.getByRole('heading', { name: 'You’re invited to a game' }).waitFor();
  await carol.page.locator('#guest-button').click();
  await carol.page.locator('#invite-card', { hasText: 'Private room' }).waitFor();
  await screenshot(carol.page, 'social-invite-link');
  await carol.page.locator('#invite-join').click();
  await carol.page.waitForURL(new RegExp(`/game/${id}$`));
  await carol.page.locator('#game-page[data-state="in_progress"]').waitFor();
  await alice.page.locator('#game-page[data-state="in_progress"]').waitFor();
  await status(alice.page, 'Your turn');
  // 4xx answers the test provokes on purpose are logged by the browser itself.
  assertNoConsoleErrors([alice, carol], [/the server responded with a status of 40[49]/]);
  await Promise.all([alice, carol].map((p) => p.context.close()));
});

test('from the friends list: invite to a new game (declined from the menu), presence going offline and back, block', async () => {
  const alice = await newPlayer(browser, server.url);
  const bob = await newPlayer(browser, server.url);
  const aliceName = username('alice');
  const bobName = username('bob');
  for (const [p, name] of /** @type {const} */ ([[alice, aliceName], [bob, bobName]])) {
    await p.page.goto('/');
    await signUp(p.page, name);
    await p.page.locator('#friend-list:not([aria-busy])').waitFor();
  }
  await alice.page.locator('#add-friend-username').fill(bobName);
  await alice.page.locator('#add-friend-button').click();
  await bob.page.locator(`.friend-request.incoming[data-username="${aliceName}"] .request-accept`).click();
  const bobRow = alice.page.locator(`.friend[data-username="${bobName}"]`);
  await bobRow.and(alice.page.locator('[data-status="online"]')).waitFor();

  // "Invite" on Bob's row creates a private game of the chosen kind and invites him.
  await bobRow.locator('.challenge-kind').selectOption('connect4');
  await bobRow.locator('.friend-invite').click();
  await alice.page.waitForURL(/\/game\/[0-9a-f-]{36}$/);
  await alice.page.locator('#game-page[data-kind="connect4"][data-state="waiting"]').waitFor();
  await alice.page.locator(`.sent-invite[data-username="${bobName}"]`).waitFor();

  // Bob declines from the notifications menu: the invite's buttons go, it is read. (The
  // friend request he accepted from the list is still unread: 2.)
  await bob.page.locator('#notif-count', { hasText: '2' }).waitFor();
  await bob.page.locator('#notif-button').click();
  const invite = bob.page.locator('.notification[data-kind="invite"]');
  await invite.locator('.notif-decline').click();
  await invite.and(bob.page.locator(':not(.unread)')).waitFor();
  assert.equal(await invite.locator('.notif-accept').count(), 0);
  await bob.page.keyboard.press('Escape');

  // Bob leaves: Alice, back in the lobby, sees him offline with when he was last seen; he
  // comes back and she sees him online.
  await alice.page.goto('/');
  await alice.page.locator(`.friend[data-username="${bobName}"][data-status="online"]`).waitFor();
  await bob.page.goto('about:blank');
  await alice.page.locator(`.friend[data-username="${bobName}"][data-status="offline"]`, { hasText: 'seen' }).waitFor();
  await bob.page.goto('/');
  await alice.page.locator(`.friend[data-username="${bobName}"][data-status="online"]`).waitFor();

  // Bob blocks Alice: they are no longer friends, and she cannot ask again.
  const aliceRow = bob.page.locator(`.friend[data-username="${aliceName}"]`);
  await aliceRow.locator('.friend-more summary').click();
  await aliceRow.locator('.friend-block').click();
  await bob.page.locator(`.friend[data-username="${aliceName}"]`).waitFor({ state: 'detached' });
  await alice.page.reload();
  await alice.page.locator('#friend-list:not([aria-busy])').waitFor();
  assert.equal(await alice.page.locator(`.friend[data-username="${bobName}"]`).count(), 0);
  await alice.page.locator('#add-friend-username').fill(bobName);
  await alice.page.locator('#add-friend-button').click();
  await alice.page.locator('#add-friend-error', { hasText: 'cannot befriend' }).waitFor();
  assertNoConsoleErrors([alice, bob], [/the server responded with a status of 403/]);
  await Promise.all([alice, bob].map((p) => p.context.close()));
});
