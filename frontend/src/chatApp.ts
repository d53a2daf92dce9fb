// The chat panel's behaviour: sending, the thinking state, stopping, copying, retrying,
// errors, new conversations and restoring a session. It knows nothing about URLs; the client does.

import { ChatError, type ChatClient, type ChatReply, type HistoryMessage } from './services/chatClient';
import { LiveMarkdown } from './markdown';
import { relativeTime, renderEntry, renderStreaming, type Action, type Entry } from './render';
import type { SessionStore } from './session';

export type Backend = Pick<ChatClient, 'streamMessage' | 'getHistory' | 'messageLimit'>;

const ERROR_TITLES: Record<ChatError['kind'], string> = {
  offline: 'The chatbot is unreachable',
  cors: 'This site cannot use the chatbot',
  timeout: 'No answer in time',
  unavailable: 'The chatbot is temporarily unavailable',
  rejected: 'The question was not accepted',
  server: 'The chatbot ran into a problem',
  protocol: 'Unexpected answer',
};

/** The counter shows from this share of the backend's limit on. */
const COUNTER_FROM = 0.9;
/** How close to the bottom (px) still counts as "at the latest". */
const AT_BOTTOM_PX = 48;

export class ChatApp {
  private readonly form: HTMLFormElement;
  private readonly input: HTMLTextAreaElement;
  private readonly send: HTMLButtonElement;
  private readonly stop: HTMLButtonElement;
  private readonly newChat: HTMLButtonElement;
  private readonly messages: HTMLOListElement;
  private readonly log: HTMLElement;
  private readonly welcome: HTMLElement;
  private readonly conversation: HTMLElement;
  private readonly counter: HTMLElement;
  private readonly jump: HTMLButtonElement;
  private readonly status: HTMLElement;
  private pending = false;
  /** The backend's limit on a question, in characters; null until it says (or if it never does). */
  private limit: number | null = null;
  /** Bumped by "New conversation", so a late reply to the old one is dropped. */
  private generation = 0;
  /** Aborts the answer on its way (Stop, Escape, New conversation). */
  private inFlight: AbortController | null = null;
  /** Set by Stop: the abort keeps what has arrived instead of dropping it. */
  private stopRequested = false;
  /** The question each answer or error answers, for Retry and Regenerate. */
  private readonly questionOf = new WeakMap<Element, string>();

  constructor(
    root: Document,
    private readonly backend: Backend,
    private readonly session: SessionStore,
  ) {
    this.form = byId(root, 'composer', HTMLFormElement);
    this.input = byId(root, 'message', HTMLTextAreaElement);
    this.send = byId(root, 'send', HTMLButtonElement);
    this.stop = byId(root, 'stop', HTMLButtonElement);
    this.newChat = byId(root, 'new-chat', HTMLButtonElement);
    this.messages = byId(root, 'messages', HTMLOListElement);
    this.log = byId(root, 'log', HTMLElement);
    this.welcome = byId(root, 'welcome', HTMLElement);
    this.conversation = byId(root, 'conversation', HTMLElement);
    this.counter = byId(root, 'counter', HTMLElement);
    this.jump = byId(root, 'jump', HTMLButtonElement);
    this.status = byId(root, 'status', HTMLElement);
  }

