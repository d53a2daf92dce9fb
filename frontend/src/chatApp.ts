// The chat panel's behaviour: sending, the thinking state, errors, new conversations and
// restoring a session. It knows nothing about URLs; the client does.

import { ChatError, type ChatClient, type ChatReply, type HistoryMessage } from './services/chatClient';
import { renderEntry, type Entry } from './render';
import type { SessionStore } from './session';

export type Backend = Pick<ChatClient, 'streamMessage' | 'getHistory'>;

const ERROR_TITLES: Record<ChatError['kind'], string> = {
  offline: 'The chatbot server is unreachable',
  cors: 'Blocked by CORS',
  timeout: 'No answer in time',
  unavailable: 'The chatbot is unavailable',
  rejected: 'The question was not accepted',
  server: 'The chatbot server failed',
  protocol: 'Unexpected answer',
};

export class ChatApp {
  private readonly form: HTMLFormElement;
  private readonly input: HTMLTextAreaElement;
  private readonly send: HTMLButtonElement;
  private readonly newChat: HTMLButtonElement;
  private readonly messages: HTMLOListElement;
  private readonly welcome: HTMLElement;
  private readonly conversation: HTMLElement;
  private pending = false;
  /** Bumped by "New conversation", so a late reply to the old one is dropped. */
  private generation = 0;
  /** Aborts the answer on its way, when "New conversation" makes it unwanted. */
  private inFlight: AbortController | null = null;

  constructor(
    root: Document,
    private readonly backend: Backend,
    private readonly session: SessionStore,
  ) {
    this.form = byId(root, 'composer', HTMLFormElement);
    this.input = byId(root, 'message', HTMLTextAreaElement);
    this.send = byId(root, 'send', HTMLButtonElement);
    this.newChat = byId(root, 'new-chat', HTMLButtonElement);
    this.messages = byId(root, 'messages', HTMLOListElement);
    this.welcome = byId(root, 'welcome', HTMLElement);
    this.conversation = byId(root, 'conversation', HTMLElement);
  }

  /** Wires the controls, enables them (they ship disabled so nothing is inert-but-clickable) and restores the session. */
  start(): Promise<void> {
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.submit();
    });
    this.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        void this.submit();
      }
    });
    this.input.addEventListener('input', () => this.fitInput());
    this.newChat.addEventListener('click', () => this.startNewConversation());
    for (const button of this.welcome.querySelectorAll<HTMLButtonElement>('button.suggestion')) {
      button.addEventListener('click', () => {
        this.input.value = button.textContent ?? '';
        void this.submit();
      });
      button.disabled = false;
    }
    this.input.disabled = false;
    this.send.disabled = false;
    this.newChat.disabled = false;
    this.input.focus();
    return this.restore();
  }

  private async submit(): Promise<void> {
    const text = this.input.value.trim();
    if (!text) {
      this.input.focus();
      return;
    }
    if (this.pending) return;
    const generation = this.generation;
    this.input.value = '';
    this.fitInput();
    // Keyboard users stay in the box: a clicked suggestion is about to be hidden and Send
    // about to be disabled, and either would drop the focus to the page.
    this.input.focus();
    const question = this.append({ kind: 'user', text });
    let bubble = this.append({ kind: 'thinking' });
    this.setPending(true);
    const showPartial = (answerSoFar: string) => {
      if (generation !== this.generation) return;
      const partial = renderEntry({ kind: 'assistant', text: answerSoFar, sources: [] });
      partial.classList.add('streaming');
      const first = bubble.classList.contains('thinking');
      bubble.replaceWith(partial);
      bubble = partial;
      if (first) question.scrollIntoView({ block: 'start' });
    };
    const request = new AbortController();
    this.inFlight = request;
    try {
      const reply = await this.ask(text, showPartial, request.signal);
      if (generation !== this.generation) return;
      this.session.set(reply.sessionId);
      bubble.replaceWith(renderEntry({ kind: 'assistant', text: reply.answer, sources: reply.sources }));
      // Long answers are read from their start, so the question goes to the top.
      question.scrollIntoView({ block: 'start' });
    } catch (err) {
      if (generation !== this.generation) return;
      bubble.replaceWith(renderEntry(errorEntry(err)));
      // Give the question back so retrying is one keypress.
      if (!this.input.value) this.input.value = text;
      this.scrollToEnd();
    } finally {
      if (this.inFlight === request) this.inFlight = null;
      if (generation === this.generation) this.setPending(false);
    }
  }

  private async ask(text: string, onText: (answerSoFar: string) => void, signal: AbortSignal): Promise<ChatReply> {
    const sessionId = this.session.get();
    try {
      return await this.backend.streamMessage(text, sessionId, onText, signal);
    } catch (err) {
      // The backend no longer knows the session (e.g. its data folder was reset): go on in a new one.
      if (sessionId && err instanceof ChatError && err.status === 404) {
        this.session.clear();
        return this.backend.streamMessage(text, null, onText, signal);
      }
      throw err;
    }
  }

  private async restore(): Promise<void> {
    const sessionId = this.session.get();
    if (!sessionId) return;
    const generation = this.generation;
    const thinking = this.append({ kind: 'thinking', label: 'Loading your conversation' });
    this.setPending(true);
    let history: HistoryMessage[] | null;
    try {
      history = await this.backend.getHistory(sessionId);
    } catch (err) {
      if (generation !== this.generation) return;
      thinking.replaceWith(renderEntry({ ...errorEntry(err), title: 'Could not restore your previous conversation' }));
      this.setPending(false);
      return;
    }
    if (generation !== this.generation) return;
    thinking.remove();
    this.setPending(false);
    if (history === null) {
      this.session.clear();
      return;
    }
    let lastQuestion: HTMLElement | null = null;
    for (const message of history) {
      if (message.role === 'user') {
        lastQuestion = this.append({ kind: 'user', text: message.content });
      } else {
        this.append({ kind: 'assistant', text: message.content, sources: message.sources });
      }
    }
    lastQuestion?.scrollIntoView({ block: 'start' });
  }

  private startNewConversation(): void {
    this.generation += 1;
    this.inFlight?.abort();
    this.inFlight = null;
    this.session.clear();
    this.messages.replaceChildren();
    this.welcome.hidden = false;
    this.setPending(false);
    this.input.value = '';
    this.fitInput();
    this.input.focus();
  }

  private append(entry: Entry): HTMLLIElement {
    const node = renderEntry(entry);
    this.messages.append(node);
    this.welcome.hidden = true;
    this.scrollToEnd();
    return node;
  }

  private setPending(pending: boolean): void {
    this.pending = pending;
    this.send.disabled = pending;
    this.messages.setAttribute('aria-busy', String(pending));
  }

  private scrollToEnd(): void {
    this.conversation.scrollTop = this.conversation.scrollHeight;
  }

  /** Grows the textarea with its content up to the CSS max-height. */
  private fitInput(): void {
    this.input.style.height = 'auto';
    this.input.style.height = `${this.input.scrollHeight}px`;
  }
}

function errorEntry(err: unknown): Extract<Entry, { kind: 'error' }> {
  if (err instanceof ChatError) return { kind: 'error', title: ERROR_TITLES[err.kind], text: err.message };
  return { kind: 'error', title: 'Something went wrong', text: err instanceof Error ? err.message : String(err) };
}

function byId<T extends HTMLElement>(root: Document, id: string, type: { new (): T; prototype: T }): T {
  const node = root.getElementById(id);
  if (!(node instanceof type)) throw new Error(`index.html: #${id} is missing or is not a ${type.name}`);
  return node;
}
