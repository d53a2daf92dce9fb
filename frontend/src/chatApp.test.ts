// @vitest-environment happy-dom
// The panel's behaviour on the real index.html, with the real client talking to an HTTP
// server on 127.0.0.1 that speaks the backend's wire format and answers when told to.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ChatApp } from './chatApp';
import { ChatClient } from './services/chatClient';
import { openapiStating } from './services/openapiFixture';
import { SessionStore } from './session';
import indexHtml from '../index.html?raw';

const SESSION_KEY = 'rag-chatbot.session-id';
const BODY = indexHtml
  .match(/<body>([\s\S]*)<\/body>/)![1]
  .replace(/<script[\s\S]*?<\/script>/g, '');

interface Seen {
  method: string;
  url: string;
  body: Record<string, unknown> | null;
}
type Handler = (req: Seen, res: ServerResponse) => void | Promise<void>;

let server: Server;
let handler: Handler;
let seen: Seen[];
let baseUrl: string;
/** The limit on a question the server's OpenAPI document states; null: it has none (404). */
let statedLimit: number | null;

beforeEach(async () => {
  localStorage.clear();
  document.body.innerHTML = BODY;
  seen = [];
  statedLimit = 4000;
  server = createServer((req: IncomingMessage, res) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type');
    if (req.method === 'OPTIONS') {
      res.end();
      return;
    }
    // The page asks for the schema on its own; `seen` keeps what the user's actions send.
    if (req.url === '/openapi.json') {
      if (statedLimit === null) json(res, 404, { detail: 'Not Found' });
      else json(res, 200, openapiStating(statedLimit));
      return;
    }
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => {
      const request = { method: req.method ?? '', url: req.url ?? '', body: raw ? (JSON.parse(raw) as Record<string, unknown>) : null };
      seen.push(request);
      void handler(request, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  const closed = new Promise((resolve) => server.close(resolve));
  server.closeAllConnections();
  await closed;
});

async function startApp(): Promise<void> {
  const client = new ChatClient();
  client.baseUrl = baseUrl;
  await new ChatApp(document, client, new SessionStore(localStorage)).start();
}

function answer(res: ServerResponse, text: string, sessionId = 'session-1'): void {
  const source = { title: 'Deploy', url_or_path: 'docs/deploy.md', score: 0.5, snippet: 'cargo xtask deploy' };
  res.writeHead(200, { 'Content-Type': 'text/event-stream' });
  res.end(
    `event: delta\ndata: ${JSON.stringify({ text })}\n\n` +
      `event: done\ndata: ${JSON.stringify({ answer: text, sources: [source], session_id: sessionId })}\n\n`,
  );
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(value));
}

/** A response the test releases when it wants to. */
function held(): { handler: Handler; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  return {
    handler: async (_req, res) => {
      await gate;
      answer(res, 'Late answer.');
    },
    release: () => release(),
  };
}

/** Starts the app with the answer held back, asks `question` and waits until it is sent; returns the release. */
async function askWithAnswerHeld(question: string): Promise<() => void> {
  const response = held();
  handler = response.handler;
  await startApp();
  input().value = question;
  press('Enter');
  await vi.waitFor(() => expect(seen).toHaveLength(1));
  return response.release;
}

const input = () => document.getElementById('message') as HTMLTextAreaElement;
const messages = () => [...document.querySelectorAll('#messages > li')].map((li) => li.className);
const press = (key: string, init: KeyboardEventInit = {}) =>
  input().dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true, cancelable: true, ...init }));
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

