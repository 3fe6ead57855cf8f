// The whole local path without Pyodide: http server -> DO stub -> DO instance -> container process.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startHttpServer } from '../http_server.mjs';
import { DurableObjectNamespace } from '../durable_objects.mjs';
import { stopAllContainers } from '../containers.mjs';
import { fixtureContainer, waitReady, pgrep, rawRequest } from './helpers.mjs';

const TAG = `chain-${process.pid}`;
const ns = new DurableObjectNamespace({
  className: 'ChainContainer',
  env: {},
  log: () => {},
  containerFactory: (idStr) => fixtureContainer(`chain-${idStr.slice(0, 8)}`, TAG),
  createInstance: async (ctx) => ({
    async fetch(request) {
      if (!ctx.container.running) ctx.container.start({ env: { FROM_DO: '1' } });
      await waitReady(ctx.container);
      return ctx.container.getTcpPort(4000).fetch(request);
    },
  }),
});
const srv = await startHttpServer({ port: 0, handler: (req) => ns.getByName('main').fetch(req) });
after(async () => {
  await srv.close();
  await stopAllContainers();
});

test('SSE chunks and a 1 MB upload pass through server -> DO -> container unbuffered', async () => {
  const r = await rawRequest({ port: srv.port, path: '/stream?n=4&delay=100' });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'text/event-stream');
  assert.ok(r.chunks.length >= 4, `${r.chunks.length} chunks`);
  assert.ok(r.chunks.at(-1).at - r.chunks[0].at >= 250, 'spread over time');

  const big = Buffer.alloc(1024 * 1024, 'abc');
  const echo = JSON.parse((await rawRequest({ port: srv.port, method: 'POST', path: '/echo', body: big })).body);
  assert.equal(echo.bytes, big.length);
  assert.equal(echo.sha256, createHash('sha256').update(big).digest('hex'));

  const h = JSON.parse((await rawRequest({ port: srv.port, path: '/x/%2e%2e/headers' })).body);
  assert.equal(h.url, '/headers', 'the path as workerd parses it (dot segments resolved) reaches the container');
  const env = JSON.parse((await rawRequest({ port: srv.port, path: '/env?name=FROM_DO' })).body);
  assert.equal(env.value, '1');
});

test('no orphans', async () => {
  await stopAllContainers();
  assert.deepEqual(pgrep(TAG), []);
});
