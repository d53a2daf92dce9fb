// Answers quote Markdown documents. This renders the small part of Markdown they use
// (paragraphs, headings, lists, quotes, fenced code, tables, inline code, bold, emphasis,
// links) as DOM nodes built from text: no HTML string is ever parsed, so a document cannot
// inject markup. Only http(s) links become links; images become their alt text (a relative
// image path would only be a broken request).
//
// Answers come from a model and may be hostile: rendering is linear in the input on any text.
// Block patterns are anchored, one line at a time, with no nested quantifiers; inline
// Markdown is a hand-written scanner that looks up every closing delimiter in tables built
// in one pass, so it never searches twice and never backtracks. Parsing yields a small tree
// of plain objects (`parseMarkdown`: the tests count its work, bench/frontend_markdown.mjs
// times it); turning it into DOM is one visit per node.

/** A parsed node: text, or an element with the few attributes the renderer ever sets. */
export type MdNode = string | MdElement;
export interface MdElement {
  tag: 'p' | 'blockquote' | 'pre' | 'code' | 'strong' | 'em' | 'a' | 'ul' | 'ol' | 'li' | 'div' | 'table' | 'thead' | 'tbody' | 'tr' | 'th' | 'td';
  children: MdNode[];
  className?: string;
  /** Only on `a`, and only ever an http(s) URL. */
  href?: string;
  /** Scrollable boxes (code, wide tables) take focus so the keyboard can scroll them. */
  focusable?: boolean;
  align?: string;
  /** Only on a `td` standing for a short row's missing cells. */
  colSpan?: number;
}