describe('ChatApp', () => {
  it('enables the controls it has wired and focuses the question box', async () => {
    expect(input().disabled).toBe(true);

    await startApp();

    expect(input().disabled).toBe(false);
    expect((document.getElementById('send') as HTMLButtonElement).disabled).toBe(false);
    expect(document.activeElement).toBe(input());
  });

  it('sends on Enter but not on Shift+Enter, shows thinking, then the answer with its source', async () => {
    const response = held();
    handler = response.handler;
    await startApp();

    input().value = 'How do I deploy?';
    press('Enter', { shiftKey: true });
    await settle();
    expect(seen).toEqual([]);

    press('Enter');
    await vi.waitFor(() => expect(seen).toHaveLength(1));
    expect(seen[0]).toEqual({ method: 'POST', url: '/api/chat/stream', body: { message: 'How do I deploy?' } });
    expect(messages()).toEqual(['message user', 'message thinking']);
    expect(document.getElementById('log')!.getAttribute('aria-busy')).toBe('true');
    expect(input().value).toBe('');

    response.release();
    await vi.waitFor(() => expect(messages()).toEqual(['message user', 'message assistant']));
    const reply = document.querySelector('#messages .assistant')!;
    expect(reply.querySelector('.text')!.textContent).toBe('Late answer.');
    expect(reply.querySelector('.source-path')!.textContent).toBe('docs/deploy.md');
    expect(localStorage.getItem(SESSION_KEY)).toBe('session-1');
    expect(document.getElementById('log')!.getAttribute('aria-busy')).toBe('false');
  });

  it('sends nothing more while an answer is on its way', async () => {
    const release = await askWithAnswerHeld('first');
    input().value = 'second';
    press('Enter');
    await settle();

    expect(seen).toHaveLength(1);
    expect(input().value).toBe('second');
    release();
    await vi.waitFor(() => expect(messages()).toContain('message assistant'));
  });

  it('drops a late answer to a conversation the user has left', async () => {
    const release = await askWithAnswerHeld('old question');

    (document.getElementById('new-chat') as HTMLButtonElement).click();
    release();
    await settle();

    expect(messages()).toEqual([]);
    expect(localStorage.getItem(SESSION_KEY)).toBeNull();
    expect(document.getElementById('welcome')!.hidden).toBe(false);
    expect(document.activeElement).toBe(input());
  });

  it('stops the request of a conversation the user has left', async () => {
    let closed!: Promise<void>;
    handler = (_req, res) => {
      closed = new Promise((resolve) => res.on('close', () => resolve()));
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write('event: delta\ndata: {"text": "Half an ans"}\n\n'); // and never more
    };
    await startApp();
    input().value = 'old question';
    press('Enter');
    await vi.waitFor(() => expect(messages()).toEqual(['message user', 'message assistant streaming']));

    (document.getElementById('new-chat') as HTMLButtonElement).click();

    await closed; // without the abort, the connection stays open until the 90 s timeout
    await settle();
    expect(messages()).toEqual([]);
  });

  it('sends a suggestion and keeps the focus in the question box', async () => {
    handler = (_req, res) => answer(res, 'Suggested answer.');
    await startApp();
    const suggestion = document.querySelector('button.suggestion') as HTMLButtonElement;
    suggestion.focus();

    suggestion.click();

    await vi.waitFor(() => expect(messages()).toEqual(['message user', 'message assistant']));
    expect(seen[0].body).toEqual({ message: suggestion.textContent });
    expect(document.getElementById('welcome')!.hidden).toBe(true);
    expect(document.activeElement).toBe(input());
  });

  it('restores the stored session on start', async () => {
    localStorage.setItem(SESSION_KEY, 'session-7');
    handler = (_req, res) =>
      json(res, 200, {
        session_id: 'session-7',
        messages: [
          { role: 'user', content: 'q1', sources: [], created_at: '2026-01-01T00:00:00Z' },
          { role: 'assistant', content: 'a1', sources: [], created_at: '2026-01-01T00:00:01Z' },
        ],
      });

    await startApp();

    expect(seen.map((r) => r.url)).toEqual(['/api/chat/history/session-7']);
    expect(messages()).toEqual(['message user', 'message assistant']);
    expect(document.querySelector('#messages .assistant .text')!.textContent).toBe('a1');
    expect(document.getElementById('welcome')!.hidden).toBe(true);
    // Timestamps come from created_at: relative text, the exact time on hover and focus.
    const times = [...document.querySelectorAll<HTMLTimeElement>('#messages time')];
    expect(times.map((t) => t.dateTime)).toEqual(['2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z']);
    expect(times[0].title).toMatch(/2026|2025/);
    expect(times[0].tabIndex).toBe(0);
  });

  it('forgets a stored session the backend does not know', async () => {
    localStorage.setItem(SESSION_KEY, 'gone');
    handler = (_req, res) => json(res, 404, { detail: 'session gone not found: it has no stored messages' });

    await startApp();

    expect(messages()).toEqual([]);
    expect(localStorage.getItem(SESSION_KEY)).toBeNull();
  });

  it('asks again in a new session when the backend has forgotten the stored one', async () => {
    localStorage.setItem(SESSION_KEY, 'stale');
    handler = (req, res) => {
      if (req.url.startsWith('/api/chat/history/')) json(res, 200, { session_id: 'stale', messages: [] });
      else if (req.body?.session_id === 'stale') json(res, 404, { detail: 'session stale not found' });
      else answer(res, 'Fresh answer.', 'session-2');
    };
    await startApp();

    input().value = 'hello';
    press('Enter');

    await vi.waitFor(() => expect(messages()).toEqual(['message user', 'message assistant']));
    expect(seen.slice(1).map((r) => r.body)).toEqual([{ message: 'hello', session_id: 'stale' }, { message: 'hello' }]);
    expect(localStorage.getItem(SESSION_KEY)).toBe('session-2');
  });

  it('shows a rejected question as an alert and gives the question back', async () => {
    handler = (_req, res) => json(res, 422, { detail: 'message: is 4100 characters long; the limit is 4000' });
    await startApp();

    input().value = 'too long';
    press('Enter');

    await vi.waitFor(() => expect(messages()).toEqual(['message user', 'message error']));
    const alert = document.querySelector('#messages [role="alert"]')!;
    expect(alert.textContent).toContain('message: is 4100 characters long; the limit is 4000');
    expect(input().value).toBe('too long');
    expect(document.querySelector('#messages button[data-action="retry"]')).toBeNull();
    expect((document.getElementById('send') as HTMLButtonElement).disabled).toBe(false);
  });
});

