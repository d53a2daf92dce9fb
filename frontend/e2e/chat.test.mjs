// The built page in real Chromium against the real backend (embedded defaults; a local fake
// Gemini for the slow answers that get stopped). The tests share one backend and run in
// order: the last one stops it.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { GEMINI_KEY, startFakeGemini } from './fakeGemini.mjs';
import { ARTIFACTS_DIR, DIST_DIR, launchBrowser, serveStatic, startBackend } from './harness.mjs';

const QUESTION = 'How do I deploy the backend to Hugging Face Spaces?';
const SCREENSHOT = path.join(ARTIFACTS_DIR, 'chat.png');
/** A complete answer (a streaming one is still growing and has no sources yet). */
const ANSWER = '#messages .message.assistant:not(.streaming)';
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 375, height: 812 };
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
/** WCAG 2.0, 2.1 and 2.2, levels A and AA, and axe's best practices. */
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'];

let site; // the page's allowed origin
let stranger; // the same page from an origin the backend does not allow
let backend;
let browser;
let gemini;

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
  await gemini?.close();
  await site?.close();
  await stranger?.close();
});

/** A fresh profile on the page, collecting console errors and uncaught exceptions. */
async function openPage(port, { viewport = DESKTOP, colorScheme = 'light' } = {}) {
  const context = await browser.newContext({ viewport, colorScheme, permissions: ['clipboard-read', 'clipboard-write'] });
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

/** Types a question with the keyboard, sends it with Enter and waits for the complete answer. */
async function ask(page, question) {
  const before = await page.locator(ANSWER).count();
  await page.locator('#message').focus();
  await page.keyboard.type(question);
  await page.keyboard.press('Enter');
  await page.waitForFunction(
    ([selector, count]) => document.querySelectorAll(selector).length > count && !document.querySelector('#send[hidden]'),
    [ANSWER, before],
    { timeout: 30_000 },
  );
}

/** axe-core on the page as it is: zero violations of any impact. */
async function assertAccessible(page, state) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: AXE_SOURCE });
  const violations = await page.evaluate(async (tags) => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: tags } });
    return result.violations.map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  }, AXE_TAGS);
  assert.deepEqual(violations, [], `axe violations (${state})`);
}

/** The window itself never scrolls: the document is exactly the viewport, in both directions. */
async function assertWindowStill(page, state) {
  const size = await page.evaluate(() => ({
    height: document.documentElement.scrollHeight,
    width: document.documentElement.scrollWidth,
    viewportHeight: window.innerHeight,
    viewportWidth: window.innerWidth,
    scrollY: window.scrollY,
  }));
  assert.equal(size.height, size.viewportHeight, `document height = viewport (${state}): ${JSON.stringify(size)}`);
  assert.ok(size.width <= size.viewportWidth, `no sideways overflow (${state}): ${JSON.stringify(size)}`);
  assert.equal(size.scrollY, 0, `the window is not scrolled (${state})`);
}

/** Every visible control is at least 44×44 px (links inside running text excepted, as WCAG does). */
async function assertTouchTargets(page, state) {
  const small = await page.evaluate(() =>
    [...document.querySelectorAll('button, summary, textarea, input, select')]
      .map((node) => ({ node, box: node.getBoundingClientRect() }))
      .filter(({ box }) => box.width > 0 && box.height > 0)
      .filter(({ box }) => box.width < 44 || box.height < 44)
      .map(({ node, box }) => `${node.tagName.toLowerCase()} "${node.textContent.trim()}" ${Math.round(box.width)}×${Math.round(box.height)}`),
  );
  assert.deepEqual(small, [], `touch targets under 44×44 px (${state})`);
}

