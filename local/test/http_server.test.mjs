import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startHttpServer, isLoopback } from '../http_server.mjs';
import { createControl } from '../control.mjs';
import { listContainers, killContainer, stopAllContainers } from '../containers.mjs';
import { listInstances } from '../durable_objects.mjs';
import { fixtureContainer, waitReady, pgrep, rawRequest } from './helpers.mjs';

const TAG = `htest-${process.pid}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const enc = new TextEncoder();

/** One server for most tests; `route` is swapped per test. */
let route = async () => new Response('unset');
const logs = [];
const srv = await startHttpServer({
  port: 0,
  handler: (req, info) => route(req, info),
  log: (o) => logs.push(o),
  control: createControl({ listContainers, killContainer, listInstances }),
});
after(async () => {
  await srv.close();
  await stopAllContainers();
});

test('request: raw path kept, hop-by-hop dropped, body streamed; log line', async () => {
  let seen;
  route = async (req) => {
    seen = { url: req.url, method: req.method, headers: Object.fromEntries(req.headers), body: await req.text() };
    return new Response('ok', { headers: { 'x-request-id': 'req-123', connection: 'close', 'keep-alive': 'timeout=1' } });
  };
  const big = 'x'.repeat(1024 * 1024);
  const r = await rawRequest({
    port: srv.port,
    method: 'POST',
    path: '/v1/../admin/%2e%2e/x?key=secret',
    headers: { 'x-custom': 'a', 'keep-alive': 'timeout=5', 'x-hop': '1', connection: 'keep-alive, x-hop', 'content-type': 'text/plain' },
    body: big,
  });
  assert.equal(r.status, 200);
  assert.equal(seen.url, `http://127.0.0.1:${srv.port}/v1/../admin/%2e%2e/x?key=secret`);
  assert.equal(seen.method, 'POST');
  assert.equal(seen.body.length, big.length);
  assert.equal(seen.headers['x-custom'], 'a');
  assert.equal(seen.headers.host, `127.0.0.1:${srv.port}`);
  for (const h of ['connection', 'keep-alive', 'x-hop', 'transfer-encoding']) assert.equal(seen.headers[h], undefined, h);
  assert.notEqual(r.headers['keep-alive'], 'timeout=1', "the handler's hop-by-hop headers are not relayed");
  for (let i = 0; i < 50 && logs.length === 0; i++) await sleep(5); // logged on 'close', after the client's 'end'
  const line = logs.at(-1);
  assert.deepEqual(Object.keys(line).sort(), ['method', 'ms', 'path', 'request_id', 'status']);
  assert.equal(line.path, '/v1/../admin/%2e%2e/x', 'query (may hold secrets) not logged');
  assert.equal(line.request_id, 'req-123');
  assert.equal(line.status, 200);

  route = async (req) => new Response(JSON.stringify({ body: req.body === null }));
  assert.equal((await rawRequest({ port: srv.port, path: '/' })).body, '{"body":true}');
  assert.equal((await rawRequest({ port: srv.port, path: '*', method: 'OPTIONS' })).status, 400);
});

test('response: chunks arrive as produced; multiple set-cookie kept', async () => {
  route = async () => {
    let i = 0;
    const body = new ReadableStream({
      async pull(ctrl) {
        if (i++ >= 5) return ctrl.close();
        if (i > 1) await sleep(80);
        ctrl.enqueue(enc.encode(`data: ${i}\n\n`));
      },
    });
    const headers = new Headers({ 'content-type': 'text/event-stream' });
    headers.append('set-cookie', 'a=1');
    headers.append('set-cookie', 'b=2; HttpOnly');
    return new Response(body, { headers });
  };
  const r = await rawRequest({ port: srv.port, path: '/stream' });
  assert.equal(r.chunks.length, 5, 'one write per chunk');
  for (let k = 1; k < 5; k++) assert.ok(r.chunks[k].at - r.chunks[k - 1].at >= 50, `gap before chunk ${k}`);
  assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2; HttpOnly']);
});

test('client disconnect aborts the signal and cancels the body', async () => {
  let signal;
  let cancelled = null;
  route = async (req, info) => {
    signal = info.signal;
    return new Response(
      new ReadableStream({
        async pull(ctrl) {
          await sleep(20);
          ctrl.enqueue(enc.encode('tick\n'));
        },
        cancel(reason) {
          cancelled = reason ?? 'cancelled';
        },
      }),
    );
  };
  await new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: srv.port, path: '/forever', agent: false }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', () => {});
  });
  for (let i = 0; i < 50 && (!signal?.aborted || cancelled === null); i++) await sleep(10);
  assert.equal(signal.aborted, true);
  assert.notEqual(cancelled, null);
  assert.equal(logs.find((l) => l.path === '/forever').aborted, true);
});

test('handler throws -> 500 OpenAI-shaped; body error mid-stream -> broken response', async () => {
  route = async () => {
    throw new Error('kaboom');
  };
  const r = await rawRequest({ port: srv.port, path: '/x' });
  assert.equal(r.status, 500);
  assert.deepEqual(JSON.parse(r.body), { error: { message: 'local runtime error', type: 'server_error', code: 'internal_error' } });
  assert.ok(logs.some((l) => l.level === 'error' && l.error === 'kaboom'));

  route = async () => {
    let i = 0;
    return new Response(
      new ReadableStream({
        async pull(ctrl) {
          if (i++ === 0) return ctrl.enqueue(enc.encode('partial'));
          await sleep(20);
          ctrl.error(new Error('upstream died'));
        },
      }),
    );
  };
  await assert.rejects(rawRequest({ port: srv.port, path: '/y' }), /aborted|socket hang up|ECONNRESET/);
});

test('control API: list, kill (monitor rejects), 404s; absent without control', async () => {
  const c = fixtureContainer('h-ctl', TAG);
  c.start();
  await waitReady(c);
  const m = c.monitor();
  const list = JSON.parse((await rawRequest({ port: srv.port, path: '/__local/containers' })).body);
  assert.ok(list.some((x) => x.id === 'h-ctl' && x.running));
  assert.ok(Array.isArray(JSON.parse((await rawRequest({ port: srv.port, path: '/__local/instances' })).body)));
  assert.equal((await rawRequest({ port: srv.port, path: '/__local/containers/nope/kill', method: 'POST' })).status, 404);
  assert.equal((await rawRequest({ port: srv.port, path: '/__local/containers/h-ctl/kill' })).status, 405);
  const k = await rawRequest({ port: srv.port, path: '/__local/containers/h-ctl/kill', method: 'POST' });
  assert.equal(k.status, 200);
  await assert.rejects(m, /SIGKILL/);
  assert.equal((await rawRequest({ port: srv.port, path: '/__local/containers/h-ctl/kill', method: 'POST' })).status, 409);
  assert.equal((await rawRequest({ port: srv.port, path: '/__local/what' })).status, 404);

  const plain = await startHttpServer({ port: 0, handler: async (req) => new Response(`worker saw ${new URL(req.url).pathname}`) });
  assert.equal((await rawRequest({ port: plain.port, path: '/__local/containers' })).body, 'worker saw /__local/containers');
  await plain.close();
  assert.ok(isLoopback('127.0.0.1') && isLoopback('::1') && isLoopback('::ffff:127.0.0.1'));
  assert.ok(!isLoopback('10.0.0.1') && !isLoopback(undefined));
});

test('no orphan fixture processes', async () => {
  await stopAllContainers();
  await sleep(50);
  assert.deepEqual(pgrep(TAG), []);
});