const button = (id: string) => document.getElementById(id) as HTMLButtonElement;
const action = (name: string) => document.querySelector<HTMLButtonElement>(`#messages button[data-action="${name}"]`);

/** Writes one piece of an answer and keeps the stream open; resolves when the client hangs up. */
function halfAnswer(res: ServerResponse): Promise<void> {
  const closed = new Promise<void>((resolve) => res.on('close', () => resolve()));
  res.writeHead(200, { 'Content-Type': 'text/event-stream' });
  res.write('event: delta\ndata: {"text": "Half an **ans"}\n\n');
  return closed;
}

describe('Stop', () => {
  for (const how of ['the Stop button', 'Escape']) {
    it(`stops a streaming answer with ${how}: the server sees the hang-up, the partial answer stays, marked`, async () => {
      let closed!: Promise<void>;
      handler = (_req, res) => {
        closed = halfAnswer(res);
      };
      await startApp();
      input().value = 'long question';
      press('Enter');
      await vi.waitFor(() => expect(messages()).toEqual(['message user', 'message assistant streaming']));
      expect(button('stop').hidden).toBe(false);
      expect(button('send').hidden).toBe(true);

      if (how === 'Escape') document.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }));
      else button('stop').click();

      await closed; // the request was aborted, so the server stops streaming
      await vi.waitFor(() => expect(messages()).toEqual(['message user', 'message assistant stopped']));
      expect(document.querySelector('#messages .assistant .text')!.textContent).toBe('Half an **ans');
      expect(document.querySelector('#messages .stopped-note')!.textContent).toContain('Stopped');
      expect(button('stop').hidden).toBe(true);
      expect(button('send').hidden).toBe(false);
      expect(document.activeElement).toBe(input());
      expect(action('regenerate')).not.toBeNull();
    });
  }
});