/** Focuses (the last) `selector` and presses `key` on it, as a keyboard user would after tabbing there. */
async function press(page, selector, key = 'Enter') {
  await page.locator(selector).last().focus();
  await page.keyboard.press(key);
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
    await ask(page, QUESTION);

    const answer = page.locator(ANSWER).last();
    assert.equal(await page.locator('#messages .message.user .text').last().innerText(), QUESTION);
    assert.ok(await page.evaluate(() => window.__sawThinking), 'the thinking state was shown while waiting');
    assert.deepEqual(chatRequests, ['/api/chat/stream'], 'the answer was streamed');
    assert.ok((await answer.locator('.text').innerText()).trim().length > 0, 'the answer has text');
    const sources = answer.locator('.source');
    assert.ok((await sources.count()) >= 1, 'the answer lists at least one source');
    assert.ok((await sources.first().locator('.source-title').innerText()).trim(), 'a source has a title');
    assert.equal(await page.locator('#messages .message.error').count(), 0);
    assert.equal(await page.locator('#send').isEnabled(), true, 'sending is possible again');
    assert.match(await answer.locator('time').getAttribute('title'), /\d/, 'the answer has its exact time on hover');
    await page.screenshot({ path: SCREENSHOT });

    // Copy the answer by keyboard: the clipboard holds its Markdown, and "Copied" is announced.
    await press(page, `${ANSWER} button[data-action="copy-answer"]`);
    await page.locator('#status', { hasText: 'Copied' }).waitFor();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert.ok(copied.length > 20 && (await answer.locator('.text').innerText()).startsWith(copied.trim().slice(0, 10)), `clipboard: ${copied.slice(0, 80)}`);

    // The session survives a reload: the conversation comes back from the backend, with its times.
    const sessionId = await page.evaluate(() => localStorage.getItem('rag-chatbot.session-id'));
    assert.match(sessionId ?? '', /^[0-9a-f-]{36}$/, 'the session id is stored');
    const answerText = await answer.locator('.text').innerText();
    await page.reload();
    await page.locator(ANSWER).first().waitFor();
    assert.equal(await page.locator('#messages .message.user .text').first().innerText(), QUESTION);
    assert.equal(await page.locator('#messages .message.assistant .text').first().innerText(), answerText);
    assert.ok((await page.locator('#messages .message.assistant .source').count()) >= 1, 'restored sources');
    assert.equal(await page.locator('#messages .message.user time').first().innerText(), 'just now', 'created_at shown as a relative time');

    // "New conversation" from the keyboard clears the page and the stored session.
    await press(page, '#new-chat');
    assert.equal(await page.locator('#messages .message').count(), 0);
    assert.equal(await page.locator('#welcome').isVisible(), true);
    assert.equal(await page.evaluate(() => localStorage.getItem('rag-chatbot.session-id')), null);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'message', 'focus returns to the question box');

    assert.deepEqual(problems, [], 'no console errors');
  } finally {
    await context.close();
  }
});

for (const [name, viewport] of [
  ['desktop', DESKTOP],
  ['phone', PHONE],
]) {
  test(`${name}: the window never scrolls after 1, 3 and 10 answers, and axe finds nothing, light and dark`, async () => {
    for (const colorScheme of ['light', 'dark']) {
      const { context, page, problems } = await openPage(site.port, { viewport, colorScheme });
      try {
        const state = (what) => `${name}, ${colorScheme}, ${what}`;
        await assertWindowStill(page, state('idle'));
        await assertAccessible(page, state('idle'));
        if (viewport === PHONE) await assertTouchTargets(page, state('idle'));
        const checkpoints = colorScheme === 'light' ? [1, 3, 10] : [1];
        for (let n = 1; n <= checkpoints.at(-1); n += 1) {
          await ask(page, n === 1 ? QUESTION : `Question ${n}: which secrets does the Space need?`);
          if (!checkpoints.includes(n)) continue;
          await assertWindowStill(page, state(`${n} answers`));
          if (n === 1) {
            if (viewport === PHONE && colorScheme === 'light') await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'chat-phone.png') });
            if (viewport === DESKTOP && colorScheme === 'dark') await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'chat-dark.png') });
            // An open excerpt is part of the page to check, too.
            await press(page, `${ANSWER} .source-snippet summary`);
            await assertAccessible(page, state(`${n} answers`));
            if (viewport === PHONE) await assertTouchTargets(page, state(`${n} answers`));
          }
        }
        if (colorScheme === 'light') await assertAccessible(page, state('10 answers'));
        assert.equal(await page.locator('#send').isVisible(), true);
        assert.equal(await page.locator('#new-chat').isVisible(), true);
        assert.deepEqual(problems, [], 'no console errors');
      } finally {
        await context.close();
      }
    }
  });
}

