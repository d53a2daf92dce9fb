// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { renderEntry, renderSources } from './render';

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
    });

    expect(answer.querySelector('img')).toBeNull();
    expect(answer.querySelector('a')).toBeNull();
    expect(answer.querySelector('.text')?.textContent).toBe(hostile);
  });
});

describe('renderEntry', () => {
  it('announces errors as alerts with their title', () => {
    const item = renderEntry({ kind: 'error', title: 'Blocked by CORS', text: 'Add the origin.' });

    expect(item.getAttribute('role')).toBe('alert');
    expect(item.textContent).toBe('Blocked by CORSAdd the origin.');
  });
});
