// Shared test helpers: fixture containers and a raw node:http client (global fetch would hide
// what is on the wire).
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { LocalContainer } from '../containers.mjs';

export const FIXTURE = new URL('./fixtures/server.mjs', import.meta.url).pathname;

/** A LocalContainer running the fixture server; `tag` ends up in argv for pgrep. */
export function fixtureContainer(id, tag, { baseEnv = {}, log = () => {} } = {}) {
  return new LocalContainer({
    id,
    className: 'TestContainer',
    startCommand: [process.execPath, FIXTURE, tag],
    cwd: process.cwd(),
    baseEnv: { PATH: process.env.PATH, ...baseEnv },
    containerPort: 4000,
    log,
  });
}

/** Poll /health/liveliness like the real Durable Object does, with a per-probe timeout. */
export async function waitReady(container, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await container.getTcpPort(4000).fetch('http://container/health/liveliness', { signal: AbortSignal.timeout(1000) });
      await r.text();
      if (r.ok) return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, 30));
  }
}

/** pids whose command line contains `pattern` (excluding pgrep itself). */
export function pgrep(pattern) {
  try {
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return []; // exit 1: no match
  }
}

/** Read a web stream, noting when each chunk arrived. */
export async function readTimed(stream) {
  const t0 = performance.now();
  const chunks = [];
  const dec = new TextDecoder();
  for await (const c of stream) chunks.push({ at: performance.now() - t0, text: dec.decode(c) });
  return chunks;
}

/**
 * Raw HTTP request; resolves with the node response and collects its body with arrival times.
 * @returns {Promise<{status: number, headers: any, rawHeaders: string[], chunks: {at: number, text: string}[], body: string, res: http.IncomingMessage}>}
 */
export function rawRequest({ port, method = 'GET', path = '/', headers = {}, body = null, onChunk }) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const t0 = performance.now();
      const chunks = [];
      res.on('data', (c) => {
        chunks.push({ at: performance.now() - t0, text: c.toString() });
        onChunk?.(c, req, res);
      });
      res.on('end', () =>
        resolve({ status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, chunks, body: chunks.map((c) => c.text).join(''), res }),
      );
      res.on('error', reject);
      res.on('aborted', () => reject(Object.assign(new Error('response aborted'), { chunks })));
    });
    req.on('error', reject);
    if (body !== null) req.write(body);
    req.end();
  });
}
