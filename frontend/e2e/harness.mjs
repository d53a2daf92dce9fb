// What the end-to-end test (and the benchmark) need around the page: the built files served
// on 127.0.0.1, the real backend on port 8000, and Debian's Chromium driven by playwright-core.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const FRONTEND_DIR = fileURLToPath(new URL('..', import.meta.url));
export const REPO_DIR = path.resolve(FRONTEND_DIR, '..');
export const DIST_DIR = path.join(FRONTEND_DIR, 'dist');
export const ARTIFACTS_DIR = path.join(FRONTEND_DIR, 'test-artifacts');
const BACKEND_DIR = path.join(REPO_DIR, 'backend');

/** The chat client's development backend is always http://localhost:8000 (src/services/chatClient.ts). */
export const BACKEND_PORT = 8000;
const BACKEND_READY_TIMEOUT_MS = 90_000;
const BACKEND_STOP_TIMEOUT_MS = 10_000;

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

/** Serves `dir` on 127.0.0.1 at a free port; `/` is index.html. */
export async function serveStatic(dir) {
  const root = path.resolve(dir);
  if (!existsSync(path.join(root, 'index.html'))) {
    throw new Error(`${root}/index.html is missing: run \`npm run build\` in ${FRONTEND_DIR} first`);
  }
  const server = createServer(async (req, res) => {
    const pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = path.resolve(root, '.' + (pathname === '/' ? '/index.html' : pathname));
    if (!file.startsWith(root + path.sep)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    }
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Fails with the fix when something already listens on `port` (IPv4 or IPv6 loopback). */
export async function assertPortFree(port) {
  for (const host of ['127.0.0.1', '::1']) {
    const error = await new Promise((resolve) => {
      const probe = net.createServer();
      probe.once('error', resolve);
      probe.listen(port, host, () => probe.close(() => resolve(null)));
    });
    if (error?.code === 'EADDRINUSE') {
      throw new Error(
        `port ${port} on ${host} is busy. The page's development client always calls http://localhost:${port}, ` +
          `so this test starts its own backend there: stop whatever listens on it (\`ss -ltnp 'sport = :${port}'\`) and re-run.`,
      );
    }
    // EADDRNOTAVAIL: no IPv6 loopback on this machine, so nothing can listen there either.
    if (error && error.code !== 'EADDRNOTAVAIL' && error.code !== 'EAFNOSUPPORT') throw error;
  }
}

function backendPython() {
  const python = process.env.BACKEND_PYTHON || path.join(REPO_DIR, 'target/xtask/venv/bin/python');
  if (!existsSync(python)) {
    throw new Error(
      `no backend Python at ${python}: set BACKEND_PYTHON to a Python with backend/requirements.txt installed, ` +
        'or run `cargo xtask ci --only backend` once to create the dev venv',
    );
  }
  return python;
}

/**
 * Starts the real backend on 127.0.0.1:8000 with its embedded defaults (no secrets), a fresh
 * data folder, the project's docs as knowledge and `origins` allowed by CORS; `env` adds or
 * overrides settings (e.g. a local fake Gemini). Resolves once `/api/health` answers 200.
 */
export async function startBackend({ origins, env: extra = {} }) {
  await assertPortFree(BACKEND_PORT);
  const python = backendPython();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'chat-e2e-backend-'));
  const child = spawnBackend(python, backendEnv({ origins, dataDir, extra }));
  const log = captureLog(child);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const detach = killWithTestProcess(child, dataDir);
  const backend = {
    url: `http://localhost:${BACKEND_PORT}`,
    log,
    stop: () => stopBackend({ child, exited, dataDir, detach }),
  };
  await waitForHealth({ exited, backend });
  return backend;
}

/** The backend's environment: the caller's, with the test's settings and no production secrets. */
function backendEnv({ origins, dataDir, extra }) {
  return {
    ...process.env,
    ALLOWED_ORIGINS: origins.join(','),
    KNOWLEDGE_PATHS: [path.join(REPO_DIR, 'README.md'), path.join(REPO_DIR, 'docs')].join(','),
    DATA_DIR: dataDir,
    LOG_LEVEL: 'WARNING',
    // Embedded defaults even when the caller's shell holds production secrets.
    GEMINI_API_KEY: '',
    GEMINI_BASE_URL: '',
    QDRANT_URL: '',
    QDRANT_API_KEY: '',
    DATABASE_URL: '',
    ...extra,
  };
}

/** Runs uvicorn on 127.0.0.1:8000 from backend/, its output piped. */
function spawnBackend(python, env) {
  return spawn(
    python,
    ['-m', 'uvicorn', 'app.main:app', '--host', '127.0.0.1', '--port', String(BACKEND_PORT)],
    { cwd: BACKEND_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

/** Keeps the last 8000 characters of the child's stdout and stderr; returns their reader. */
function captureLog(child) {
  let log = '';
  const keep = (chunk) => {
    log = (log + chunk).slice(-8000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return () => log;
}

/**
 * If the test process ends without running its cleanup (a crash, Ctrl-C, a CI timeout), the
 * backend must not outlive it and keep port 8000. Returns the function that removes this guard.
 */
function killWithTestProcess(child, dataDir) {
  const killOnExit = () => {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  };
  const killOnSignal = (signal) => {
    killOnExit();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('exit', killOnExit);
  process.once('SIGINT', killOnSignal);
  process.once('SIGTERM', killOnSignal);
  return () => {
    process.removeListener('exit', killOnExit);
    process.removeListener('SIGINT', killOnSignal);
    process.removeListener('SIGTERM', killOnSignal);
  };
}

/** Stops the backend (SIGTERM, then SIGKILL after a grace period) and removes its data folder. */
async function stopBackend({ child, exited, dataDir, detach }) {
  detach();
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), BACKEND_STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
  rmSync(dataDir, { recursive: true, force: true });
}

/** Polls `/api/health` until it answers 200; stops the backend and fails if it exits or times out. */
async function waitForHealth({ exited, backend }) {
  const deadline = Date.now() + BACKEND_READY_TIMEOUT_MS;
  let lastStatus = 'no answer';
  while (Date.now() < deadline) {
    const early = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve(null), 250))]);
    if (early) {
      await backend.stop();
      throw new Error(`the backend exited during startup (${early.code ?? early.signal}):\n${backend.log()}`);
    }
    try {
      const response = await fetch(`http://127.0.0.1:${BACKEND_PORT}/api/health`);
      if (response.ok) return;
      lastStatus = `HTTP ${response.status}: ${await response.text()}`;
    } catch {
      lastStatus = 'no answer';
    }
  }
  await backend.stop();
  throw new Error(
    `the backend did not become healthy within ${BACKEND_READY_TIMEOUT_MS / 1000} s (last: ${lastStatus}):\n${backend.log()}`,
  );
}

/** Debian's Chromium (no browser download), headless, with a throwaway profile. */
export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath}: \`apt-get install chromium\`, or set CHROMIUM_PATH`);
  }
  // playwright adds --headless and a fresh --user-data-dir of its own.
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}