test('the counter appears near the limit and keeps an over-long question from being sent', async () => {
  const { context, page } = await openPage(site.port, { viewport: PHONE });
  try {
    let posts = 0;
    page.on('request', (request) => (posts += request.method() === 'POST' ? 1 : 0));
    assert.equal(await page.locator('#counter').isVisible(), false);
    await page.locator('#message').fill('x'.repeat(4001));
    await page.locator('#message').press('End'); // any key: the counter follows input events
    await page.keyboard.type('y');
    // The limit is the backend's own (its OpenAPI schema, asked when the page starts).
    await page.locator('#counter', { hasText: '4,002 / 4,000 characters: remove 2 to send' }).waitFor({ timeout: 10_000 });
    await page.keyboard.press('Enter');
    await page.waitForTimeout(300);
    assert.equal(posts, 0, 'nothing was sent');
    assert.equal(await page.locator('#message').getAttribute('aria-invalid'), 'true');
    await assertAccessible(page, 'counter over the limit');
    await assertWindowStill(page, 'counter over the limit');
  } finally {
    await context.close();
  }
});

test('an origin missing from ALLOWED_ORIGINS: the user is told to contact the site owner, the operator gets the CORS detail', async () => {
  for (const [viewport, colorScheme] of [
    [DESKTOP, 'light'],
    [DESKTOP, 'dark'],
    [PHONE, 'light'],
    [PHONE, 'dark'],
  ]) {
    const { context, page, problems } = await openPage(stranger.port, { viewport, colorScheme });
    const state = `error shown, ${viewport.width}px, ${colorScheme}`;
    try {
      let posts = 0;
      page.on('request', (request) => (posts += request.method() === 'POST' ? 1 : 0));
      await page.locator('#message').fill(QUESTION);
      await page.keyboard.press('Enter');
      const error = page.locator('#messages .message.error');
      await error.waitFor({ timeout: 30_000 });
      const shown = await error.innerText();
      assert.match(shown, /contact the site owner/i);
      assert.doesNotMatch(shown, /ALLOWED_ORIGINS/, 'operator detail stays behind Details');

      // Details, by keyboard: the setting to change, naming the refused origin.
      await press(page, '#messages .error-detail summary');
      const detail = await page.locator('#messages .error-detail p').innerText();
      assert.match(detail, /CORS/);
      assert.match(detail, /ALLOWED_ORIGINS/);
      assert.ok(detail.includes(`http://localhost:${stranger.port}`), `names the refused origin: ${detail}`);
      assert.ok(problems.some((p) => p.includes('ALLOWED_ORIGINS')), 'the detail is in the console too');
      await assertAccessible(page, state);
      await assertWindowStill(page, state);
      if (viewport === PHONE) await assertTouchTargets(page, state);
      if (viewport === DESKTOP && colorScheme === 'light') await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'chat-cors.png') });

      // Retry, by keyboard: the same question again, not a second copy of it on the page.
      await press(page, '#messages button[data-action="retry"]');
      await page.waitForFunction(() => document.querySelector('#messages .message.error') && !document.querySelector('#send[hidden]') && !document.getElementById('send').disabled);
      await page.locator('#messages .message.error').waitFor({ timeout: 30_000 });
      assert.ok(posts >= 2, `the question was sent again (${posts} POSTs)`);
      assert.equal(await page.locator('#messages .message.user').count(), 1);
    } finally {
      await context.close();
    }
  }
});

