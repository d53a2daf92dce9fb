// @vitest-environment happy-dom
// The Markdown subset answers quote, rendered as DOM built from text: what becomes an element,
// what stays text (hostile input included), and the live rendering of a streamed answer.
import { Session } from 'node:inspector/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { LiveMarkdown, parseMarkdown, renderMarkdown } from './markdown';
import { HOSTILE_RUNS, LINE_SEPARATOR_MARKERS, separatedLine, wideTable } from './markdown.hostile';

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
      '<pre tabindex="0"><code>cargo xtask deploy &lt;b&gt;\n  --local</code></pre><p>after</p>',
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
    expect(html('[x](javascript:alert(1))')).toBe('<p>x</p>');
    // Scheme tricks: case, entities, a tab or leading space, protocol-relative, data:, no `//`.
    for (const target of ['JavaScript:alert(1)', '&#106;avascript:alert(1)', 'java\tscript:alert(1)', ' javascript:alert(1)', '//evil.example', 'data:text/html,<b>x</b>', 'https:evil.example', 'vbscript:x']) {
      const tags = [...elements(`[x](${target})`)];
      expect(tags.filter((tag) => tag.startsWith('a')), target).toEqual([]);
    }
    expect([...elements('[x](HTTPS://ok.example/a)')]).toContain('a HTTPS://ok.example/a');
  });

  it('never turns document text into elements', () => {
    const out = html('<script>alert(1)</script> <img src=x onerror=alert(1)>\n> <b>quoted</b>');
    expect(out).not.toContain('<script');
    expect(out).not.toContain('<img');
    expect(out).toContain('&lt;script&gt;');
    expect(out).toContain('<blockquote><p>&lt;b&gt;quoted&lt;/b&gt;</p></blockquote>');
  });

  it('keeps parentheses inside a link target (Wikipedia style) and in its text', () => {
    expect(html('[Rust (programming language)](https://en.wikipedia.org/wiki/Rust_(programming_language)) is fast')).toBe(
      '<p><a href="https://en.wikipedia.org/wiki/Rust_(programming_language)" target="_blank" rel="noopener noreferrer">' +
        'Rust (programming language)</a> is fast</p>',
    );
    expect(html('[docs](https://x.dev/a "A title") and (aside)')).toBe(
      '<p><a href="https://x.dev/a" target="_blank" rel="noopener noreferrer">docs</a> and (aside)</p>',
    );
  });

  it('closes a code span only with a run of as many backticks', () => {
    expect(html('``a ` b`` and `c`')).toBe('<p><code>a ` b</code> and <code>c</code></p>');
    expect(html('an ``unclosed` run')).toBe('<p>an ``unclosed` run</p>');
  });

  it('renders a table with a header, alignment and inline Markdown in cells', () => {
    const out = html('| Setting | Default |\n|:---|---:|\n| `PORT` | **7860** |\n| a \\| b |\n\nafter');
    expect(out).toBe(
      '<div class="md-table-wrap" tabindex="0"><table>' +
        '<thead><tr><th style="text-align: left;" scope="col">Setting</th><th style="text-align: right;" scope="col">Default</th></tr></thead>' +
        '<tbody><tr><td style="text-align: left;"><code>PORT</code></td><td style="text-align: right;"><strong>7860</strong></td></tr>' +
        '<tr><td style="text-align: left;">a | b</td><td style="text-align: right;"></td></tr></tbody>' +
        '</table></div><p>after</p>',
    );
  });

  it('keeps pipes without a header separator as they are', () => {
    expect(html('| a | b |\n| c | d |')).toBe('<pre class="md-table" tabindex="0"><code>| a | b |\n| c | d |</code></pre>');
  });
});

/** Every element in the output, as `tag` or `a[href]`. */
function elements(source: string): Set<string> {
  const div = document.createElement('div');
  div.append(renderMarkdown(source));
  return new Set([...div.querySelectorAll('*')].map((node) => (node.tagName === 'A' ? `a ${node.getAttribute('href')}` : node.tagName.toLowerCase())));
}

const ALLOWED = new Set(['p', 'blockquote', 'code', 'pre', 'strong', 'em', 'ul', 'ol', 'li', 'div', 'table', 'thead', 'tbody', 'tr', 'th', 'td']);

// Work, not time (timings on a shared machine are noise): V8 counts how often each block of
// markdown.ts runs (the inspector's precise coverage, which `vitest --coverage` also uses, so
// do not run this file under it). A function compiled before counting starts has no block
// counters, so counting starts here, before any test parses.
const inspector = new Session();
inspector.connect();
await inspector.post('Profiler.enable');
await inspector.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
afterAll(() => inspector.disconnect());
const RENDERER = '/frontend/src/markdown.ts';

/**
 * How many blocks of markdown.ts run to parse `source`. The parse, not the DOM: building DOM
 * from the parsed tree is one visit per node, and happy-dom's own work is not the renderer's.
 */
async function work(source: string): Promise<number> {
  await inspector.post('Profiler.takePreciseCoverage'); // taking the counts resets them
  parseMarkdown(source);
  const { result } = await inspector.post('Profiler.takePreciseCoverage');
  const script = result.find((entry) => entry.url.startsWith('file://') && entry.url.endsWith(RENDERER));
  if (!script) throw new Error(`no block counts for ${RENDERER} among ${result.length} scripts`);
  return script.functions.reduce((sum, fn) => sum + fn.ranges.reduce((blocks, range) => blocks + range.count, 0), 0);
}

