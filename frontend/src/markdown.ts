// Answers quote Markdown documents. This renders the small part of Markdown they use
// (paragraphs, headings, lists, quotes, fenced code, inline code, bold, links) as DOM
// nodes built from text: no HTML string is ever parsed, so a document cannot inject markup.
// Images become their alt text: relative image paths would only be broken requests.

const FENCE = /^\s*(```|~~~)/;
const HEADING = /^\s*#{1,6}\s+(.*)$/;
const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*\d+[.)]\s+(.*)$/;
const QUOTE = /^\s*>\s?(.*)$/;
const TABLE = /^\s*\|/;
// Code, **bold**, *emphasis* (not `a * b`), ![image](…), [link](url). No lookbehind: older
// Safari cannot parse it, and a regex syntax error would blank the whole page.
const INLINE = /(`+)([\s\S]+?)\1|\*\*(.+?)\*\*|\*(?![\s*])([^*]+?)\*|!\[([^\]]*)\]\([^)]*\)|\[([^\]]+)\]\(([^)\s]+)[^)]*\)/g;

export function renderMarkdown(source: string): DocumentFragment {
  const out = document.createDocumentFragment();
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
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
      const pre = document.createElement('pre');
      pre.append(element('code', body.join('\n')));
      out.append(pre);
    } else if (HEADING.test(line)) {
      const p = document.createElement('p');
      p.className = 'md-heading';
      const strong = document.createElement('strong');
      strong.append(renderInline(line.replace(HEADING, '$1')));
      p.append(strong);
      out.append(p);
      i += 1;
    } else if (BULLET.test(line) || NUMBERED.test(line)) {
      const pattern = BULLET.test(line) ? BULLET : NUMBERED;
      const list = document.createElement(pattern === BULLET ? 'ul' : 'ol');
      while (i < lines.length && pattern.test(lines[i])) {
        const item = [lines[i].replace(pattern, '$1')];
        // Indented lines continue the item.
        for (i += 1; i < lines.length && /^\s+\S/.test(lines[i]) && !BULLET.test(lines[i]) && !NUMBERED.test(lines[i]); i += 1) {
          item.push(lines[i].trim());
        }
        const li = document.createElement('li');
        li.append(renderInline(item.join(' ')));
        list.append(li);
      }
      out.append(list);
    } else if (QUOTE.test(line)) {
      const quoted: string[] = [];
      for (; i < lines.length && QUOTE.test(lines[i]); i += 1) quoted.push(lines[i].replace(QUOTE, '$1'));
      const blockquote = document.createElement('blockquote');
      blockquote.append(renderMarkdown(quoted.join('\n')));
      out.append(blockquote);
    } else if (TABLE.test(line)) {
      const rows: string[] = [];
      for (; i < lines.length && TABLE.test(lines[i]); i += 1) rows.push(lines[i].trim());
      const pre = document.createElement('pre');
      pre.className = 'md-table';
      pre.textContent = rows.join('\n');
      out.append(pre);
    } else {
      // A paragraph: its source line breaks are only wrapping.
      const text: string[] = [];
      for (; i < lines.length && lines[i].trim() && !startsBlock(lines[i]); i += 1) text.push(lines[i].trim());
      const p = document.createElement('p');
      p.append(renderInline(text.join(' ')));
      out.append(p);
    }
  }
  return out;
}

function startsBlock(line: string): boolean {
  return [FENCE, HEADING, BULLET, NUMBERED, QUOTE, TABLE].some((pattern) => pattern.test(line));
}

/** One line of inline Markdown; exported for source titles, which use it too. */
export function renderInline(text: string): DocumentFragment {
  const out = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    out.append(text.slice(last, match.index));
    const [, ticks, code, bold, emphasis, alt, linkText, href] = match;
    if (ticks) {
      out.append(element('code', code.trim()));
    } else if (bold !== undefined || emphasis !== undefined) {
      const node = document.createElement(bold !== undefined ? 'strong' : 'em');
      node.append(renderInline(bold ?? emphasis));
      out.append(node);
    } else if (alt !== undefined) {
      out.append(alt);
    } else if (/^https?:\/\//i.test(href)) {
      const a = element('a', linkText);
      a.href = href;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      out.append(a);
    } else {
      out.append(linkText);
    }
    last = (match.index ?? 0) + match[0].length;
  }
  out.append(text.slice(last));
  return out;
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, text: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.textContent = text;
  return node;
}