const FENCE = /^\s*(```|~~~)/;
// `s`: `.` also matches U+2028/U+2029, which are not line ends here (lines are split on `\n`);
// without it, `\s+(.*)$` backtracks quadratically over the spaces before such a character.
const HEADING = /^\s*#{1,6}\s+(.*)$/s;
const BULLET = /^\s*[-*+]\s+(.*)$/s;
const NUMBERED = /^\s*\d+[.)]\s+(.*)$/s;
const QUOTE = /^\s*>\s?(.*)$/s;
const PIPE_ROW = /^\s*\|/;
const DELIMITER_CELL = /^:?-+:?$/;
/** `> > > …` deeper than this is shown as text: each level costs a pass over its lines. */
const MAX_QUOTE_DEPTH = 4;

export function renderMarkdown(source: string): DocumentFragment {
  const out = document.createDocumentFragment();
  build(out, parseMarkdown(source));
  return out;
}

/** The DOM for parsed nodes: text through text nodes only, attributes from a fixed list. */
function build(parent: Node, nodes: MdNode[]): void {
  for (const node of nodes) {
    if (typeof node === 'string') {
      parent.appendChild(document.createTextNode(node));
      continue;
    }
    const element = document.createElement(node.tag);
    if (node.className) element.className = node.className;
    if (node.focusable) element.tabIndex = 0;
    if (node.align) element.style.textAlign = node.align;
    if (node.colSpan && element instanceof HTMLTableCellElement) element.colSpan = node.colSpan;
    if (node.tag === 'th') element.setAttribute('scope', 'col');
    if (node.href !== undefined && element instanceof HTMLAnchorElement && isWebUrl(node.href)) {
      element.href = node.href;
      element.target = '_blank';
      element.rel = 'noopener noreferrer';
    }
    build(element, node.children);
    parent.appendChild(element);
  }
}

export function isWebUrl(value: string): boolean {
  return /^https?:\/\//i.test(value);
}

function el(tag: MdElement['tag'], children: MdNode[] = [], extra: Partial<MdElement> = {}): MdElement {
  return { tag, children, ...extra };
}

export function parseMarkdown(source: string, quoteDepth = 0): MdNode[] {
  const out: MdNode[] = [];
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  const quotes = quoteDepth < MAX_QUOTE_DEPTH;
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
    } else if (FENCE.test(line)) {
      const fence = line.trim().slice(0, 3);
      const body: string[] = [];
      for (i += 1; i < lines.length && !lines[i].trim().startsWith(fence); i += 1) body.push(lines[i]);
      i += 1;
      out.push(codeBlock(body.join('\n')));
    } else if (HEADING.test(line)) {
      out.push(el('p', [el('strong', parseInline(line.replace(HEADING, '$1')))], { className: 'md-heading' }));
      i += 1;
    } else if (BULLET.test(line) || NUMBERED.test(line)) {
      const pattern = BULLET.test(line) ? BULLET : NUMBERED;
      const list = el(pattern === BULLET ? 'ul' : 'ol');
      while (i < lines.length && pattern.test(lines[i])) {
        const item = [lines[i].replace(pattern, '$1')];
        // Indented lines continue the item.
        for (i += 1; i < lines.length && /^\s+\S/.test(lines[i]) && !BULLET.test(lines[i]) && !NUMBERED.test(lines[i]); i += 1) {
          item.push(lines[i].trim());
        }
        list.children.push(el('li', parseInline(item.join(' '))));
      }
      out.push(list);
    } else if (quotes && QUOTE.test(line)) {
      const quoted: string[] = [];
      for (; i < lines.length && QUOTE.test(lines[i]); i += 1) quoted.push(lines[i].replace(QUOTE, '$1'));
      out.push(el('blockquote', parseMarkdown(quoted.join('\n'), quoteDepth + 1)));
    } else if (tableAt(lines, i)) {
      const rows: string[] = [];
      for (; i < lines.length && lines[i].includes('|') && lines[i].trim(); i += 1) rows.push(lines[i]);
      out.push(table(rows));
    } else if (PIPE_ROW.test(line)) {
      // Pipes without a header separator: an ASCII drawing more likely than a table.
      const rows: string[] = [];
      for (; i < lines.length && PIPE_ROW.test(lines[i]); i += 1) rows.push(lines[i].trim());
      out.push({ ...codeBlock(rows.join('\n')), className: 'md-table' });
    } else {
      // A paragraph: its source line breaks are only wrapping.
      const text: string[] = [];
      for (; i < lines.length && lines[i].trim() && !startsBlock(lines, i, quotes); i += 1) text.push(lines[i].trim());
      out.push(el('p', parseInline(text.join(' '))));
    }
  }
  return out;
}

function startsBlock(lines: string[], i: number, quotes: boolean): boolean {
  const line = lines[i];
  return (
    [FENCE, HEADING, BULLET, NUMBERED, PIPE_ROW].some((pattern) => pattern.test(line)) ||
    (quotes && QUOTE.test(line)) ||
    tableAt(lines, i)
  );
}

/** A wide code block scrolls sideways; it takes focus so keyboard users can scroll it too. */
function codeBlock(code: string): MdElement {
  return el('pre', [el('code', [code])], { focusable: true });
}

// ---- Tables (GitHub's syntax: a header row, a separator row of dashes, body rows) ----

/** A table starts where a row with pipes is followed by a separator with as many cells. */
function tableAt(lines: string[], i: number): boolean {
  if (i + 1 >= lines.length || !lines[i].includes('|') || !lines[i + 1].includes('|')) return false;
  const separator = cells(lines[i + 1]);
  return separator.every((cell) => DELIMITER_CELL.test(cell)) && separator.length === cells(lines[i]).length;
}

/** The cells of a row: split on `|` (not `\|`), outer pipes optional, each trimmed. */
function cells(row: string): string[] {
  const out: string[] = [];
  let cell = '';
  for (let i = 0; i < row.length; i += 1) {
    if (row[i] === '\\' && row[i + 1] === '|') {
      cell += '|';
      i += 1;
    } else if (row[i] === '|') {
      out.push(cell.trim());
      cell = '';
    } else {
      cell += row[i];
    }
  }
  out.push(cell.trim());
  if (out.length > 1 && out[0] === '' && /^\s*\|/.test(row)) out.shift();
  if (out.length > 1 && out[out.length - 1] === '' && /\|\s*$/.test(row)) out.pop();
  return out;
}

function table(rows: string[]): MdElement {
  const [head, separator, ...body] = rows.map(cells);
  const align = separator.map((cell) =>
    cell.endsWith(':') ? (cell.startsWith(':') ? 'center' : 'right') : cell.startsWith(':') ? 'left' : undefined,
  );
  // Body rows take the header's width: extra cells are dropped, missing ones left empty — as
  // one cell spanning them, so a row costs its own length, not the header's.
  const row = (values: string[], tag: 'th' | 'td') => {
    const shown = values.slice(0, head.length);
    const tr = el('tr', shown.map((value, c) => el(tag, parseInline(value), align[c] ? { align: align[c] } : {})));
    const missing = head.length - shown.length;
    if (missing === 1) tr.children.push(el(tag, [], align[shown.length] ? { align: align[shown.length] } : {}));
    else if (missing > 1) tr.children.push(el(tag, [], { colSpan: missing }));
    return tr;
  };
  const parts = [el('thead', [row(head, 'th')])];
  if (body.length) parts.push(el('tbody', body.map((values) => row(values, 'td'))));
  // A wide table scrolls sideways in its own box (focusable, like code), never the page.
  return el('div', [el('table', parts)], { className: 'md-table-wrap', focusable: true });
}

// ---- Inline Markdown ----

/** One line of inline Markdown; exported for source titles, which use it too. */
export function renderInline(text: string): DocumentFragment {
  const out = document.createDocumentFragment();
  build(out, parseInline(text));
  return out;
}

export function parseInline(text: string): MdNode[] {
  const out: MdNode[] = [];
  new InlineScanner(text).parse(0, text.length, out, 0);
  return out;
}

const NONE = -1;
let scratch = new Int32Array(0);

/** `count` tables of `size` numbers each, views into one buffer that only grows. */
function tables(size: number, count: number): Int32Array[] {
  if (scratch.length < size * count) scratch = new Int32Array(size * count);
  return Array.from({ length: count }, (_, k) => scratch.subarray(k * size, (k + 1) * size));
}
/** Bold → emphasis → link text: the deepest inline nesting rendered. */
const MAX_INLINE_DEPTH = 3;

/**
 * Code spans (`` ` ``, a closing run of as many backticks), **bold**, *emphasis* (not
 * `a * b`), ![image](…) and [link](url), where the url may hold balanced parentheses
 * (Wikipedia's `…/Rust_(programming_language)`) and may be followed by a title.
 *
 * Every "where does this close" question is answered from tables filled in one pass before
 * rendering, and every character is rendered once per nesting level (at most
 * MAX_INLINE_DEPTH): linear time whatever the text. The tables live in one buffer reused by
 * every scan (scans never nest): a fresh set per scan would be large objects that the
 * garbage collector handles at a cost growing with the whole heap.
 */
class InlineScanner {
  /** Next index ≥ i holding `*`, `**`, `]` or `)`, or NONE. */
  private readonly nextStar: Int32Array;
  private readonly nextDoubleStar: Int32Array;
  private readonly nextClose: Int32Array;
  private readonly nextParen: Int32Array;
  /** At the start of a backtick run: its length, and where the next run of that length starts. */
  private readonly runLength: Int32Array;
  private readonly runCloser: Int32Array;
  /** At `(`: its matching `)`, or the whitespace that ended the url inside it, or NONE. */
  private readonly parenMatch: Int32Array;
  private readonly parenSpace: Int32Array;

  constructor(private readonly text: string) {
    const n = text.length;
    const [nextStar, nextDoubleStar, nextClose, nextParen, runLength, runCloser, parenMatch, parenSpace, open] = tables(n + 3, 9);
    [this.nextStar, this.nextDoubleStar, this.nextClose, this.nextParen] = [nextStar, nextDoubleStar, nextClose, nextParen];
    [this.runLength, this.runCloser, this.parenMatch, this.parenSpace] = [runLength, runCloser, parenMatch, parenSpace];
    for (const table of [nextStar, nextDoubleStar, nextClose, nextParen, runCloser, parenMatch, parenSpace]) table.fill(NONE);
    for (let i = n - 1; i >= 0; i -= 1) {
      const c = text[i];
      nextStar[i] = c === '*' ? i : nextStar[i + 1];
      nextDoubleStar[i] = c === '*' && text[i + 1] === '*' ? i : nextDoubleStar[i + 1];
      nextClose[i] = c === ']' ? i : nextClose[i + 1];
      nextParen[i] = c === ')' ? i : nextParen[i + 1];
    }

    // Backtick runs, from the last: each learns where the next run of its length starts.
    const laterRun = new Map<number, number>();
    for (let i = n - 1; i >= 0; i -= 1) {
      if (text[i] !== '`') continue;
      const end = i + 1;
      while (i > 0 && text[i - 1] === '`') i -= 1;
      runLength[i] = end - i;
      runCloser[i] = laterRun.get(end - i) ?? NONE;
      laterRun.set(end - i, i);
    }

    let depth = 0; // `open` is a stack of the `(` not yet matched
    for (let i = 0; i < n; i += 1) {
      const c = text[i];
      if (c === '(') {
        open[depth++] = i;
      } else if (c === ')') {
        if (depth > 0) parenMatch[open[--depth]] = i;
      } else if (c === ' ' || c === '\t' || /\s/.test(c)) {
        // A url has no whitespace: every `(` still open here ends its url at this space.
        while (depth > 0) parenSpace[open[--depth]] = i;
      }
    }
  }

  parse(start: number, end: number, out: MdNode[], depth: number): void {
    const { text } = this;
    let plainFrom = start;
    const flush = (upTo: number) => {
      if (plainFrom < upTo) out.push(text.slice(plainFrom, upTo));
    };
    const nested = depth < MAX_INLINE_DEPTH;
    let i = start;
    while (i < end) {
      const c = text[i];
      if (c === '`') {
        const length = this.runLength[i];
        const closer = this.runCloser[i];
        if (closer !== NONE && closer + length <= end) {
          flush(i);
          out.push(el('code', [text.slice(i + length, closer).trim()]));
          i = plainFrom = closer + length;
        } else {
          i += length; // an unmatched run is text, all of it
        }
      } else if (c === '*' && nested) {
        const bold = text[i + 1] === '*' ? this.after(this.nextDoubleStar, i + 3) : NONE;
        const emphasis = text[i + 1] !== '*' && /\S/.test(text[i + 1] ?? ' ') ? this.after(this.nextStar, i + 1) : NONE;
        if (bold !== NONE && bold + 2 <= end) {
          flush(i);
          const strong = el('strong');
          this.parse(i + 2, bold, strong.children, depth + 1);
          out.push(strong);
          i = plainFrom = bold + 2;
        } else if (emphasis !== NONE && emphasis < end) {
          flush(i);
          const em = el('em');
          this.parse(i + 1, emphasis, em.children, depth + 1);
          out.push(em);
          i = plainFrom = emphasis + 1;
        } else {
          i += 1;
        }
      } else if ((c === '[' || (c === '!' && text[i + 1] === '[')) && nested) {
        const image = c === '!';
        const link = this.link(image ? i + 1 : i, end, image);
        if (link) {
          flush(i);
          if (image) {
            out.push(text.slice(link.textStart, link.textEnd));
          } else if (isWebUrl(link.href)) {
            const a = el('a', [], { href: link.href });
            this.parse(link.textStart, link.textEnd, a.children, depth + 1);
            out.push(a);
          } else {
            this.parse(link.textStart, link.textEnd, out, depth + 1);
          }
          i = plainFrom = link.end;
        } else {
          i += 1;
        }
      } else {
        i += 1;
      }
    }
    flush(end);
  }

  /** `[text](url "title")` starting at the `[` at `at`, ending before `end`, or null. */
  private link(at: number, end: number, image: boolean): { textStart: number; textEnd: number; href: string; end: number } | null {
    const close = this.after(this.nextClose, at + 1);
    if (close === NONE || close + 1 >= end || this.text[close + 1] !== '(') return null;
    if (!image && close === at + 1) return null; // a link needs text; an image's alt may be empty
    const paren = close + 1;
    let hrefEnd = this.parenMatch[paren];
    let linkEnd = hrefEnd + 1;
    if (hrefEnd === NONE) {
      // Whitespace ended the url (or nothing closed it): a title may follow, up to the next `)`.
      hrefEnd = this.parenSpace[paren];
      const closeParen = hrefEnd === NONE ? NONE : this.after(this.nextParen, hrefEnd);
      if (closeParen === NONE) return null;
      linkEnd = closeParen + 1;
    }
    if (linkEnd > end || (!image && hrefEnd === paren + 1)) return null;
    return { textStart: at + 1, textEnd: close, href: this.text.slice(paren + 1, hrefEnd), end: linkEnd };
  }

  private after(table: Int32Array, from: number): number {
    return from < table.length ? table[from] : NONE;
  }
}

// ---- Streaming ----

/**
 * An answer that grows piece by piece. A blank line outside a code fence ends every block
 * before it for good (no block in `parseMarkdown` spans one), so those blocks are rendered
 * once and kept, and their text dropped. Each piece costs its own length plus the text after
 * the last such line (the block still being written, re-rendered): never the whole answer.
 */
export class LiveMarkdown {
  /** The text after the last boundary: everything before it is rendered for good. */
  private open = '';
  /** Where the first line of `open` not yet scanned for boundaries starts. */
  private scanned = 0;
  private fence: string | null = null;
  /** The last piece ended with `\r`: a `\n` starting the next one belongs to it. */
  private pendingCR = false;
  private tail: Node[] = [];

  constructor(readonly element: HTMLElement) {}

  append(piece: string): void {
    if (this.pendingCR && piece.startsWith('\n')) piece = piece.slice(1);
    this.pendingCR = piece.endsWith('\r');
    this.open += piece.replace(/\r\n?/g, '\n');
    let boundary = 0;
    for (let end = this.open.indexOf('\n', this.scanned); end >= 0; end = this.open.indexOf('\n', this.scanned)) {
      const line = this.open.slice(this.scanned, end);
      this.scanned = end + 1;
      if (this.fence !== null) {
        if (line.trim().startsWith(this.fence)) this.fence = null;
      } else if (FENCE.test(line)) {
        this.fence = line.trim().slice(0, 3);
      } else if (!line.trim()) {
        boundary = this.scanned;
      }
    }
    for (const node of this.tail) this.element.removeChild(node);
    if (boundary > 0) {
      this.element.append(renderMarkdown(this.open.slice(0, boundary)));
      this.open = this.open.slice(boundary);
      this.scanned -= boundary;
    }
    const tail = renderMarkdown(this.open);
    this.tail = [...tail.childNodes];
    this.element.append(tail);
  }
}
