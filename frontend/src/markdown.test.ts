// @vitest-environment happy-dom
// The Markdown subset answers quote, rendered as DOM built from text: what becomes an element,
// what stays text (hostile input included), and the live rendering of a streamed answer.
import { describe, expect, it } from 'vitest';
import { LiveMarkdown, parseMarkdown, renderMarkdown } from './markdown';

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

/** Milliseconds for `reps` parses of `source`. */
function time(source: string, reps: number): number {
  const started = performance.now();
  for (let r = 0; r < reps; r += 1) parseMarkdown(source);
  return performance.now() - started;
}

/**
 * The fastest of seven timings of each input, taken in turn so a burst of other work on the
 * machine hits both alike; each timing repeats the parse until the small input takes
 * tens of milliseconds (at most 256 times). The parse is timed, not the DOM: happy-dom's own
 * appendChild grows faster than linearly, while building the DOM from the parsed tree is one
 * visit per node.
 */
function fastestPair(small: string, large: string): [number, number] {
  time(large, 1); // warm the JIT on both sizes
  let reps = 1;
  while (reps < 256 && Math.min(time(small, reps), time(small, reps), time(small, reps)) < 20) reps *= 2;
  let best: [number, number] = [Infinity, Infinity];
  for (let run = 0; run < 7; run += 1) {
    best = [Math.min(best[0], time(small, reps)), Math.min(best[1], time(large, reps))];
  }
  return best;
}

describe('renderMarkdown on hostile text', () => {
  // Runs that made the old regex-based renderer backtrack (cubic for `[a](`), plus other
  // openers that never close or nest. 20,000 characters each; a quarter of it must cost more than
  // an eighth of the time of the whole (linear: a quarter), so growth is what is measured,
  // not the speed of the machine.
  const HOSTILE = ['[a](', '![x](', '*a', '`a', '[[', '> ', '**a', '[a](http://x ', '| a ', '`` a `'];

  for (const unit of HOSTILE) {
    it(`renders runs of ${JSON.stringify(unit)} in linear time, with no other elements`, () => {
      const whole = unit.repeat(Math.ceil(20_000 / unit.length)).slice(0, 20_000);
      const quarter = whole.slice(0, 5_000);
      const [small, large] = fastestPair(quarter, whole);
      expect(large / small, `${large.toFixed(1)} ms for 20,000 characters, ${small.toFixed(1)} ms for 5,000`).toBeLessThan(8);

      for (const variant of [whole, whole.replace(/a/g, 'a\n'), `${whole}](https://ok.example)`]) {
        for (const tag of elements(variant)) {
          if (tag.startsWith('a ')) expect(tag).toMatch(/^a https?:\/\//);
          else expect(ALLOWED, `unexpected <${tag}>`).toContain(tag);
        }
      }
    });
  }

  // A line separator (U+2028, U+2029) is not a line end for `split('\n')` but stops `.`: a
  // heading, bullet or quote marker, a long run of spaces, then text and a separator.
  for (const marker of ['#', '-', '1.', '>']) {
    it(`renders ${JSON.stringify(marker)}, spaces and a line separator in linear time`, () => {
      const line = (n: number) => `${marker}${' '.repeat(n)}x\u2028y`;
      const [small, large] = fastestPair(line(5_000), line(20_000));
      expect(large / small, `${large.toFixed(1)} ms for 20,000 characters, ${small.toFixed(1)} ms for 5,000`).toBeLessThan(8);
    });
  }
});

describe('renderMarkdown on a hostile table', () => {
  // A header of n cells, then n rows of a single `|`: padding each row to the header's width
  // would be n² cells from 6n characters.
  it('renders a wide header over many short rows in linear time', { timeout: 120_000 }, () => {
    const table = (n: number) => `${'|a'.repeat(n)}|\n${'|-'.repeat(n)}|\n${'|\n'.repeat(n)}`;
    const [small, large] = fastestPair(table(200), table(800));
    expect(large / small, `${large.toFixed(1)} ms for 4,800 characters, ${small.toFixed(1)} ms for 1,200`).toBeLessThan(8);
    // The missing cells of a short row are one empty cell spanning them.
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