/**
 * Parsing k and 4k repeats of `make` costs 4 times the work when linear, 16 times when
 * quadratic (4.6 times for n log n): the ratio is checked, not a constant per character.
 */
async function expectLinearWork(make: (k: number) => string, k: number): Promise<void> {
  const [small, large] = [await work(make(k)), await work(make(4 * k))];
  expect(large / small, `${large} blocks for ${make(4 * k).length} characters, ${small} for ${make(k).length}`).toBeLessThan(4.3);
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const paragraph = (text: string) => `<p>${escape(text.trim())}</p>`;
/** `<tag>a</tag>a` for each pair of units, the odd one left as text. */
const pairs = (tag: string, unit: string) => (k: number) => `<p>${`<${tag}>a</${tag}>a`.repeat(Math.floor(k / 2))}${k % 2 ? unit : ''}</p>`;

/** What k repeats of each run render to: text stays text, pairs that close are markup. */
const EXPECTED: Record<string, (k: number) => string> = {
  '[a](': (k) => paragraph('[a]('.repeat(k)),
  '![x](': (k) => paragraph('![x]('.repeat(k)),
  '*a': pairs('em', '*a'),
  '`a': pairs('code', '`a'),
  '[[': (k) => paragraph('[['.repeat(k)),
  // Quotes nest 4 deep; deeper `>` is text.
  '> ': (k) => '<blockquote>'.repeat(Math.min(k, 4)) + (k > 4 ? paragraph('> '.repeat(k - 4)) : '') + '</blockquote>'.repeat(Math.min(k, 4)),
  '**a': pairs('strong', '**a'),
  '[a](http://x ': (k) => paragraph('[a](http://x '.repeat(k)),
  '| a ': (k) => `<pre class="md-table" tabindex="0"><code>${'| a '.repeat(k).trim()}</code></pre>`,
  // `` then runs of ``` that close in pairs, and a last single `.
  '`` a `': (k) => paragraph(`\`\` a ${'\0 a '.repeat(Math.floor((k - 1) / 2))}${k % 2 ? '`' : '``` a `'}`).replace(/\0/g, '<code>a</code>'),
};

describe('renderMarkdown on hostile text', () => {
  // The work of parsing 5,000 and 20,000 characters of each; then 5,000 characters: the exact
  // output, and no element outside ALLOWED whatever is added around it.
  for (const unit of HOSTILE_RUNS) {
    it(`renders runs of ${JSON.stringify(unit)} in linear work, exactly, with no other elements`, async () => {
      const k = 2 * Math.ceil(2_500 / unit.length); // even: the small and large texts end alike
      await expectLinearWork((repeats) => unit.repeat(repeats), k);
      const text = unit.repeat(k);
      expect(html(text)).toBe(EXPECTED[unit](k));

      for (const variant of [text, text.replace(/a/g, 'a\n'), `${text}](https://ok.example)`]) {
        for (const tag of elements(variant)) {
          if (tag.startsWith('a ')) expect(tag).toMatch(/^a https?:\/\//);
          else expect(ALLOWED, `unexpected <${tag}>`).toContain(tag);
        }
      }
    });
  }

  const LINE_SEPARATED: Record<string, (text: string) => string> = {
    '#': (text) => `<p class="md-heading"><strong>${text}</strong></p>`,
    '-': (text) => `<ul><li>${text}</li></ul>`,
    '1.': (text) => `<ol><li>${text}</li></ol>`,
    '>': (text) => `<blockquote><p>${text}</p></blockquote>`,
  };
  for (const marker of LINE_SEPARATOR_MARKERS) {
    it(`renders ${JSON.stringify(marker)}, spaces and a line separator in linear work`, async () => {
      await expectLinearWork((spaces) => separatedLine(marker, spaces), 5_000);
      expect(html(separatedLine(marker, 20_000))).toBe(LINE_SEPARATED[marker]('x\u2028y'));
    });
  }
});

describe('renderMarkdown on a hostile table', () => {
  // Padding each short row to the header's width would be k² cells from 6k characters.
  it('renders a wide header over many short rows in linear work and size', async () => {
    await expectLinearWork(wideTable, 200);
    const table = document.createElement('div');
    table.append(renderMarkdown(wideTable(800)));
    expect(table.querySelectorAll('th')).toHaveLength(800);
    // Each short row: its one cell, then one empty cell spanning the missing ones.
    expect(table.querySelectorAll('td')).toHaveLength(2 * 800);
    expect([...table.querySelectorAll('td[colspan="799"]')]).toHaveLength(800);
    expect(html('| a | b | c |\n|---|---|---|\n| x |')).toContain('<tbody><tr><td>x</td><td colspan="2"></td></tr></tbody>');
  });
});

describe('LiveMarkdown', () => {
  it('keeps the blocks a streamed answer has finished and re-renders only the last one', () => {
    const box = document.createElement('div');
    const live = new LiveMarkdown(box);
    const answer = 'First paragraph.\r\n\r\n```\ncode\n\nstill code\n```\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nLast **bold** words';
    live.append(answer.slice(0, 20));
    const first = box.firstChild;
    // One character at a time: every split, a \r\n pair included.
    for (let at = 20; at < answer.length; at += 1) live.append(answer[at]);

    expect(box.firstChild).toBe(first); // rendered once, when it was complete
    expect(box.innerHTML).toBe(html(answer));
  });
});
