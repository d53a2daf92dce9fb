// The one module that knows where the backend is and what its wire format looks like.
// `cargo xtask deploy` rewrites the production URL literal below (one regex, exactly one
// match): keep the ternary's shape as it is.

export interface Source {
  title: string;
  urlOrPath: string;
  score: number;
  snippet: string;
}

export interface ChatReply {
  answer: string;
  sources: Source[];
  sessionId: string;
}

export interface HistoryMessage {
  role: 'user' | 'assistant';
  content: string;
  sources: Source[];
  /** When the backend stored it; null when it did not say (or said something unreadable). */
  createdAt: Date | null;
}

/**
 * Why a request failed. `message` is for the person using the page: what happened and what
 * they can do. `detail` is for whoever runs the site (which service, which setting); the
 * page shows it behind "Details" and logs it to the console.
 */
export type ChatErrorKind =
  | 'offline' // nothing answered at baseUrl
  | 'cors' // the server answered but refused this page's origin
  | 'timeout'
  | 'unavailable' // 503: a service the backend needs is down
  | 'rejected' // other 4xx: the request itself was wrong
  | 'server' // other 5xx
  | 'protocol'; // an answer we cannot read

export class ChatError extends Error {
  readonly status?: number;
  /** FastAPI's own 404/405 for a path or method it has no route for (an older backend). */
  readonly routeMissing: boolean;
  readonly detail?: string;

  constructor(
    readonly kind: ChatErrorKind,
    message: string,
    { status, routeMissing = false, detail }: { status?: number; routeMissing?: boolean; detail?: string } = {},
  ) {
    super(message);
    this.name = 'ChatError';
    this.status = status;
    this.routeMissing = routeMissing;
    this.detail = detail;
  }
}

/** A chat request may wait for a cold Space and a slow model; a minute and a half is generous. */
const REQUEST_TIMEOUT_MS = 90_000;

export class ChatClient {
  baseUrl: string;

  constructor() {
    const isProduction = typeof window !== 'undefined' &&
      !window.location.hostname.includes('localhost');

    this.baseUrl = isProduction
      ? 'https://anusha-soh-rag-chatbot.hf.space'
      : 'http://localhost:8000';
  }

  async sendMessage(message: string, sessionId?: string | null, signal?: AbortSignal): Promise<ChatReply> {
    const response = await this.open('/api/chat', chatRequest(message, sessionId), { signal });
    return parseChatReply(await readJson(response));
  }

  /**
   * Like `sendMessage`, but the answer arrives as server-sent events; `onText` gets the answer
   * so far and the new piece after each piece. Falls back to `sendMessage` on a backend without the stream route.
   * `signal` stops the request when the answer is no longer wanted (the server then stops streaming).
   */
  async streamMessage(
    message: string,
    sessionId: string | null | undefined,
    onText: (answerSoFar: string, piece: string) => void,
    signal?: AbortSignal,
  ): Promise<ChatReply> {
    let response: Response;
    try {
      response = await this.open('/api/chat/stream', chatRequest(message, sessionId), { idle: true, signal });
    } catch (err) {
      if (err instanceof ChatError && err.routeMissing) return this.sendMessage(message, sessionId, signal);
      throw err;
    }
    // `sources` arrives first, but `done` repeats it with the whole answer: only deltas and
    // the end matter here.
    let answer = '';
    for await (const event of readEvents(response, this.baseUrl)) {
      if (event.name === 'delta' && isRecord(event.data) && typeof event.data.text === 'string') {
        answer += event.data.text;
        onText(answer, event.data.text);
      } else if (event.name === 'error') {
        const detail = isRecord(event.data) && typeof event.data.detail === 'string' ? event.data.detail : 'the answer stopped half-way';
        // The backend names the service that failed; "fastapi" is its own bug, not an outage.
        const bug = isRecord(event.data) && event.data.service === 'fastapi';
        throw bug ? serverBug(`the answer stream ended with an error: ${detail}`) : unavailable(detail);
      } else if (event.name === 'done') {
        return parseChatReply(event.data);
      }
    }
    throw unreadable('The answer stream ended before it was complete.');
  }

  /**
   * The longest question the backend accepts, in characters: the `maxLength` its OpenAPI
   * schema states for the chat request's `message` (backend/app/models/schemas.py), asked at
   * run time so the page never carries a copy that could drift. `null` when the backend
   * cannot be asked or does not say: it still refuses an over-long question itself.
   */
  async messageLimit(): Promise<number | null> {
    try {
      return parseMessageLimit(await readJson(await this.open('/openapi.json')));
    } catch {
      return null;
    }
  }

  /** The session's messages, oldest first; `null` when the server does not know the session (404) or rejects its id (422). */
  async getHistory(sessionId: string): Promise<HistoryMessage[] | null> {
    try {
      const response = await this.open(`/api/chat/history/${encodeURIComponent(sessionId)}`);
      return parseHistory(await readJson(response));
    } catch (err) {
      if (err instanceof ChatError && (err.status === 404 || err.status === 422)) return null;
      throw err;
    }
  }

