// The client against a real HTTP server on 127.0.0.1 that answers in the backend's wire format.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ChatClient, ChatError, parseMessageLimit } from './chatClient';
import { openapiStating } from './openapiFixture';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

const servers: Server[] = [];

async function serve(handler: Handler): Promise<string> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => handler(req, body, res));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(value));
}

/** Answers every request with `status` and `body` of `type`. */
function replying(status: number, type: string, body: string): Handler {
  return (_req, _body, res) => {
    res.writeHead(status, { 'Content-Type': type });
    res.end(body);
  };
}

async function clientFor(handler: Handler): Promise<ChatClient> {
  const client = new ChatClient();
  client.baseUrl = await serve(handler);
  return client;
}

async function failure(promise: Promise<unknown>): Promise<ChatError> {
  const err = await promise.then(
    () => {
      throw new Error('expected the request to fail');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ChatError);
  return err as ChatError;
}

async function closeAll(): Promise<void> {
  await Promise.all(
    servers.splice(0).map((s) => {
      const closed = new Promise((resolve) => s.close(resolve));
      s.closeAllConnections(); // keep-alive sockets would hold close() for seconds
      return closed;
    }),
  );
}

afterEach(closeAll);

describe('sendMessage', () => {
  it('posts the message and session id as JSON and maps the reply', async () => {
    let seen: { method?: string; url?: string; type?: string; body?: unknown } = {};
    const client = await clientFor((req, body, res) => {
      seen = { method: req.method, url: req.url, type: req.headers['content-type'], body: JSON.parse(body) };
      json(res, 200, {
        answer: 'Run cargo xtask deploy.',
        sources: [{ title: 'Deploy', url_or_path: 'docs/deploy.md', score: 0.83, snippet: 'cargo xtask deploy' }],
        session_id: 'abc',
      });
    });

    const reply = await client.sendMessage('How do I deploy?', 'abc');

    expect(seen).toEqual({
      method: 'POST',
      url: '/api/chat',
      type: 'application/json',
      body: { message: 'How do I deploy?', session_id: 'abc' },
    });
    expect(reply).toEqual({
      answer: 'Run cargo xtask deploy.',
      sources: [{ title: 'Deploy', urlOrPath: 'docs/deploy.md', score: 0.83, snippet: 'cargo xtask deploy' }],
      sessionId: 'abc',
    });
  });

  it('leaves session_id out when there is no session yet', async () => {
    let body: unknown;
    const client = await clientFor((_req, raw, res) => {
      body = JSON.parse(raw);
      json(res, 200, { answer: 'hi', sources: [], session_id: 'new-id' });
    });

    const reply = await client.sendMessage('hello', null);

    expect(body).toEqual({ message: 'hello' });
    expect(reply.sessionId).toBe('new-id');
  });

  it('titles an untitled source after its path', async () => {
    const client = await clientFor((_req, _body, res) =>
      json(res, 200, { answer: 'a', sources: [{ title: '', url_or_path: 'README.md', score: 1, snippet: '' }], session_id: 's' }),
    );

    const reply = await client.sendMessage('q');

    expect(reply.sources[0].title).toBe('README.md');
  });
});

describe('messageLimit', () => {
  it("reads the chat request's maxLength from the backend's OpenAPI schema", async () => {
    let asked = '';
    const client = await clientFor((req, _body, res) => {
      asked = `${req.method ?? ''} ${req.url ?? ''}`;
      json(res, 200, openapiStating(1234));
    });

    expect(await client.messageLimit()).toBe(1234);
    expect(asked).toBe('GET /openapi.json');
  });

  it('follows the request body to whichever schema it names', () => {
    const schema = openapiStating(77) as { paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
    const renamed = JSON.parse(JSON.stringify(schema).replaceAll('ChatRequest', 'Question')) as unknown;

    expect(parseMessageLimit(renamed)).toBe(77);
  });

  it('is null, never a guess, when the schema does not state it or cannot be had', async () => {
    for (const stated of [{}, { paths: {} }, openapiStating(0), JSON.parse(JSON.stringify(openapiStating(5)).replace('"maxLength":5', '"maxLength":"5"')) as unknown]) {
      expect(parseMessageLimit(stated)).toBeNull();
    }
    const missing = await clientFor((_req, _body, res) => json(res, 404, { detail: 'Not Found' }));
    expect(await missing.messageLimit()).toBeNull();
    const notJson = await clientFor((_req, _body, res) => res.end('<html>'));
    expect(await notJson.messageLimit()).toBeNull();
    const nobody = new ChatClient();
    nobody.baseUrl = 'http://127.0.0.1:1';
    expect(await nobody.messageLimit()).toBeNull();
  });
});

describe('getHistory', () => {
  it('asks for the encoded session id and maps the messages in order', async () => {
    let url: string | undefined;
    const client = await clientFor((req, _body, res) => {
      url = req.url;
      json(res, 200, {
        session_id: 'a/b',
        messages: [
          { role: 'user', content: 'q1', sources: [], created_at: '2026-01-02T03:04:05Z' },
          { role: 'assistant', content: 'a1', sources: [{ title: 'T', url_or_path: 'https://x.dev/t', score: 0.5, snippet: 's' }] },
        ],
      });
    });

    const history = await client.getHistory('a/b');

    expect(url).toBe('/api/chat/history/a%2Fb');
    expect(history).toEqual([
      { role: 'user', content: 'q1', sources: [], createdAt: new Date('2026-01-02T03:04:05Z') },
      { role: 'assistant', content: 'a1', sources: [{ title: 'T', urlOrPath: 'https://x.dev/t', score: 0.5, snippet: 's' }], createdAt: null },
    ]);
  });

  it('returns null for a session the server does not know', async () => {
    const client = await clientFor((_req, _body, res) => json(res, 404, { detail: 'Unknown session id' }));

    expect(await client.getHistory('gone')).toBeNull();
  });
});

describe('errors', () => {
  it('turns a validation error list into field: message', async () => {
    const client = await clientFor((_req, _body, res) =>
      json(res, 422, {
        detail: [{ type: 'string_too_short', loc: ['body', 'message'], msg: 'String should have at least 1 character' }],
      }),
    );

    const err = await failure(client.sendMessage(''));

    expect(err.kind).toBe('rejected');
    expect(err.status).toBe(422);
    expect(err.message).toBe('message: String should have at least 1 character');
  });

  it('shows a 4xx detail string as it is', async () => {
    const client = await clientFor((_req, _body, res) => json(res, 413, { detail: 'The message is longer than 4000 characters.' }));

    const err = await failure(client.sendMessage('x'));

    expect(err.kind).toBe('rejected');
    expect(err.message).toBe('The message is longer than 4000 characters.');
  });

  it('tells the user to try later on a 503, and the operator which service is down', async () => {
    const client = await clientFor((_req, _body, res) => json(res, 503, { detail: 'qdrant: 404 Not Found (the cluster may be suspended)' }));

    const err = await failure(client.sendMessage('x'));

    expect(err.kind).toBe('unavailable');
    expect(err.message).toMatch(/temporarily unavailable\. Try again later/);
    expect(err.message).not.toContain('qdrant');
    expect(err.detail).toContain('qdrant: 404 Not Found (the cluster may be suspended)');
  });

  it('calls a 500 a problem, not an outage, with its status in the details', async () => {
    const client = await clientFor(replying(500, 'text/plain', 'Internal Server Error'));

    const err = await failure(client.sendMessage('x'));

    expect(err.kind).toBe('server');
    expect(err.message).not.toMatch(/unavailable/i);
    expect(err.message).toMatch(/try again/i);
    expect(err.detail).toContain('HTTP 500');
  });

  it('rejects a 200 that is not JSON', async () => {
    const client = await clientFor(replying(200, 'text/html', '<!doctype html><p>a proxy page</p>'));

    const err = await failure(client.sendMessage('x'));

    expect(err.kind).toBe('protocol');
  });

  it('rejects a reply without an answer', async () => {
    const client = await clientFor((_req, _body, res) => json(res, 200, { sources: [] }));

    const err = await failure(client.sendMessage('x'));

    expect(err.kind).toBe('protocol');
    expect(err.detail).toContain('`answer`');
  });

  it('says the server is unreachable when nothing listens', async () => {
    const client = new ChatClient();
    client.baseUrl = await serve(() => {});
    await closeAll();

    const err = await failure(client.sendMessage('x'));

    expect(err.kind).toBe('offline');
    expect(err.message).toMatch(/cannot be reached.*try again/i);
    expect(err.message).not.toContain(client.baseUrl);
    expect(err.detail).toContain(`Cannot reach the chatbot server at ${client.baseUrl}`);
  });
});

function sse(res: ServerResponse, events: [string, unknown][], { split = false } = {}): void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream' });
  const text = events.map(([name, data]) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`).join('');
  if (!split) {
    res.end(text);
    return;
  }
  // Chunk boundaries that fall inside events and lines, as a proxy may deliver them.
  res.socket?.setNoDelay(true);
  let at = 0;
  const next = () => {
    if (at >= text.length) {
      res.end();
      return;
    }
    res.write(text.slice(at, at + 45));
    at += 45;
    setTimeout(next, 1);
  };
  next();
}

const SOURCE = { title: 'Deploy', url_or_path: 'docs/deploy.md', score: 0.5, snippet: 's' };

describe('streamMessage', () => {
  it('reports the answer as it grows and returns the final reply', async () => {
    let seen: { url?: string; body?: unknown } = {};
    const client = await clientFor((req, body, res) => {
      seen = { url: req.url, body: JSON.parse(body) };
      sse(
        res,
        [
          ['sources', { session_id: 's-1', sources: [SOURCE] }],
          ['delta', { text: 'Run ' }],
          ['delta', { text: 'it.\n\nDone' }],
          ['done', { answer: 'Run it.\n\nDone', sources: [SOURCE], session_id: 's-1' }],
        ],
        { split: true },
      );
    });
    const partials: string[] = [];

    const reply = await client.streamMessage('How?', 's-1', (text) => partials.push(text));

    expect(seen).toEqual({ url: '/api/chat/stream', body: { message: 'How?', session_id: 's-1' } });
    expect(partials).toEqual(['Run ', 'Run it.\n\nDone']);
    expect(reply).toEqual({
      answer: 'Run it.\n\nDone',
      sources: [{ title: 'Deploy', urlOrPath: 'docs/deploy.md', score: 0.5, snippet: 's' }],
      sessionId: 's-1',
    });
  });

  it('turns an error event naming a service into an outage, its detail for the operator', async () => {
    const client = await clientFor((_req, _body, res) =>
      sse(res, [
        ['sources', { session_id: 's', sources: [] }],
        ['delta', { text: 'Par' }],
        ['error', { detail: 'gemini: quota exceeded (429)', service: 'gemini' }],
      ]),
    );

    const err = await failure(client.streamMessage('q', null, () => {}));

    expect(err.kind).toBe('unavailable');
    expect(err.message).not.toContain('gemini');
    expect(err.detail).toContain('gemini: quota exceeded (429)');
  });

  it('calls an error event from a server bug a problem, not "temporarily unavailable"', async () => {
    const client = await clientFor((_req, _body, res) =>
      sse(res, [
        ['delta', { text: 'Par' }],
        ['error', { detail: 'internal error in the chatbot server: the traceback is in its log', service: 'fastapi' }],
      ]),
    );

    const err = await failure(client.streamMessage('q', null, () => {}));

    expect(err.kind).toBe('server');
    expect(err.message).not.toMatch(/unavailable/i);
    expect(err.detail).toContain('internal error in the chatbot server');
  });

  it('says so when the stream ends before the answer is complete', async () => {
    const client = await clientFor((_req, _body, res) =>
      sse(res, [
        ['sources', { session_id: 's', sources: [] }],
        ['delta', { text: 'Par' }],
      ]),
    );

    const err = await failure(client.streamMessage('q', null, () => {}));

    expect(err.kind).toBe('protocol');
    expect(err.detail).toContain('ended before it was complete');
  });

  it('maps a 4xx before the stream starts like any other request', async () => {
    const client = await clientFor((_req, _body, res) =>
      json(res, 404, { detail: 'session 9 not found: omit session_id to start a new conversation' }),
    );

    const err = await failure(client.streamMessage('q', '9', () => {}));

    expect(err.kind).toBe('rejected');
    expect(err.status).toBe(404);
    expect(err.routeMissing).toBe(false);
  });

  it('falls back to /api/chat on a backend without the stream route', async () => {
    const urls: (string | undefined)[] = [];
    const client = await clientFor((req, _body, res) => {
      urls.push(req.url);
      if (req.url === '/api/chat/stream') json(res, 404, { detail: 'Not Found' });
      else json(res, 200, { answer: 'whole', sources: [], session_id: 's' });
    });

    const reply = await client.streamMessage('q', null, () => {});

    expect(urls).toEqual(['/api/chat/stream', '/api/chat']);
    expect(reply.answer).toBe('whole');
  });

  it('lets go of the connection once the answer is complete', async () => {
    let closed!: Promise<void>;
    const client = await clientFor((_req, _body, res) => {
      closed = new Promise((resolve) => res.on('close', () => resolve()));
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      // The end of the answer, but a proxy (or a slow server) keeps the response open.
      res.write(`event: done\ndata: ${JSON.stringify({ answer: 'a', sources: [], session_id: 's' })}\n\n`);
    });

    await client.streamMessage('q', null, () => {});

    await closed; // without a cancel, this waits for the 90 s timeout and the test times out
  });

  it('says the connection broke when the server drops it mid-answer', async () => {
    const client = await clientFor((_req, _body, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write('event: delta\ndata: {"text": "Par"}\n\n');
      setTimeout(() => res.socket?.destroy(), 20);
    });

    const err = await failure(client.streamMessage('q', null, () => {}));

    expect(err.kind).toBe('offline');
    expect(err.message).toContain('broke during the answer');
  });
});
