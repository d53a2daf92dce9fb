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
}

/** Why a request failed; the page picks its wording from `message`, its styling from `kind`. */
export type ChatErrorKind =
  | 'offline' // nothing answered at baseUrl
  | 'cors' // the server answered but refused this page's origin
  | 'timeout'
  | 'unavailable' // 503: a service the backend needs is down
  | 'rejected' // other 4xx: the request itself was wrong
  | 'server' // other 5xx
  | 'protocol'; // an answer we cannot read

export class ChatError extends Error {
  constructor(
    readonly kind: ChatErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ChatError';
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

  async sendMessage(message: string, sessionId?: string | null): Promise<ChatReply> {
    const body: { message: string; session_id?: string } = { message };
    if (sessionId) body.session_id = sessionId;
    const json = await this.request('/api/chat', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    return parseChatReply(json);
  }

  /** The session's messages, oldest first; `null` when the server no longer knows the session. */
  async getHistory(sessionId: string): Promise<HistoryMessage[] | null> {
    try {
      const json = await this.request(`/api/chat/history/${encodeURIComponent(sessionId)}`);
      return parseHistory(json);
    } catch (err) {
      if (err instanceof ChatError && err.status === 404) return null;
      throw err;
    }
  }

  private async request(path: string, init: RequestInit = {}): Promise<unknown> {
    const url = this.baseUrl + path;
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), REQUEST_TIMEOUT_MS);
    let response: Response;
    try {
      response = await fetch(url, { ...init, signal: timeout.signal });
    } catch (err) {
      if (timeout.signal.aborted) {
        throw new ChatError(
          'timeout',
          `The chatbot server at ${this.baseUrl} did not answer within ${REQUEST_TIMEOUT_MS / 1000} s. ` +
            'It may be waking up or overloaded: try again in a moment.',
        );
      }
      throw await this.diagnoseNetworkFailure();
    } finally {
      clearTimeout(timer);
    }
    const text = await response.text();
    if (!response.ok) throw httpError(response.status, text);
    try {
      return JSON.parse(text);
    } catch {
      throw new ChatError('protocol', `The chatbot server sent an answer that is not JSON (HTTP ${response.status}).`);
    }
  }

  /**
   * A browser hides why a fetch failed. An opaque `no-cors` request still succeeds when the
   * server is up, so success there means the server refused this page's origin (CORS);
   * failure means nothing is listening.
   */
  private async diagnoseNetworkFailure(): Promise<ChatError> {
    let serverAnswers = false;
    try {
      await fetch(`${this.baseUrl}/api/health`, { mode: 'no-cors', cache: 'no-store' });
      serverAnswers = true;
    } catch {
      serverAnswers = false;
    }
    if (serverAnswers) {
      const origin = typeof window !== 'undefined' ? window.location.origin : 'this page';
      return new ChatError(
        'cors',
        `The chatbot server at ${this.baseUrl} is running but refused requests from ${origin} (CORS). ` +
          `Add ${origin} to the backend's ALLOWED_ORIGINS setting (comma-separated) and restart it.`,
      );
    }
    return new ChatError(
      'offline',
      `Cannot reach the chatbot server at ${this.baseUrl}. It may be stopped, or still starting ` +
        '(a sleeping Hugging Face Space takes a minute to wake): try again shortly.',
    );
  }
}

/** Maps an error response to a sentence: FastAPI puts the reason in `detail`. */
export function httpError(status: number, body: string): ChatError {
  const detail = readDetail(body);
  if (status === 503) {
    return new ChatError(
      'unavailable',
      `The chatbot is temporarily unavailable: ${detail ?? 'a service it depends on is down'}.`,
      status,
    );
  }
  if (status >= 400 && status < 500) {
    return new ChatError('rejected', detail ?? `The chatbot server rejected the request (HTTP ${status}).`, status);
  }
  return new ChatError(
    'server',
    `The chatbot server failed (HTTP ${status})${detail ? `: ${detail}` : ''}. Try again; if it persists, check the server logs.`,
    status,
  );
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

export function parseChatReply(json: unknown): ChatReply {
  if (!isRecord(json) || typeof json.answer !== 'string' || typeof json.session_id !== 'string') {
    throw new ChatError('protocol', 'The chatbot server sent an answer without `answer` and `session_id`.');
  }
  return { answer: json.answer, sources: parseSources(json.sources), sessionId: json.session_id };
}

export function parseHistory(json: unknown): HistoryMessage[] {
  const list = isRecord(json) ? json.messages : json;
  if (!Array.isArray(list)) {
    throw new ChatError('protocol', 'The chatbot server sent a history without a `messages` list.');
  }
  return list.filter(isRecord).flatMap((item): HistoryMessage[] => {
    const role = item.role;
    if ((role !== 'user' && role !== 'assistant') || typeof item.content !== 'string') return [];
    return [{ role, content: item.content, sources: parseSources(item.sources) }];
  });
}

function parseSources(value: unknown): Source[] {
  if (!Array.isArray(value)) return [];
  return value.filter(isRecord).map((s) => ({
    title: typeof s.title === 'string' && s.title ? s.title : String(s.url_or_path ?? 'Untitled'),
    urlOrPath: typeof s.url_or_path === 'string' ? s.url_or_path : '',
    score: typeof s.score === 'number' ? s.score : 0,
    snippet: typeof s.snippet === 'string' ? s.snippet : '',
  }));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