describe('Copy', () => {
  it('copies the answer and a code block, and says "Copied"', async () => {
    handler = (_req, res) => answer(res, 'Install:\n\n```sh\nnpm ci\n```\n\nThen run it.');
    await startApp();
    input().value = 'How?';
    press('Enter');
    await vi.waitFor(() => expect(action('copy-answer')).not.toBeNull());

    action('copy-code')!.click();
    await vi.waitFor(() => expect(document.getElementById('status')!.textContent).toBe('Copied'));
    expect(await navigator.clipboard.readText()).toBe('npm ci');
    expect(action('copy-code')!.textContent).toBe('Copied');

    action('copy-answer')!.click();
    await vi.waitFor(async () => expect(await navigator.clipboard.readText()).toBe('Install:\n\n```sh\nnpm ci\n```\n\nThen run it.'));
  });
});

describe('Retry and Regenerate', () => {
  it('retries a failed answer without repeating the question, the operator detail behind Details and in the console', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    let calls = 0;
    handler = (_req, res) => {
      calls += 1;
      if (calls === 1) json(res, 503, { detail: 'qdrant: cannot reach Qdrant at QDRANT_URL: All connection attempts failed' });
      else answer(res, 'Second time lucky.');
    };
    await startApp();
    input().value = 'Which secrets?';
    press('Enter');
    await vi.waitFor(() => expect(messages()).toEqual(['message user', 'message error']));
    const alert = document.querySelector('#messages [role="alert"]')!;
    expect(alert.textContent).toMatch(/temporarily unavailable.*Try again later/);
    expect(alert.textContent).not.toContain('QDRANT_URL');
    expect(document.querySelector('#messages details.error-detail p')!.textContent).toContain('QDRANT_URL');
    expect(logged.mock.calls.flat().join(' ')).toContain('QDRANT_URL');
    expect(input().value).toBe(''); // Retry does it: the box is not refilled

    action('retry')!.click();

    await vi.waitFor(() => expect(messages()).toEqual(['message user', 'message assistant']));
    expect(seen.map((r) => r.body?.message)).toEqual(['Which secrets?', 'Which secrets?']);
    expect(document.querySelector('#messages .assistant .text')!.textContent).toBe('Second time lucky.');
    logged.mockRestore();
  });

  it('calls a server bug in the stream a problem, not "temporarily unavailable"', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    handler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.end('event: error\ndata: {"detail": "internal error in the chatbot server: the traceback is in its log", "service": "fastapi"}\n\n');
    };
    await startApp();
    input().value = 'q';
    press('Enter');
    await vi.waitFor(() => expect(messages()).toEqual(['message user', 'message error']));
    expect(document.querySelector('#messages .error-title')!.textContent).toBe('The chatbot ran into a problem');
    expect(document.querySelector('#messages [role="alert"]')!.textContent).not.toMatch(/unavailable/i);
    vi.restoreAllMocks();
  });

  it('regenerates the last answer in place', async () => {
    let calls = 0;
    handler = (_req, res) => answer(res, `Answer ${++calls}.`);
    await startApp();
    input().value = 'Q';
    press('Enter');
    await vi.waitFor(() => expect(messages()).toEqual(['message user', 'message assistant']));

    action('regenerate')!.click();

    await vi.waitFor(() => expect(document.querySelector('#messages .assistant .text')!.textContent).toBe('Answer 2.'));
    expect(messages()).toEqual(['message user', 'message assistant']);
    expect(seen.map((r) => r.body?.message)).toEqual(['Q', 'Q']);
  });
});

