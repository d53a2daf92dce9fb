// The chat page's size and speed, side by side with an empty Vite page built the same way.
//
//   node bench/frontend_bench.mjs [rounds] [--compare DIST]      (after `npm ci` in frontend/)
//
// --compare DIST adds a third page: another build of the chat page (e.g. main's, built in a
// temporary copy: `git archive main frontend | tar -x -C /tmp/main && cd /tmp/main/frontend &&
// ln -s $PWD/node_modules . && npx vite build`), loaded in the same rounds, so a change is
// measured against its baseline in one run.
//
// Size: the production JS and CSS (in files or inline in index.html) and everything served,
// each gzipped at level 9. Speed: time from navigation
// start to the moment the question box is enabled (the script has wired it), in headless
// Chromium, a fresh profile per load, pages served on 127.0.0.1. Both pages ship the box
// disabled and enable it from their script, so the baseline measures Vite + Chromium
// themselves. The baseline keeps Vite's default separate script file; the chat page
// inlines its script and stylesheet (frontend/vite.config.ts). The loads alternate between the two pages so drift hits both alike.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const FRONTEND = fileURLToPath(new URL('../frontend/', import.meta.url));
const { DIST_DIR, launchBrowser, serveStatic } = await import(path.join(FRONTEND, 'e2e/harness.mjs'));

const args = process.argv.slice(2);
const compareAt = args.indexOf('--compare');
const compare = compareAt >= 0 ? args.splice(compareAt, 2)[1] : null;
if (compareAt >= 0 && (!compare || !existsSync(path.join(compare, 'index.html')))) {
  console.error(`--compare needs a built page's folder (with index.html), got ${compare ?? 'nothing'}`);
  process.exit(2);
}
const rounds = Number(args[0] ?? 20);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 200) {
  console.error(`rounds must be a whole number from 1 to 200, got ${args[0]}`);
  process.exit(2);
}

function buildBaseline() {
  const root = mkdtempSync(path.join(tmpdir(), 'vite-baseline-'));
  writeFileSync(
    path.join(root, 'index.html'),
    '<!doctype html><html lang="en"><head><meta charset="UTF-8"><link rel="icon" href="data:,"><title>baseline</title></head>' +
      '<body><label for="message">Question</label><textarea id="message" disabled></textarea>' +
      '<script type="module" src="/main.ts"></script></body></html>',
  );
  writeFileSync(path.join(root, 'main.ts'), "(document.getElementById('message') as HTMLTextAreaElement).disabled = false;\n");
  const vite = path.join(FRONTEND, 'node_modules/vite/bin/vite.js');
  execFileSync(process.execPath, [vite, 'build', root, '--logLevel', 'error'], { cwd: root, stdio: 'inherit' });
  return { root, dist: path.join(root, 'dist') };
}

/** Bytes and gzip -9 bytes of the page's JS and CSS, in files or inline in HTML, and of everything served. */
function sizes(dist) {
  const files = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else files.push(file);
    }
  };
  walk(dist);
  const total = { js: [0, 0], css: [0, 0], all: [0, 0] };
  const add = (kind, text) => {
    total[kind][0] += Buffer.byteLength(text);
    total[kind][1] += gzipSync(text, { level: 9 }).length;
  };
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    add('all', text);
    if (file.endsWith('.js')) add('js', text);
    if (file.endsWith('.css')) add('css', text);
    if (file.endsWith('.html')) {
      for (const [, code] of text.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)) if (code.trim()) add('js', code);
      for (const [, css] of text.matchAll(/<style\b[^>]*>([\s\S]*?)<\/style>/g)) add('css', css);
    }
  }
  return total;
}

async function timeToInteractive(browser, url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.addInitScript(() => {
    const mark = () => {
      const box = document.getElementById('message');
      if (box && !box.disabled && window.__interactiveAt === undefined) window.__interactiveAt = performance.now();
    };
    new MutationObserver(mark).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['disabled'] });
  });
  await page.goto(url);
  const ms = await page.waitForFunction(() => window.__interactiveAt, null, { timeout: 10_000 }).then((h) => h.jsonValue());
  await context.close();
  return ms;
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

execFileSync('npm', ['run', 'build', '--silent'], { cwd: FRONTEND, stdio: ['ignore', 'ignore', 'inherit'] });
const baseline = buildBaseline();
const pages = [
  { name: 'empty Vite page (baseline)', dist: baseline.dist, times: [] },
  { name: 'chat page', dist: DIST_DIR, times: [] },
  ...(compare ? [{ name: 'chat page (--compare)', dist: compare, times: [] }] : []),
];
const servers = [];
const browser = await launchBrowser();
try {
  for (const page of pages) {
    const server = await serveStatic(page.dist);
    servers.push(server);
    page.url = `http://127.0.0.1:${server.port}/`;
    page.size = sizes(page.dist);
    await timeToInteractive(browser, page.url); // warm-up: Chromium's own first-use costs
  }
  for (let round = 0; round < rounds; round += 1) {
    for (const page of pages) page.times.push(await timeToInteractive(browser, page.url));
  }
} finally {
  await browser.close();
  await Promise.all(servers.map((s) => s.close()));
  rmSync(baseline.root, { recursive: true, force: true });
}

const kb = (n) => (n / 1000).toFixed(2).padStart(6);
const ms = (n) => n.toFixed(1).padStart(6);
console.log(`\nfrontend bench: ${rounds} loads per page, headless Chromium, 127.0.0.1, fresh profile per load\n`);
console.log('page                          JS gz kB  JS raw kB  CSS gz kB  all files gz kB   load→interactive ms: p50    p90    max');
for (const page of pages) {
  const { js, css, all } = page.size;
  console.log(
    `${page.name.padEnd(28)}  ${kb(js[1])}    ${kb(js[0])}     ${kb(css[1])}           ${kb(all[1])}` +
      `                        ${ms(percentile(page.times, 50))} ${ms(percentile(page.times, 90))} ${ms(Math.max(...page.times))}`,
  );
}
const [base, chat, other] = pages;
const signed = (n, digits) => (n >= 0 ? '+' : '') + n.toFixed(digits);
console.log(
  `\nchat page minus baseline: ${signed((chat.size.js[1] - base.size.js[1]) / 1000, 2)} kB JS gzipped, ` +
    `${signed(percentile(chat.times, 50) - percentile(base.times, 50), 1)} ms p50 load→interactive`,
);
if (other) {
  console.log(
    `chat page / --compare page: ${(chat.size.all[1] / other.size.all[1]).toFixed(2)}× all files gzipped, ` +
      `${(percentile(chat.times, 50) / percentile(other.times, 50)).toFixed(2)}× p50 load→interactive`,
  );
}
