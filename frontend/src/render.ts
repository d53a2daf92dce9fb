// DOM for one conversation entry. Text goes in through textContent only: answers and
// snippets come from documents and must never become markup.

import { isWebUrl, renderInline, renderMarkdown } from './markdown';
import type { Source } from './services/chatClient';

export type Entry =
  | { kind: 'user'; text: string }
  | { kind: 'assistant'; text: string; sources: Source[] }
  | { kind: 'thinking'; label?: string }
  | { kind: 'error'; text: string; title: string };

export function renderEntry(entry: Entry): HTMLLIElement {
  const item = el('li', `message ${entry.kind}`);
  switch (entry.kind) {
    case 'user':
      item.append(el('p', 'who visually-hidden', 'You:'), el('p', 'text', entry.text));
      break;
    case 'assistant': {
      const text = el('div', 'text markdown');
      text.append(renderMarkdown(entry.text));
      item.append(el('p', 'who visually-hidden', 'Assistant:'), text);
      if (entry.sources.length) item.append(renderSources(entry.sources));
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
    case 'error':
      item.setAttribute('role', 'alert');
      item.append(el('p', 'error-title', entry.title), el('p', 'text', entry.text));
      break;
  }
  return item;
}

export function renderSources(sources: Source[]): HTMLElement {
  const section = el('section', 'sources');
  const heading = el('h3', 'sources-title', sources.length === 1 ? 'Source' : `Sources (${sources.length})`);
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