  /**
   * Wires the controls, enables them (they ship disabled so nothing is inert-but-clickable),
   * restores the session and asks the backend for its limit on a question.
   */
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
    this.input.addEventListener('input', () => {
      this.fitInput();
      this.updateCounter();
    });
    this.form.ownerDocument.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.pending && this.inFlight) {
        event.preventDefault();
        this.stopAnswer();
      }
    });
    this.stop.addEventListener('click', () => this.stopAnswer());
    this.newChat.addEventListener('click', () => this.startNewConversation());
    this.jump.addEventListener('click', () => {
      this.scrollToEnd();
      this.jump.hidden = true;
      this.input.focus();
    });
    this.conversation.addEventListener('scroll', () => this.updateJump(), { passive: true });
    this.messages.addEventListener('click', (event) => {
      const target = (event.target as Element).closest<HTMLButtonElement>('button[data-action]');
      if (target) void this.act(target.dataset.action as Action, target);
    });
    for (const button of this.welcome.querySelectorAll<HTMLButtonElement>('button.suggestion')) {
      button.addEventListener('click', () => {
        this.input.value = button.textContent;
        void this.submit();
      });
      button.disabled = false;
    }
    // Relative times ("5 min ago") stay true while the page stays open.
    setInterval(() => this.refreshTimes(), 30_000);
    this.input.disabled = false;
    this.send.disabled = false;
    this.newChat.disabled = false;
    this.input.focus();
    return Promise.all([this.restore(), this.loadLimit()]).then(() => undefined);
  }

  /** Until the backend has said, the counter stays hidden and the backend alone judges the length. */
  private async loadLimit(): Promise<void> {
    this.limit = await this.backend.messageLimit();
    this.updateCounter();
  }

  private async submit(): Promise<void> {
    const text = this.input.value.trim();
    if (!text) {
      this.input.focus();
      return;
    }
    if (this.pending) return;
    if (this.limit !== null && charCount(text) > this.limit) {
      this.announce(this.counter.textContent);
      this.input.focus();
      return;
    }
    // The backend could not be asked at start (asleep, offline): ask again along with this question.
    if (this.limit === null) void this.loadLimit();
    this.input.value = '';
    this.fitInput();
    this.updateCounter();
    // Keyboard users stay in the box: a clicked suggestion is about to be hidden and Send
    // about to be disabled, and either would drop the focus to the page.
    this.input.focus();
    const question = this.append({ kind: 'user', text, at: new Date() });
    await this.answer(question, text);
  }

  /** Asks `text` and shows the answer (or what went wrong) after `question`'s entry. */
  private async answer(question: HTMLElement, text: string): Promise<void> {
    const generation = this.generation;
    const request = new AbortController();
    this.inFlight = request;
    this.stopRequested = false;
    let bubble = this.append({ kind: 'thinking' });
    this.setPending(true);
    let live: LiveMarkdown | null = null;
    let answerSoFar = '';
    const showPartial = (soFar: string, piece: string) => {
      if (generation !== this.generation) return;
      answerSoFar = soFar;
      if (!live) {
        const partial = renderStreaming();
        bubble.replaceWith(partial);
        bubble = partial;
        live = new LiveMarkdown(partial.querySelector<HTMLElement>('.text')!);
        live.append(piece);
        question.scrollIntoView({ block: 'start' });
      } else {
        live.append(piece);
      }
      this.updateJump();
    };
    try {
      const reply = await this.ask(text, showPartial, request.signal);
      if (generation !== this.generation) return;
      this.session.set(reply.sessionId);
      bubble = this.replace(bubble, { kind: 'assistant', text: reply.answer, sources: reply.sources, at: new Date() }, text);
      // Long answers are read from their start, so the question goes to the top.
      question.scrollIntoView({ block: 'start' });
    } catch (err) {
      if (generation !== this.generation) return;
      // Set by the Stop button while `ask` was awaited, which TypeScript's narrowing cannot see.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
      if (this.stopRequested) {
        // Stopped by the user: what arrived stays, marked as incomplete.
        bubble = answerSoFar
          ? this.replace(bubble, { kind: 'assistant', text: answerSoFar, sources: [], at: new Date(), stopped: true }, text)
          : this.replace(bubble, { kind: 'error', title: 'Stopped', text: 'You stopped the answer before it began.', retry: true }, text);
        this.announce('Stopped');
      } else {
        const entry = errorEntry(err);
        if (entry.detail) console.error(`${entry.title}: ${entry.detail}`);
        bubble = this.replace(bubble, entry, text);
        // A rejected question goes back into the box to be edited; others get a Retry button.
        if (!entry.retry && !this.input.value) {
          this.input.value = text;
          this.updateCounter();
        }
        this.scrollToEnd();
      }
    } finally {
      if (this.inFlight === request) this.inFlight = null;
      if (generation === this.generation) this.setPending(false);
      this.jump.hidden = true;
    }
  }

  private async ask(text: string, onText: (answerSoFar: string, piece: string) => void, signal: AbortSignal): Promise<ChatReply> {
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

  private stopAnswer(): void {
    if (!this.inFlight) return;
    this.stopRequested = true;
    this.inFlight.abort();
  }

  private async act(action: Action, button: HTMLButtonElement): Promise<void> {
    const item = button.closest('li.message');
    if (!item) return;
    if (action === 'copy-answer' || action === 'copy-code') {
      const text =
        action === 'copy-code'
          ? button.closest('.code-block')?.querySelector('pre')?.textContent ?? ''
          : (item as HTMLElement).dataset.answer ?? '';
      const copied = await copyText(text, this.form.ownerDocument);
      const label = button.textContent;
      button.textContent = copied ? 'Copied' : 'Copy failed';
      this.announce(copied ? 'Copied' : 'Copying failed: select the text and copy it by hand');
      setTimeout(() => (button.textContent = label), 2000);
      return;
    }
    // Retry (after an error) and Regenerate (the last answer) ask the same question again.
    const question = this.questionOf.get(item);
    const asked = item.previousElementSibling;
    if (this.pending || question === undefined || !(asked instanceof HTMLElement)) return;
    item.remove();
    this.input.focus();
    await this.answer(asked, question);
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
      const entry = errorEntry(err);
      if (entry.detail) console.error(`Could not restore the conversation: ${entry.detail}`);
      thinking.replaceWith(renderEntry({ ...entry, title: 'Could not restore your previous conversation', retry: false }));
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
    let lastText = '';
    for (const message of history) {
      if (message.role === 'user') {
        lastQuestion = this.append({ kind: 'user', text: message.content, at: message.createdAt });
        lastText = message.content;
      } else {
        const node = this.append({ kind: 'assistant', text: message.content, sources: message.sources, at: message.createdAt });
        node.dataset.answer = message.content;
        this.questionOf.set(node, lastText);
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
    this.jump.hidden = true;
    this.input.value = '';
    this.fitInput();
    this.updateCounter();
    this.input.focus();
  }

  private append(entry: Entry): HTMLLIElement {
    const node = renderEntry(entry);
    this.messages.append(node);
    this.welcome.hidden = true;
    this.scrollToEnd();
    return node;
  }

  /** Puts `entry` where `old` was, remembering the question it answers. */
  private replace(old: Element, entry: Entry, question: string): HTMLLIElement {
    const node = renderEntry(entry);
    if (entry.kind === 'assistant') node.dataset.answer = entry.text;
    this.questionOf.set(node, question);
    old.replaceWith(node);
    return node;
  }

  private setPending(pending: boolean): void {
    this.pending = pending;
    const stopHadFocus = this.stop.ownerDocument.activeElement === this.stop;
    this.send.disabled = pending;
    // Stop stands in for Send while an answer is on its way.
    this.send.hidden = pending && this.inFlight !== null;
    this.stop.hidden = !this.send.hidden;
    if (stopHadFocus && this.stop.hidden) this.input.focus();
    this.log.setAttribute('aria-busy', String(pending));
  }

  private scrollToEnd(): void {
    this.conversation.scrollTop = this.conversation.scrollHeight;
  }

  /** "Jump to latest" shows while an answer streams below what the user is looking at. */
  private updateJump(): void {
    const { scrollTop, scrollHeight, clientHeight } = this.conversation;
    this.jump.hidden = !(this.pending && this.inFlight && scrollHeight - scrollTop - clientHeight > AT_BOTTOM_PX);
  }

  /** The counter appears near the limit; over it, sending is refused until the question is shorter. */
  private updateCounter(): void {
    const count = charCount(this.input.value.trim());
    const limit = this.limit ?? Infinity;
    const over = count > limit;
    this.counter.hidden = count < limit * COUNTER_FROM;
    this.counter.textContent = over
      ? `${count.toLocaleString('en')} / ${limit.toLocaleString('en')} characters: remove ${(count - limit).toLocaleString('en')} to send`
      : `${count.toLocaleString('en')} / ${limit.toLocaleString('en')} characters`;
    this.counter.classList.toggle('over', over);
    if (over) this.input.setAttribute('aria-invalid', 'true');
    else this.input.removeAttribute('aria-invalid');
  }

  private refreshTimes(): void {
    for (const time of this.messages.querySelectorAll('time[datetime]')) {
      time.textContent = relativeTime(new Date(time.getAttribute('datetime')!));
    }
  }

  /** Says `text` to screen readers (a polite status), once. */
  private announce(text: string): void {
    this.status.textContent = '';
    setTimeout(() => (this.status.textContent = text), 50);
  }

  /** Grows the textarea with its content up to the CSS max-height. */
  private fitInput(): void {
    this.input.style.height = 'auto';
    this.input.style.height = `${this.input.scrollHeight}px`;
  }
}

/** Characters as the backend counts them (code points, not UTF-16 units). */
function charCount(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code < 0xdc00 || code > 0xdfff || i === 0 || text.charCodeAt(i - 1) < 0xd800 || text.charCodeAt(i - 1) > 0xdbff) count += 1;
  }
  return count;
}