  /**
   * The response once its headers arrive, or a ChatError. The timeout covers the wait for
   * the headers and then, with `idle`, every pause in the body (streams may run long but
   * must keep moving); otherwise the whole body. The caller's `signal` aborts it too, and
   * the call then rejects with an AbortError, not a ChatError: nobody is waiting to read it.
   */
  private async open(
    path: string,
    init: RequestInit = {},
    { idle = false, signal }: { idle?: boolean; signal?: AbortSignal } = {},
  ): Promise<Response> {
    if (signal?.aborted) throw cancelled();
    const timeout = new AbortController();
    signal?.addEventListener('abort', () => timeout.abort(), { once: true });
    let timer = setTimeout(() => timeout.abort(), REQUEST_TIMEOUT_MS);
    let response: Response;
    try {
      response = await fetch(this.baseUrl + path, { ...init, signal: timeout.signal });
    } catch {
      clearTimeout(timer);
      if (signal?.aborted) throw cancelled();
      throw timeout.signal.aborted ? this.timeoutError() : await this.diagnoseNetworkFailure();
    }
    if (!response.ok) {
      clearTimeout(timer);
      throw httpError(response.status, await response.text().catch(() => ''));
    }
    if (!response.body) {
      clearTimeout(timer);
      return response;
    }
    // Re-arms the timer on every chunk (idle) or clears it at the end, and maps an abort or a
    // dropped connection mid-body to a sentence.
    const reader = response.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          const { done, value } = await reader.read();
          if (idle || done) clearTimeout(timer);
          if (done) {
            controller.close();
            return;
          }
          if (idle) timer = setTimeout(() => timeout.abort(), REQUEST_TIMEOUT_MS);
          controller.enqueue(value);
        } catch {
          clearTimeout(timer);
          controller.error(
            signal?.aborted
              ? cancelled()
              : timeout.signal.aborted
              ? this.timeoutError()
              : new ChatError('offline', 'The connection to the chatbot broke during the answer. Try again.', {
                  detail: `The connection to the chatbot server at ${this.baseUrl} broke during the answer.`,
                }),
          );
        }
      },
      cancel: (reason) => {
        clearTimeout(timer);
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  }

  private timeoutError(): ChatError {
    return new ChatError('timeout', 'The chatbot took too long to answer. It may be waking up or busy: try again in a moment.', {
      detail: `The chatbot server at ${this.baseUrl} did not answer within ${REQUEST_TIMEOUT_MS / 1000} s.`,
    });
  }

  /**
   * A browser hides why a fetch failed. An opaque `no-cors` request still succeeds when the
   * server is up, so success there means the server refused this page's origin (CORS);
   * failure means nothing is listening.
   */
  private async diagnoseNetworkFailure(): Promise<ChatError> {
    const serverAnswers = await fetch(`${this.baseUrl}/api/health`, { mode: 'no-cors', cache: 'no-store' }).then(
      () => true,
      () => false,
    );
    if (serverAnswers) {
      const origin = typeof window !== 'undefined' ? window.location.origin : 'this page';
      return new ChatError('cors', 'This site is not allowed to use the chatbot server yet. Contact the site owner.', {
        detail:
          `The chatbot server at ${this.baseUrl} is running but refused requests from ${origin} (CORS). ` +
          `Add ${origin} to the backend's ALLOWED_ORIGINS setting (comma-separated) and restart it.`,
      });
    }
    return new ChatError(
      'offline',
      'The chatbot cannot be reached. It may be stopped or still waking up: try again in a minute.',
      {
        detail:
          `Cannot reach the chatbot server at ${this.baseUrl}. It may be stopped, or still starting ` +
          '(a sleeping Hugging Face Space takes a minute to wake).',
      },
    );
  }
}

// Not `signal.throwIfAborted()` / `signal.reason`: Safari before 15.4 has neither.
function cancelled(): DOMException {
  return new DOMException('The answer is no longer wanted.', 'AbortError');
}

function chatRequest(message: string, sessionId?: string | null): RequestInit {
  const body: { message: string; session_id?: string } = { message };
  if (sessionId) body.session_id = sessionId;
  return {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  };
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw unreadable(`The chatbot server sent an answer that is not JSON (HTTP ${response.status}).`);
  }
}

interface ServerEvent {
  name: string;
  data: unknown;
}

/** Server-sent events from a response body: `event:` and `data:` lines, blank-line separated. */
async function* readEvents(response: Response, baseUrl: string): AsyncGenerator<ServerEvent> {
  if (!response.body) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer = (buffer + (value ?? '')).replace(/\r\n?/g, '\n');
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) name = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (!data.length) continue;
        let parsed: unknown;
        try {
          parsed = JSON.parse(data.join('\n'));
        } catch {
          throw unreadable(`The chatbot server at ${baseUrl} sent a stream event that is not JSON.`);
        }
        yield { name, data: parsed };
      }
      if (done) return;
    }
  } finally {
    // The caller stops at `done` or `error`: close the connection and its idle timer now
    // instead of holding both until the server hangs up or the timer fires.
    reader.cancel().catch(() => {});
  }
}

