// Chat (issue 8): two players chat beside the board during a game, one reloads and sees the
// whole conversation again (from the server's history), and the chat keeps working; the
// unread counter counts the other player's messages while the input is not focused.

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

/** @param {Page} page @param {string} text */
async function say(page, text) {
  await page.locator('#game-chat-input').fill(text);
  await page.locator('#game-chat-input').press('Enter');
  await page.locator('#game-chat-list .chat-msg', { hasText: text }).waitFor();
}

/** @param {Page} page */
async function messages(page) {
  return page.locator('#game-chat-list .chat-msg .chat-text').allTextContents();
}

test('two players chat during a game, and one reloads and sees the history', async () => {
  const alice = await newPlayer(browser, server.url);
  const bob = await newPlayer(browser, server.url);
  await alice.page.goto('/');
  await signUp(alice.page, username('alice'));
  await createGame(alice.page, { kind: 'tictactoe', name: 'Chatty', seat: 'first' });
  const link = await alice.page.locator('#share-url').inputValue();
  await bob.page.goto(link);
  await signUp(bob.page, username('bob'));
  await bob.page.locator('#join-button').click();
  for (const page of [alice.page, bob.page]) {
    await page.locator('#game-page[data-state="in_progress"]').waitFor();
    // The system message for the join is in the players' chat.
    await page.locator('#game-chat-list .chat-system', { hasText: 'joined the game' }).first().waitFor();
  }

  await say(alice.page, 'good luck!');
  await bob.page.locator('#game-chat-list .chat-msg', { hasText: 'good luck!' }).waitFor();
  // Bob's input is not focused: one unread message.
  await bob.page.locator('#game-chat-unread', { hasText: '1' }).waitFor();
  await say(bob.page, 'you too');
  await bob.page.locator('#game-chat-unread').waitFor({ state: 'hidden' });
  await alice.page.locator('#game-chat-list .chat-msg', { hasText: 'you too' }).waitFor();
  await say(alice.page, 'third');
  await bob.page.locator('#game-chat-list .chat-msg', { hasText: 'third' }).waitFor();

  await bob.page.reload();
  await bob.page.locator('#game-chat-list .chat-msg', { hasText: 'third' }).waitFor();
  assert.deepEqual(await messages(bob.page), ['good luck!', 'you too', 'third']);
  await say(bob.page, 'back again');
  await alice.page.locator('#game-chat-list .chat-msg', { hasText: 'back again' }).waitFor();
  assert.deepEqual(await messages(alice.page), ['good luck!', 'you too', 'third', 'back again']);
  await screenshot(alice.page, 'chat');
  assertNoConsoleErrors([alice, bob]);
});