/**
 * The Clipboard API where the page may use it (browsers leave it out on plain-http pages),
 * else a selected hidden text box and execCommand.
 */
export async function copyText(text: string, doc: Document = document): Promise<boolean> {
  try {
    // Missing outside secure contexts (plain http), whatever the DOM types say.
    const clipboard = navigator.clipboard as Clipboard | undefined;
    if (clipboard) {
      await clipboard.writeText(text);
      return true;
    }
  } catch {
    // Denied (permissions, no user gesture): try the old way.
  }
  const box = doc.createElement('textarea');
  box.value = text;
  box.setAttribute('readonly', '');
  box.className = 'clipboard-helper';
  const focused = doc.activeElement as HTMLElement | null;
  doc.body.append(box);
  box.select();
  let copied: boolean;
  try {
    // Deprecated, and still the only copy without the Clipboard API (plain http pages).
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    copied = doc.execCommand('copy');
  } catch {
    copied = false;
  }
  box.remove();
  focused?.focus();
  return copied;
}

function errorEntry(err: unknown): Extract<Entry, { kind: 'error' }> {
  if (err instanceof ChatError) {
    return { kind: 'error', title: ERROR_TITLES[err.kind], text: err.message, detail: err.detail, retry: err.kind !== 'rejected' };
  }
  return {
    kind: 'error',
    title: 'Something went wrong',
    text: 'The page hit an unexpected problem. Try again; if it keeps happening, contact the site owner.',
    detail: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    retry: true,
  };
}

function byId<T extends HTMLElement>(root: Document, id: string, type: { new (): T; prototype: T }): T {
  const node = root.getElementById(id);
  if (!(node instanceof type)) throw new Error(`index.html: #${id} is missing or is not a ${type.name}`);
  return node;
}
