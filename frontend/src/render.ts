// DOM for one conversation entry. Text goes in through textContent only: answers and
// snippets come from documents and must never become markup. Buttons carry a `data-action`
// the panel (chatApp.ts) handles; this module only builds.

import { isWebUrl, renderInline, renderMarkdown } from './markdown';
import type { Source } from './services/chatClient';

export type Entry =
  | { kind: 'user'; text: string; at: Date | null }
  | { kind: 'assistant'; text: string; sources: Source[]; at: Date | null; stopped?: boolean }
  | { kind: 'thinking'; label?: string }
  | { kind: 'error'; title: string; text: string; detail?: string; retry: boolean };

export type Action = 'copy-answer' | 'copy-code' | 'regenerate' | 'retry';

export function renderEntry(entry: Entry): HTMLLIElement {
  const item = el('li', `message ${entry.kind}`);
  switch (entry.kind) {
    case 'user':
      item.append(el('p', 'who visually-hidden', 'You:'), el('p', 'text', entry.text));
      if (entry.at) item.append(meta(entry.at));
      break;
    case 'assistant': {
      const text = el('div', 'text markdown');
      text.append(renderMarkdown(entry.text));
      for (const pre of text.querySelectorAll('pre')) wrapCode(pre);
      item.append(el('p', 'who visually-hidden', 'Assistant:'), text);
      if (entry.stopped) {
        item.classList.add('stopped');
        item.append(el('p', 'stopped-note', 'Stopped: the answer above is incomplete.'));
      }
      if (entry.sources.length) item.append(renderSources(entry.sources));
      const footer = meta(entry.at);
      footer.append(button('copy-answer', 'Copy', 'Copy answer'), button('regenerate', 'Regenerate', 'Regenerate answer'));
      item.append(footer);
      break;
    }
    case 'thinking': {
      const label = el('span', 'thinking-label', entry.label ?? 'Thinking');
      const dots = el('span', 'dots');
      dots.setAttribute('aria-hidden', 'true');
      dots.append(el('span'), el('span'), el('span'));
      item.append(label, dots);
      break;
    }
    case 'error': {
      // The alert is a box inside the list item: a list item cannot itself be an alert.
      const alert = el('div', 'alert');
      alert.setAttribute('role', 'alert');
      alert.append(el('p', 'error-title', entry.title), el('p', 'text', entry.text));
      item.append(alert);
      if (entry.detail) {
        const details = el('details', 'error-detail');
        details.append(el('summary', undefined, 'Details'), el('p', undefined, entry.detail));
        item.append(details);
      }
      if (entry.retry) {
        const footer = el('div', 'meta');
        footer.append(button('retry', 'Retry'));
        item.append(footer);
      }
      break;
    }
  }
  return item;
}

/** A streaming answer's bubble: the panel fills `.text` as the answer grows. */
export function renderStreaming(): HTMLLIElement {
  const item = el('li', 'message assistant streaming');
  item.append(el('p', 'who visually-hidden', 'Assistant:'), el('div', 'text markdown'));
  return item;
}

function button(action: Action, text: string, label?: string): HTMLButtonElement {
  const node = el('button', `action ${action}`, text);
  node.type = 'button';
  node.dataset.action = action;
  if (label) node.setAttribute('aria-label', label);
  return node;
}

/** A code block with its "Copy code" button above it. */
function wrapCode(pre: HTMLPreElement): void {
  const block = el('div', 'code-block');
  pre.replaceWith(block);
  const head = el('div', 'code-head');
  head.append(button('copy-code', 'Copy code'));
  block.append(head, pre);
}

function meta(at: Date | null): HTMLElement {
  const footer = el('div', 'meta');
  if (at) footer.append(timestamp(at));
  return footer;
}

/** "5 min ago", with the exact time on hover (title) and on keyboard focus (CSS, from data-exact). */
export function timestamp(at: Date, now = new Date()): HTMLTimeElement {
  const node = el('time', 'when', relativeTime(at, now));
  node.dateTime = at.toISOString();
  const exact = at.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  node.title = exact;
  node.dataset.exact = exact;
  node.tabIndex = 0;
  return node;
}

export function relativeTime(at: Date, now = new Date()): string {
  const seconds = Math.round((now.getTime() - at.getTime()) / 1000);
  if (seconds < 45) return 'just now';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.round(hours / 24);
  if (days < 7) return days === 1 ? 'yesterday' : `${days} days ago`;
  return at.toLocaleDateString(undefined, { dateStyle: 'medium' });
}

export function renderSources(sources: Source[]): HTMLElement {
  const section = el('section', 'sources');
  const heading = el('h2', 'sources-title', sources.length === 1 ? 'Source' : `Sources (${sources.length})`);
  const list = el('ol', 'source-list');
  for (const source of sources) list.append(renderSource(source));
  section.append(heading, list);
  return section;
}

function renderSource(source: Source): HTMLLIElement {
  const item = el('li', 'source');
  const head = el('div', 'source-head');
  if (isWebUrl(source.urlOrPath)) {
    const link = el('a', 'source-title', source.title);
    link.href = source.urlOrPath;
    link.target = '_blank';
    link.rel = 'noopener noreferrer';
    head.append(link);
  } else {
    const title = el('span', 'source-title');
    title.append(renderInline(source.title));
    head.append(title);
    if (source.urlOrPath && source.urlOrPath !== source.title) {
      head.append(el('code', 'source-path', source.urlOrPath));
    }
  }
  const score = el('span', 'source-score', `relevance ${source.score.toFixed(2)}`);
  head.append(score);
  item.append(head);
  if (source.snippet) {
    const details = el('details', 'source-snippet');
    details.append(el('summary', undefined, 'Excerpt'), el('blockquote', undefined, source.snippet));
    item.append(details);
  }
  return item;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
