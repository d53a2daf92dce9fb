// The Markdown renderer's time on hostile text: is it linear in the input?
//
//   node bench/frontend_markdown.mjs [rounds] [--compare DIR]      (after `npm ci` in frontend/)
//
// For each input of frontend/src/markdown.hostile.ts (the ones the tests check), the time of
// `parseMarkdown` on 5,000 and on 20,000 characters of it, and their ratio: about 4 when
// linear, 16 when quadratic. The renderer is bundled with esbuild (installed with Vite) and
// run in Node: the parse is timed, not the DOM, which is built from the parsed tree in one
// visit per node. Each timing
// repeats the parse until the small input takes about 20 ms; the rounds take every input and
// size in turn, so a burst of other work on the machine hits them alike. Reported for each
// size: the fastest and the median time per parse over the rounds; the ratio of the fastest
// times (the least disturbed by other work), and the ratio within each round: its median and
// spread (lowest–highest), which show how much the machine's load moved the figures.
//
// --compare DIR also times DIR/frontend/src/markdown.ts (another checkout, e.g. an older
// commit: `mkdir /tmp/old && git archive COMMIT frontend/src | tar -x -C /tmp/old`) on the
// same inputs, in the same rounds. A renderer whose single parse of the small input takes
// over 2 s is not run on the large one, and an input stops taking part in further rounds once
// its timings have used 5 s (the table then says how many rounds it had).

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const FRONTEND = fileURLToPath(new URL('../frontend/', import.meta.url));
const SIZES = [5_000, 20_000];
const TARGET_MS = 20;
const TOO_SLOW_MS = 2_000;
const BUDGET_MS = 5_000;

const args = process.argv.slice(2);
const compareAt = args.indexOf('--compare');
const compare = compareAt >= 0 ? args.splice(compareAt, 2)[1] : null;
const compareFile = compare ? path.join(compare, 'frontend/src/markdown.ts') : null;
if (compareAt >= 0 && (!compareFile || !existsSync(compareFile))) {
  console.error(`--compare needs a checkout's folder (with frontend/src/markdown.ts), got ${compare ?? 'nothing'}`);
  process.exit(2);
}
const rounds = Number(args[0] ?? 7);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) {
  console.error(`rounds must be a whole number from 1 to 50, got ${args[0]}`);
  process.exit(2);
}
if (!existsSync(path.join(FRONTEND, 'node_modules'))) {
  console.error('frontend/node_modules is missing: run `npm ci` in frontend/ first');
  process.exit(2);
}

const esbuild = createRequire(path.join(FRONTEND, 'package.json'))('esbuild');

/** The module at `file` (TypeScript), bundled and imported. */
async function load(file) {
  const { outputFiles } = await esbuild.build({ entryPoints: [file], bundle: true, format: 'esm', write: false, logLevel: 'error' });
  return import(`data:text/javascript;base64,${Buffer.from(outputFiles[0].text).toString('base64')}`);
}

const { HOSTILE } = await load(path.join(FRONTEND, 'src/markdown.hostile.ts'));
const renderers = [{ name: 'this checkout', parse: (await load(path.join(FRONTEND, 'src/markdown.ts'))).parseMarkdown }];
if (compareFile) renderers.push({ name: compare, parse: (await load(compareFile)).parseMarkdown });

/** About `chars` characters of the input: `make` grows in proportion to its argument. */
function text(input, chars) {
  return input.make(Math.max(1, Math.round((chars * 1000) / input.make(1000).length)));
}

function time(parse, source, reps) {
  const started = performance.now();
  for (let r = 0; r < reps; r += 1) parse(source);
  return (performance.now() - started) / reps;
}

// One case per input and renderer: its texts, how many parses one timing takes, its timings.
const cases = [];
for (const input of HOSTILE) {
  const texts = SIZES.map((chars) => text(input, chars));
  for (const renderer of renderers) {
    const once = time(renderer.parse, texts[0], 1);
    if (once > TOO_SLOW_MS) {
      cases.push({ input, renderer, texts, slow: once });
      continue;
    }
    if (once < TARGET_MS) time(renderer.parse, texts[1], 1); // warm the JIT on both sizes
    let reps = 1;
    while (reps < 1024 && time(renderer.parse, texts[0], reps) * reps < TARGET_MS) reps *= 2;
    cases.push({ input, renderer, texts, reps, ms: SIZES.map(() => []), spent: 0 });
  }
}
for (let round = 0; round < rounds; round += 1) {
  for (const c of cases) {
    if (c.slow || c.spent > BUDGET_MS) continue;
    const started = performance.now();
    c.texts.forEach((source, s) => c.ms[s].push(time(c.renderer.parse, source, c.reps)));
    c.spent += performance.now() - started;
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
/** The input's name, its pipes escaped for the Markdown table. */
const name = (c) => c.input.name.replace(/\|/g, '\\|');
const ms = (value) => (value < 0.1 ? value.toFixed(4) : value < 10 ? value.toFixed(3) : value.toFixed(1));

console.log(`parseMarkdown on hostile text: ${rounds} rounds, ms per parse, ratio 20,000 / 5,000 characters (linear: 4, quadratic: 16)`);
console.log(`node ${process.version}, load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
console.log('| input | renderer | 5,000 chars: fastest, median | 20,000 chars: fastest, median | ratio of the fastest | ratio per round: median (lowest–highest) | rounds |');
console.log('|---|---|---|---|---|---|---|');
for (const c of cases) {
  if (c.slow) {
    console.log(`| ${name(c)} | ${c.renderer.name} | ${ms(c.slow)} (once) | not run | – | – | 0 |`);
    continue;
  }
  const ratios = c.ms[0].map((small, r) => c.ms[1][r] / small);
  const [small, large] = c.ms.map((times) => `${ms(Math.min(...times))}, ${ms(median(times))}`);
  const fastest = Math.min(...c.ms[1]) / Math.min(...c.ms[0]);
  const spread = `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`;
  console.log(`| ${name(c)} | ${c.renderer.name} | ${small} | ${large} | ${fastest.toFixed(2)} | ${median(ratios).toFixed(2)} (${spread}) | ${ratios.length} |`);
}
