// @vitest-environment happy-dom
// The DOM of one entry: sources as safe links or paths, text never turned into markup, errors
// as alerts, the actions an answer offers, and its timestamp.
import { describe, expect, it } from 'vitest';
import { relativeTime, renderEntry, renderSources, timestamp } from './render';

describe('renderSources', () => {
  it('links a web source and opens it safely in a new tab', () => {
    const section = renderSources([{ title: 'Spaces docs', urlOrPath: 'https://example.org/spaces', score: 0.5, snippet: '' }]);

    const link = section.querySelector('a.source-title') as HTMLAnchorElement;
    expect(link.textContent).toBe('Spaces docs');
    expect(link.getAttribute('href')).toBe('https://example.org/spaces');
    expect(link.rel).toBe('noopener noreferrer');
    expect(section.querySelector('.sources-title')?.textContent).toBe('Source');
  });

  it('labels a file source with its path instead of a dead link', () => {
    const section = renderSources([
      { title: 'Deploy', urlOrPath: 'docs/deploy.md', score: 0.8349, snippet: 'Run it' },
      { title: 'README.md', urlOrPath: 'README.md', score: 0.2, snippet: '' },
    ]);

    expect(section.querySelector('a')).toBeNull();
    const [first, second] = section.querySelectorAll('li.source');
    expect(first.querySelector('.source-path')?.textContent).toBe('docs/deploy.md');
    expect(first.querySelector('.source-score')?.textContent).toBe('relevance 0.83');
    expect(first.querySelector('blockquote')?.textContent).toBe('Run it');
    expect(second.querySelector('.source-path')).toBeNull();
    expect(second.querySelector('details')).toBeNull();
    expect(section.querySelector('.sources-title')?.textContent).toBe('Sources (2)');
  });

  it('keeps markup in answers and snippets as text', () => {
    const hostile = '<img src=x onerror="alert(1)">';
    const answer = renderEntry({
      kind: 'assistant',
      text: hostile,
      sources: [{ title: hostile, urlOrPath: 'javascript:alert(1)', score: 1, snippet: hostile }],
      at: null,
    });

    expect(answer.querySelector('img')).toBeNull();
    expect(answer.querySelector('a')).toBeNull();
    expect(answer.querySelector('.text')?.textContent).toBe(hostile);
  });
});

describe('renderEntry', () => {
  it('announces errors as alerts with their title, the operator detail behind "Details"', () => {
    const item = renderEntry({ kind: 'error', title: 'Unavailable', text: 'Try again later.', detail: 'qdrant: down', retry: true });

    const alert = item.querySelector('[role="alert"]')!;
    expect(item.getAttribute('role')).toBeNull(); // a list item stays a list item
    expect(alert.textContent).toBe('UnavailableTry again later.');
    expect(item.querySelector('details summary')?.textContent).toBe('Details');
    expect(item.querySelector('details p')?.textContent).toBe('qdrant: down');
    expect(item.querySelector('button[data-action="retry"]')?.textContent).toBe('Retry');
  });

  it('offers copy and regenerate on an answer, copy on each code block, and marks a stopped one', () => {
    const item = renderEntry({ kind: 'assistant', text: 'Run:\n\n```\nnpm ci\n```', sources: [], at: null, stopped: true });

    expect([...item.querySelectorAll('button')].map((b) => b.dataset.action)).toEqual(['copy-code', 'copy-answer', 'regenerate']);
    expect(item.querySelector('.code-block pre')?.textContent).toBe('npm ci');
    expect(item.classList.contains('stopped')).toBe(true);
    expect(item.querySelector('.stopped-note')?.textContent).toContain('Stopped');
  });
});

describe('timestamps', () => {
  it('says how long ago, with the exact time on hover and focus', () => {
    const now = new Date('2026-03-01T12:00:00Z');
    const node = timestamp(new Date('2026-03-01T11:55:00Z'), now);

    expect(node.textContent).toBe('5 min ago');
    expect(node.dateTime).toBe('2026-03-01T11:55:00.000Z');
    expect(node.title).toBe(node.dataset.exact);
    expect(node.title).toMatch(/2026/);
    expect(node.tabIndex).toBe(0);
    expect(relativeTime(new Date('2026-03-01T11:59:30Z'), now)).toBe('just now');
    expect(relativeTime(new Date('2026-03-01T09:00:00Z'), now)).toBe('3 h ago');
    expect(relativeTime(new Date('2026-02-28T12:00:00Z'), now)).toBe('yesterday');
  });
});