/** Maps an error response to a sentence: FastAPI puts the reason in `detail`. */
export function httpError(status: number, body: string): ChatError {
  const detail = readDetail(body);
  const routeMissing = (status === 404 && detail === 'Not Found') || (status === 405 && detail === 'Method Not Allowed');
  if (status === 503) return unavailable(detail ?? 'a service it depends on is down (HTTP 503)');
  if (status >= 400 && status < 500) {
    // The request itself was wrong (e.g. the question is too long): the reason is for the user.
    return new ChatError('rejected', detail ?? `The chatbot server rejected the request (HTTP ${status}).`, { status, routeMissing });
  }
  return serverBug(`HTTP ${status}${detail ? `: ${detail}` : ''}`, status);
}

function unavailable(detail: string): ChatError {
  return new ChatError('unavailable', 'The chatbot is temporarily unavailable. Try again later; if it lasts, contact the site owner.', {
    status: 503,
    detail: `A service the chatbot needs is down: ${detail}`,
  });
}

/** A bug in the server, not an outage: trying again may help, waiting will not. */
function serverBug(detail: string, status = 500): ChatError {
  return new ChatError('server', 'The chatbot ran into a problem and could not answer. Try again; if it keeps happening, contact the site owner.', {
    status,
    detail: `The chatbot server failed (${detail}). Its log has the traceback.`,
  });
}

function unreadable(detail: string): ChatError {
  return new ChatError('protocol', 'The chatbot sent an answer this page cannot read. Try again; if it keeps happening, contact the site owner.', {
    detail,
  });
}

/** `detail` is a string for HTTPException and a list of `{loc, msg}` for validation errors. */
function readDetail(body: string): string | null {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return null;
  }
  const detail = isRecord(json) ? json.detail : undefined;
  if (typeof detail === 'string' && detail.trim()) return detail.trim();
  if (Array.isArray(detail)) {
    const parts = detail.filter(isRecord).map((item) => {
      const field = Array.isArray(item.loc) ? item.loc.filter((p) => p !== 'body').join('.') : '';
      const msg = typeof item.msg === 'string' ? item.msg : 'invalid value';
      return field ? `${field}: ${msg}` : msg;
    });
    if (parts.length) return parts.join('; ');
  }
  return null;
}

/** `maxLength` of `message` in the schema `POST /api/chat` takes, found through its `$ref`. */
export function parseMessageLimit(openapi: unknown): number | null {
  const at = (value: unknown, keys: string[]): unknown =>
    keys.reduce<unknown>((node, key) => (isRecord(node) ? node[key] : undefined), value);
  const ref = at(openapi, ['paths', '/api/chat', 'post', 'requestBody', 'content', 'application/json', 'schema', '$ref']);
  if (typeof ref !== 'string' || !ref.startsWith('#/')) return null;
  const limit = at(openapi, [...ref.slice(2).split('/'), 'properties', 'message', 'maxLength']);
  return typeof limit === 'number' && Number.isInteger(limit) && limit > 0 ? limit : null;
}

export function parseChatReply(json: unknown): ChatReply {
  if (!isRecord(json) || typeof json.answer !== 'string' || typeof json.session_id !== 'string') {
    throw unreadable('The chatbot server sent an answer without `answer` and `session_id`.');
  }
  return { answer: json.answer, sources: parseSources(json.sources), sessionId: json.session_id };
}

export function parseHistory(json: unknown): HistoryMessage[] {
  const list = isRecord(json) ? json.messages : json;
  if (!Array.isArray(list)) {
    throw unreadable('The chatbot server sent a history without a `messages` list.');
  }
  return list.filter(isRecord).flatMap((item): HistoryMessage[] => {
    const role = item.role;
    if ((role !== 'user' && role !== 'assistant') || typeof item.content !== 'string') return [];
    const createdAt = typeof item.created_at === 'string' ? new Date(item.created_at) : null;
    return [{ role, content: item.content, sources: parseSources(item.sources), createdAt: createdAt && !isNaN(createdAt.getTime()) ? createdAt : null }];
  });
}

function parseSources(value: unknown): Source[] {
  if (!Array.isArray(value)) return [];
  return value.filter(isRecord).map((s) => ({
    title:
      typeof s.title === 'string' && s.title
        ? s.title
        : typeof s.url_or_path === 'string' && s.url_or_path
          ? s.url_or_path
          : 'Untitled',
    urlOrPath: typeof s.url_or_path === 'string' ? s.url_or_path : '',
    score: typeof s.score === 'number' ? s.score : 0,
    snippet: typeof s.snippet === 'string' ? s.snippet : '',
  }));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
