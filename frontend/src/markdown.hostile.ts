// Text built to make a Markdown renderer slow: what the tests check the renderer's output and
// work on (markdown.test.ts) and what the bench times (bench/frontend_markdown.mjs).

export interface Hostile {
  name: string;
  /** The text for size `k`: its length grows in proportion to `k`. */
  make: (k: number) => string;
}

/**
 * Runs that made the old regex-based renderer backtrack (cubic for `[a](`), plus other openers
 * that never close or nest.
 */
export const HOSTILE_RUNS = ['[a](', '![x](', '*a', '`a', '[[', '> ', '**a', '[a](http://x ', '| a ', '`` a `'];

/**
 * A line separator (U+2028, U+2029) is not a line end for `split('\n')` but stops a regex's
 * `.`: a heading, bullet or quote marker, a long run of spaces, then text and a separator.
 */
export const LINE_SEPARATOR_MARKERS = ['#', '-', '1.', '>'];

/** A marker, k spaces, then `x`, U+2028 and `y`. */
export function separatedLine(marker: string, k: number): string {
  return `${marker}${' '.repeat(k)}x\u2028y`;
}

/** A header of k cells, a separator, then k rows of a single `|`: about 6k characters. */
export function wideTable(k: number): string {
  return `${'|a'.repeat(k)}|\n${'|-'.repeat(k)}|\n${'|\n'.repeat(k)}`;
}

export const HOSTILE: Hostile[] = [
  ...HOSTILE_RUNS.map((unit) => ({ name: `runs of ${JSON.stringify(unit)}`, make: (k: number) => unit.repeat(k) })),
  ...LINE_SEPARATOR_MARKERS.map((marker) => ({
    name: `${JSON.stringify(marker)}, spaces, a line separator`,
    make: (k: number) => separatedLine(marker, k),
  })),
  { name: 'a wide header over short rows', make: wideTable },
];
