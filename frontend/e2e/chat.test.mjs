// The built page in real Chromium against the real backend (embedded defaults).
// The tests share one backend and run in order: the last one stops it.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS_DIR, DIST_DIR, launchBrowser, serveStatic, startBackend } from './harness.mjs';

const QUESTION = 'How do I deploy the backend to Hugging Face Spaces?';
const SCREENSHOT = path.join(ARTIFACTS_DIR, 'chat.png');
/** A complete answer (a streaming one is still growing and has no sources yet). */
const ANSWER = '#messages .message.assistant:not(.streaming)';

let site; // the page's allowed origin
let stranger; // the same page from an origin the backend does not allow
let backend;
let browser;

before(async () => {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  site = await serveStatic(DIST_DIR);
  stranger = await serveStatic(DIST_DIR);
  backend = await startBackend({ origins: [`http://localhost:${site.port}`] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await backend?.stop();
  await site?.close();
  await stranger?.close();
});

/** A fresh profile on the page, collecting console errors and uncaught exceptions. */
async function openPage(port, viewport = { width: 1100, height: 1100 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  await page.goto(`http://localhost:${port}/`);
  await page.locator('#message:enabled').waitFor();
  return { context, page, problems };
}

/** Records whether the thinking state was shown, however briefly. */
async function watchThinking(page) {
  await page.evaluate(() => {
    window.__sawThinking = false;
    new MutationObserver(() => {
      if (document.querySelector('#messages .message.thinking')) window.__sawThinking = true;
    }).observe(document.getElementById('messages'), { childList: true, subtree: true });
  });
}

test('a question typed with the keyboard gets an answer with its sources, without a console error', async () => {
  const { context, page, problems } = await openPage(site.port);
  try {
    assert.equal(
      await page.evaluate(() => document.activeElement?.id),
      'message',
      'the question box has focus on load',
    );
    await watchThinking(page);
    const chatRequests = [];
    page.on('request', (request) => {
      if (request.method() === 'POST') chatRequests.push(new URL(request.url()).pathname);
    });
    await page.keyboard.type(QUESTION);
    await page.keyboard.press('Enter');

    const answer = page.locator(ANSWER).last();
    await answer.waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('#messages .message.user .text').last().innerText(), QUESTION);
    assert.ok(await page.evaluate(() => window.__sawThinking), 'the thinking state was shown while waiting');
    assert.deepEqual(chatRequests, ['/api/chat/stream'], 'the answer was streamed');
    assert.ok((await answer.locator('.text').innerText()).trim().length > 0, 'the answer has text');
    const sources = answer.locator('.source');
    assert.ok((await sources.count()) >= 1, 'the answer lists at least one source');
    assert.ok((await sources.first().locator('.source-title').innerText()).trim(), 'a source has a title');
    assert.equal(await page.locator('#messages .message.error').count(), 0);
    assert.equal(await page.locator('#send').isEnabled(), true, 'sending is possible again');

    await page.screenshot({ path: SCREENSHOT });

    // The session survives a reload: the conversation comes back from the backend.
    const sessionId = await page.evaluate(() => localStorage.getItem('rag-chatbot.session-id'));
    assert.match(sessionId ?? '', /^[0-9a-f-]{36}$/, 'the session id is stored');
    const answerText = await answer.locator('.text').innerText();
    await page.reload();
    await page.locator(ANSWER).first().waitFor();
    assert.equal(await page.locator('#messages .message.user .text').first().innerText(), QUESTION);
    assert.equal(await page.locator('#messages .message.assistant .text').first().innerText(), answerText);
    assert.ok((await page.locator('#messages .message.assistant .source').count()) >= 1, 'restored sources');

    // "New conversation" from the keyboard clears the page and the stored session.
    await page.locator('#new-chat').focus();
    await page.keyboard.press('Enter');
    assert.equal(await page.locator('#messages .message').count(), 0);
    assert.equal(await page.locator('#welcome').isVisible(), true);
    assert.equal(await page.evaluate(() => localStorage.getItem('rag-chatbot.session-id')), null);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'message', 'focus returns to the question box');

    assert.deepEqual(problems, [], 'no console errors');
  } finally {
    await context.close();
  }
});

test('a phone-width screen shows the whole chat without horizontal scrolling', async () => {
  const { context, page, problems } = await openPage(site.port, { width: 360, height: 740 });
  try {
    await page.locator('.suggestion').first().click();
    await page.locator(ANSWER).waitFor({ timeout: 30_000 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
    assert.equal(await page.locator('#send').isVisible(), true);
    assert.equal(await page.locator('#new-chat').isVisible(), true);
    await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'chat-phone.png') });
    assert.deepEqual(problems, [], 'no console errors');
  } finally {
    await context.close();
  }
});

test('an origin missing from ALLOWED_ORIGINS gets the CORS explanation', async () => {
  const { context, page } = await openPage(stranger.port);
  try {
    await page.locator('#message').fill(QUESTION);
    await page.locator('#send').click();
    const error = page.locator('#messages .message.error');
    await error.waitFor({ timeout: 30_000 });
    const text = await error.innerText();
    assert.match(text, /CORS/);
    assert.match(text, /ALLOWED_ORIGINS/);
    assert.ok(text.includes(`http://localhost:${stranger.port}`), `names the refused origin: ${text}`);
    assert.equal(await page.locator('#message').inputValue(), QUESTION, 'the question is kept for a retry');
    await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'chat-cors.png') });
  } finally {
    await context.close();
  }
});

// Last: it stops the shared backend.
test('with the backend stopped, the page says the server is unreachable instead of going blank', async () => {
  await backend.stop();
  const { context, page, problems } = await openPage(site.port);
  try {
    await page.locator('#message').fill(QUESTION);
    await page.keyboard.press('Enter');
    const error = page.locator('#messages .message.error');
    await error.waitFor({ timeout: 30_000 });
    const text = await error.innerText();
    assert.match(text, /unreachable/i);
    assert.match(text, /Cannot reach the chatbot server at http:\/\/localhost:8000/);
    assert.equal(await page.locator('#message').isEnabled(), true, 'the page stays usable');
    await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'chat-offline.png') });

    // A stored conversation that cannot be fetched is explained too, and the box stays usable.
    await page.evaluate(() => localStorage.setItem('rag-chatbot.session-id', '00000000-0000-4000-8000-000000000000'));
    await page.reload();
    const restoreError = page.locator('#messages .message.error');
    await restoreError.waitFor({ timeout: 30_000 });
    assert.match(await restoreError.innerText(), /Could not restore your previous conversation[\s\S]*Cannot reach/);
    assert.equal(await page.locator('#message').isEnabled(), true);
    // The browser logs the refused connection itself; anything else is a page bug.
    const unexpected = problems.filter((p) => !/ERR_CONNECTION_REFUSED|Failed to load resource/.test(p));
    assert.deepEqual(unexpected, []);
  } finally {
    await context.close();
  }
});