describe('Length counter', () => {
  it('appears near the limit and blocks sending over it', async () => {
    handler = (_req, res) => answer(res, 'ok');
    await startApp();
    const counter = document.getElementById('counter')!;
    const type = (text: string) => {
      input().value = text;
      input().dispatchEvent(new Event('input', { bubbles: true }));
    };

    type('x'.repeat(100));
    expect(counter.hidden).toBe(true);
    type('x'.repeat(3700));
    expect(counter.hidden).toBe(false);
    expect(counter.textContent).toBe('3,700 / 4,000 characters');
    type('x'.repeat(4001));
    expect(counter.textContent).toContain('remove 1 to send');
    expect(input().getAttribute('aria-invalid')).toBe('true');

    press('Enter');
    await settle();
    expect(seen).toEqual([]);
    expect(input().value).toHaveLength(4001);

    type('😀'.repeat(4000)); // the backend counts characters, not UTF-16 units
    expect(counter.classList.contains('over')).toBe(false);
    press('Enter');
    await vi.waitFor(() => expect(seen).toHaveLength(1));
  });
});

describe('The limit on a question', () => {
  const type = (text: string) => {
    input().value = text;
    input().dispatchEvent(new Event('input', { bubbles: true }));
  };
  const counter = () => document.getElementById('counter')!;

  it('is the one the backend states in its OpenAPI schema', async () => {
    statedLimit = 500;
    handler = (_req, res) => answer(res, 'ok');
    await startApp();

    type('x'.repeat(449));
    expect(counter().hidden).toBe(true);
    type('x'.repeat(450));
    expect(counter().textContent).toBe('450 / 500 characters');
    type('x'.repeat(501));
    expect(counter().textContent).toBe('501 / 500 characters: remove 1 to send');
    press('Enter');
    await settle();
    expect(seen).toEqual([]);
  });

  it('is left to the backend while it has not said, and asked again with the next question', async () => {
    statedLimit = null;
    handler = (_req, res) => json(res, 422, { detail: 'message: is 5000 characters long; the limit is 4000' });
    await startApp();

    type('x'.repeat(5000));
    expect(counter().hidden).toBe(true);
    expect(input().hasAttribute('aria-invalid')).toBe(false);
    statedLimit = 4000;
    press('Enter');
    await vi.waitFor(() => expect(seen).toHaveLength(1));
    await vi.waitFor(() => expect(document.querySelector('#messages .message.error')!.textContent).toContain('the limit is 4000'));

    type('x'.repeat(4001));
    await vi.waitFor(() => expect(counter().textContent).toBe('4,001 / 4,000 characters: remove 1 to send'));
  });
});

describe('Jump to latest', () => {
  it('shows while an answer streams below the view, scrolls to its end, and goes away with the answer', async () => {
    let finish!: () => void;
    handler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write('event: delta\ndata: {"text": "A long answer"}\n\n');
      finish = () => res.end(`event: done\ndata: ${JSON.stringify({ answer: 'A long answer', sources: [], session_id: 's' })}\n\n`);
    };
    await startApp();
    // happy-dom has no layout: give the conversation the sizes of one whose answer outgrew it.
    const conversation = document.getElementById('conversation')!;
    Object.defineProperty(conversation, 'scrollHeight', { configurable: true, value: 3000 });
    Object.defineProperty(conversation, 'clientHeight', { configurable: true, value: 600 });
    const jump = button('jump');
    input().value = 'q';
    press('Enter');
    await vi.waitFor(() => expect(messages()).toEqual(['message user', 'message assistant streaming']));
    conversation.scrollTop = 0; // the user reads from the top
    conversation.dispatchEvent(new Event('scroll'));
    expect(jump.hidden).toBe(false);

    jump.click();

    expect(conversation.scrollTop).toBe(3000);
    expect(jump.hidden).toBe(true);
    expect(document.activeElement).toBe(input());
    conversation.scrollTop = 100;
    conversation.dispatchEvent(new Event('scroll'));
    expect(jump.hidden).toBe(false);
    finish();
    await vi.waitFor(() => expect(messages()).toEqual(['message user', 'message assistant']));
    expect(jump.hidden).toBe(true);
  });
});
