// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { renderMarkdown } from './markdown';

function html(source: string): string {
  const div = document.createElement('div');
  div.append(renderMarkdown(source));
  return div.innerHTML;
}

describe('renderMarkdown', () => {
  it('joins wrapped lines into paragraphs and splits on blank lines', () => {
    expect(html('one\ntwo\n\nthree')).toBe('<p>one two</p><p>three</p>');
  });

  it('renders fenced code verbatim, markup included', () => {
    expect(html('```sh\ncargo xtask deploy <b>\n  --local\n```\nafter')).toBe(
      '<pre><code>cargo xtask deploy &lt;b&gt;\n  --local</code></pre><p>after</p>',
    );
  });

  it('renders inline code, bold, headings and lists', () => {
    expect(html('# Title\n- run `npm ci`\n- **then** test\n1. first\n2. second')).toBe(
      '<p class="md-heading"><strong>Title</strong></p>' +
        '<ul><li>run <code>npm ci</code></li><li><strong>then</strong> test</li></ul>' +
        '<ol><li>first</li><li>second</li></ol>',
    );
  });

  it('renders emphasis and code inside bold, but not a lone asterisk', () => {
    expect(html('**`cargo xtask` docs** with *your* setup, 2 * 3 * 4')).toBe(
      '<p><strong><code>cargo xtask</code> docs</strong> with <em>your</em> setup, 2 * 3 * 4</p>',
    );
  });

  it('links only web URLs, keeps other link targets as text and never loads images', () => {
    expect(html('See [Spaces](https://huggingface.co/docs) and [setup](docs/setup.md). ![shot](docs/images/chat.png)')).toBe(
      '<p>See <a href="https://huggingface.co/docs" target="_blank" rel="noopener noreferrer">Spaces</a> and setup. shot</p>',
    );
    expect(html('[x](javascript:alert(1))')).toBe('<p>x)</p>');
  });

  it('never turns document text into elements', () => {
    const out = html('<script>alert(1)</script> <img src=x onerror=alert(1)>\n> <b>quoted</b>');
    expect(out).not.toContain('<script');
    expect(out).not.toContain('<img');
    expect(out).toContain('&lt;script&gt;');
    expect(out).toContain('<blockquote><p>&lt;b&gt;quoted&lt;/b&gt;</p></blockquote>');
  });
});