test('a slow answer: jump to latest, stop with Escape or the Stop button (the backend cancels its stream), regenerate, a table and copy code, all by keyboard', async () => {
  // The same backend, now writing its answers with a (fake, slow) Gemini.
  await backend.stop();
  gemini = await startFakeGemini();
  backend = await startBackend({
    origins: [`http://localhost:${site.port}`],
    env: { GEMINI_API_KEY: GEMINI_KEY, GEMINI_BASE_URL: gemini.url },
  });
  const { context, page, problems } = await openPage(site.port, { viewport: PHONE });
  try {
    await page.locator('#message').focus();
    await page.keyboard.type(QUESTION);
    await page.keyboard.press('Enter');
    const streaming = page.locator('#messages .message.assistant.streaming');
    await streaming.getByText('Paragraph 8 of a long answer', { exact: false }).first().waitFor({ timeout: 30_000 });

    // The answer has grown past the screen: "Jump to latest" offers the end of it.
    await page.locator('#jump').waitFor({ state: 'visible' });
    await press(page, '#jump');
    const bottomGap = await page.evaluate(() => {
      const c = document.getElementById('conversation');
      return c.scrollHeight - c.scrollTop - c.clientHeight;
    });
    assert.ok(bottomGap < 200, `scrolled to the latest text (${bottomGap}px left below)`);
    await assertWindowStill(page, 'streaming');

    // Escape stops it: what arrived stays, marked, and the backend's own stream is cancelled.
    await page.keyboard.press('Escape');
    const stopped = page.locator('#messages .message.assistant.stopped');
    await stopped.waitFor();
    assert.match(await stopped.innerText(), /Paragraph 1 of a long answer[\s\S]*Stopped/);
    await waitFor(() => gemini.streams[0]?.cancelled, 'the backend to cancel its Gemini stream after Escape');
    assert.equal(await page.locator('#send').isVisible(), true);
    assert.equal(await page.locator('#stop').isVisible(), false);

    // Regenerate by keyboard, then Tab from the question box reaches Stop.
    await press(page, '#messages button[data-action="regenerate"]');
    await page.locator('#messages .message.assistant.streaming').getByText('Paragraph 2 of', { exact: false }).first().waitFor({ timeout: 30_000 });
    await page.locator('#message').focus();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'stop', 'Tab from the question box reaches Stop');
    await page.keyboard.press('Enter');
    await page.locator('#messages .message.assistant.stopped').waitFor();
    await waitFor(() => gemini.streams[1]?.cancelled, 'the backend to cancel its Gemini stream after Stop');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'message', 'focus goes back to the question box');
    assert.equal(await page.locator('#messages .message.user').count(), 1, 'regenerating does not repeat the question');

    // Let one finish: its table is a table, its code block copies.
    await press(page, '#messages button[data-action="regenerate"]');
    await page.locator(`${ANSWER} table`).waitFor({ timeout: 60_000 });
    const answer = page.locator(ANSWER).last();
    assert.deepEqual(await answer.locator('table th').allInnerTexts(), ['Setting', 'Default']);
    assert.deepEqual(await answer.locator('table tbody tr').first().locator('td').allInnerTexts(), ['PORT', '7860']);
    await press(page, `${ANSWER} button[data-action="copy-code"]`);
    await page.locator('#status', { hasText: 'Copied' }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), 'cargo xtask deploy');
    assert.ok(gemini.streams[2]?.finished, 'the third answer was streamed to its end');

    await assertWindowStill(page, 'table and code');
    await assertAccessible(page, 'table, code, stopped answers');
    await assertTouchTargets(page, 'table, code, stopped answers');
    assert.deepEqual(problems, [], 'no console errors');
  } finally {
    await context.close();
  }
});

/** Polls `condition` (a plain function) every 100 ms for up to 10 s. */
async function waitFor(condition, what) {
  for (let i = 0; i < 100; i += 1) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

// Last: it stops the shared backend.
test('with the backend stopped, the page says the server is unreachable instead of going blank', async () => {
  await backend.stop();
  const { context, page, problems } = await openPage(site.port);
  try {
    await page.locator('#message').fill(QUESTION);
    await page.keyboard.press('Enter');
    const error = page.locator('#messages .message.error');
    await error.waitFor({ timeout: 30_000 });
    assert.match(await error.innerText(), /unreachable[\s\S]*try again in a minute/i);
    assert.match(await error.locator('.error-detail p').textContent(), /Cannot reach the chatbot server at http:\/\/localhost:8000/);
    assert.equal(await page.locator('#message').isEnabled(), true, 'the page stays usable');
    await assertAccessible(page, 'offline error');
    await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'chat-offline.png') });

    // A stored conversation that cannot be fetched is explained too, and the box stays usable.
    await page.evaluate(() => localStorage.setItem('rag-chatbot.session-id', '00000000-0000-4000-8000-000000000000'));
    await page.reload();
    const restoreError = page.locator('#messages .message.error');
    await restoreError.waitFor({ timeout: 30_000 });
    assert.match(await restoreError.innerText(), /Could not restore your previous conversation[\s\S]*cannot be reached/);
    assert.equal(await page.locator('#message').isEnabled(), true);
    // The browser logs the refused connection itself, and the page logs the operator's
    // detail; anything else is a page bug.
    const unexpected = problems.filter((p) => !/ERR_CONNECTION_REFUSED|Failed to load resource|Cannot reach the chatbot server/.test(p));
    assert.deepEqual(unexpected, []);
  } finally {
    await context.close();
  }
});
