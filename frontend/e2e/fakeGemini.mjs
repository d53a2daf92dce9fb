// The Gemini API as the backend's google-genai client calls it (models.get, embedContent /
// batchEmbedContents, streamGenerateContent?alt=sse), on 127.0.0.1 at a free port. Answers
// stream slowly, piece by piece, so the page can stop one half-way; the fake records whether
// its client (the backend) hung up before the end: the backend's own stream was cancelled.
// The same protocol as backend/tests/fakes.py's FakeGemini, in the e2e suite's language.

import { createServer } from 'node:http';

export const GEMINI_KEY = 'e2e-fake-gemini-key';
const PATH = /^\/v1beta\/models\/([^:/?]+)(?::(\w+))?/;
const DIMENSIONS = 768;
const PIECE_EVERY_MS = 250;

/** A deterministic unit vector with every component positive, so every chunk is somewhat relevant. */
function embedding(text) {
  const vector = new Array(DIMENSIONS).fill(1);
  for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    let hash = 0;
    for (const c of word) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
    vector[hash % DIMENSIONS] += 1;
  }
  const norm = Math.hypot(...vector);
  return vector.map((v) => v / norm);
}

/** The answer: paragraphs long enough to outgrow a screen, then a table and a code block. */
export const ANSWER_PIECES = [
  ...Array.from({ length: 24 }, (_, i) => `Paragraph ${i + 1} of a long answer, written slowly so the page can stop it or jump to its end while it streams. `.repeat(2) + '\n\n'),
  '| Setting | Default |\n|---|---:|\n| `PORT` | 7860 |\n| `LOG_LEVEL` | INFO |\n\n',
  '```sh\ncargo xtask deploy\n```\n',
];

export async function startFakeGemini() {
  const streams = []; // one record per streamed answer: { finished, cancelled }
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const json = (status, value) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (req.headers['x-goog-api-key'] !== GEMINI_KEY) {
        json(403, { error: { code: 403, message: 'API key not valid.', status: 'PERMISSION_DENIED' } });
        return;
      }
      const match = PATH.exec(req.url ?? '');
      if (!match) {
        json(404, { error: { code: 404, message: `unknown path ${req.url}`, status: 'NOT_FOUND' } });
        return;
      }
      const [, model, method] = match;
      const request = body ? JSON.parse(body) : {};
      if (!method && req.method === 'GET') {
        json(200, { name: `models/${model}`, displayName: model, supportedGenerationMethods: ['generateContent'] });
      } else if (method === 'batchEmbedContents') {
        json(200, {
          embeddings: request.requests.map((r) => ({ values: embedding(r.content.parts.map((p) => p.text).join(' ')) })),
        });
      } else if (method === 'embedContent') {
        json(200, { embedding: { values: embedding(request.content.parts.map((p) => p.text).join(' ')) } });
      } else if (method === 'streamGenerateContent') {
        const record = { finished: false, cancelled: false };
        streams.push(record);
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        let next = 0;
        const timer = setInterval(() => {
          if (next >= ANSWER_PIECES.length) {
            clearInterval(timer);
            record.finished = true;
            res.end();
            return;
          }
          const text = ANSWER_PIECES[next++];
          const chunk = {
            candidates: [{ content: { parts: [{ text }], role: 'model' }, index: 0, ...(next === ANSWER_PIECES.length ? { finishReason: 'STOP' } : {}) }],
            modelVersion: model,
          };
          res.write(`data: ${JSON.stringify(chunk)}\r\n\r\n`);
        }, PIECE_EVERY_MS);
        res.on('close', () => {
          clearInterval(timer);
          if (!record.finished) record.cancelled = true;
        });
      } else {
        json(404, { error: { code: 404, message: `unknown method ${method}`, status: 'NOT_FOUND' } });
      }
    });
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    streams,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
