import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startHttpServer, isLoopback, MAX_HEADER_FIELDS, MAX_HEADER_BYTES, MAX_URL_BYTES } from '../http_server.mjs';
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

test('request: URL parsed as workerd does, hop-by-hop dropped, body streamed; log line', async () => {
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
  assert.equal(seen.url, `http://127.0.0.1:${srv.port}/x?key=secret`, 'dot segments resolved, as workerd does');
  assert.equal(seen.method, 'POST');
  assert.equal(seen.body.length, big.length);
  assert.equal(seen.headers['x-custom'], 'a');
  assert.equal(seen.headers.host, `127.0.0.1:${srv.port}`);
  for (const h of ['connection', 'keep-alive', 'x-hop', 'transfer-encoding']) assert.equal(seen.headers[h], undefined, h);
  assert.notEqual(r.headers['keep-alive'], 'timeout=1', "the handler's hop-by-hop headers are not relayed");
  for (let i = 0; i < 50 && logs.length === 0; i++) await sleep(5); // logged on 'close', after the client's 'end'
  const line = logs.at(-1);
  assert.deepEqual(Object.keys(line).sort(), ['method', 'ms', 'path', 'request_id', 'status']);
  assert.equal(line.path, '/v1/../admin/%2e%2e/x', 'the path as sent; the query (may hold secrets) not logged');
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

/**
 * Raw bytes over a socket: the client writes everything (headers and body) before it reads a byte.
 * Resolves once the response is complete (Content-Length or chunked framing) with its decoded body.
 */
function rawExchange(port, head, body = Buffer.alloc(0)) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let received = Buffer.alloc(0);
    let reading = false;
    const sock = net.connect(port, '127.0.0.1', async () => {
      sock.write(head);
      for (let off = 0; off < body.length && !sock.destroyed; off += 64 * 1024) {
        if (!sock.write(body.subarray(off, off + 64 * 1024))) await new Promise((r) => sock.once('drain', r));
      }
      reading = true;
      sock.resume();
    });
    sock.pause();
    const parse = () => {
      const text = received.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return null;
      const headText = text.slice(0, end);
      let rest = text.slice(end + 4);
      const length = /\r\ncontent-length: (\d+)/i.exec(headText);
      if (length) return rest.length >= Number(length[1]) ? { headText, body: rest.slice(0, Number(length[1])) } : null;
      if (!/\r\ntransfer-encoding: chunked/i.test(headText)) return null;
      let out = '';
      for (;;) {
        const nl = rest.indexOf('\r\n');
        if (nl < 0) return null;
        const size = parseInt(rest.slice(0, nl), 16);
        if (size === 0) return { headText, body: out };
        if (rest.length < nl + 2 + size + 2) return null;
        out += rest.slice(nl + 2, nl + 2 + size);
        rest = rest.slice(nl + 2 + size + 2);
      }
    };
    const done = (parsed) => {
      sock.destroy();
      resolve({ status: Number(received.toString('latin1').slice(9, 12)) || 0, body: parsed?.body ?? '', ms: performance.now() - t0 });
    };
    sock.on('data', (c) => {
      received = Buffer.concat([received, c]);
      const parsed = parse();
      if (parsed) done(parsed);
    });
    sock.on('error', (err) => (reading ? done(parse()) : reject(err)));
    sock.on('close', () => done(parse()));
  });
}

test('the URL comes from a validated Host: a Host that would move the path is refused', async () => {
  let calls = 0;
  route = async (req) => {
    calls++;
    return new Response(JSON.stringify({ url: req.url }));
  };
  for (const host of ['x\\openai\\v1\\files%3F', 'x/openai', 'a@b', 'x?y', 'x#y', 'a b']) {
    const r = await rawExchange(srv.port, `GET /v1/models HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    assert.equal(r.status, 400, host);
  }
  assert.equal(calls, 0, 'the worker never saw them');
  const ok = await rawExchange(srv.port, 'GET /v1/models HTTP/1.1\r\nHost: Gateway.example:8443\r\n\r\n');
  assert.equal(JSON.parse(ok.body).url, 'http://gateway.example:8443/v1/models');
  const v6 = await rawExchange(srv.port, 'GET /a\\b/../c HTTP/1.1\r\nHost: [::1]:99\r\n\r\n');
  assert.equal(JSON.parse(v6.body).url, 'http://[::1]:99/a/c', 'a backslash is a slash, as in workerd');
});

test('cf-connecting-ip is the socket peer, whatever the client sent', async () => {
  let seen;
  route = async (req) => {
    seen = [...req.headers].filter(([k]) => k === 'cf-connecting-ip');
    return new Response('ok');
  };
  await rawRequest({ port: srv.port, path: '/', headers: { 'CF-Connecting-IP': '6.6.6.6' } });
  assert.deepEqual(seen, [['cf-connecting-ip', '127.0.0.1']]);
  await rawRequest({ port: srv.port, path: '/' });
  assert.deepEqual(seen, [['cf-connecting-ip', '127.0.0.1']]);
});

test('header floods get 431, long URLs 414; up to the limit every header and the body arrive', async () => {
  let seen = null;
  route = async (req) => {
    seen = { fields: [...req.headers].length, body: await req.text() };
    return new Response('ok');
  };
  const fields = (n) => Array.from({ length: n }, (_, i) => `h${i}: v\r\n`).join('');
  const flood = await rawExchange(srv.port, `POST / HTTP/1.1\r\nHost: x\r\n${fields(MAX_HEADER_FIELDS)}Content-Length: 2\r\n\r\nab`);
  assert.equal(flood.status, 431);
  assert.equal(seen, null);
  const big = await rawExchange(srv.port, `GET / HTTP/1.1\r\nHost: x\r\nx-big: ${'a'.repeat(MAX_HEADER_BYTES)}\r\n\r\n`);
  assert.equal(big.status, 431);
  const longUrl = await rawExchange(srv.port, `GET /${'a'.repeat(MAX_URL_BYTES)} HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert.equal(longUrl.status, 414);
  assert.equal(seen, null);
  // 997 + host + content-length (+ cf-connecting-ip added) = the limit: all kept, the body is there.
  const many = await rawExchange(srv.port, `POST / HTTP/1.1\r\nHost: x\r\n${fields(MAX_HEADER_FIELDS - 2)}Content-Length: 2\r\n\r\nab`);
  assert.equal(many.status, 200);
  assert.deepEqual(seen, { fields: MAX_HEADER_FIELDS + 1, body: 'ab' });
});

test('a refused upload is answered at once, even to a client that sends its whole body first', async () => {
  route = async () => new Response('{"error": "too large"}', { status: 413, headers: { 'content-type': 'application/json' } });
  const body = Buffer.alloc(12 * 1024 * 1024, 'x');
  const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
  const r = await rawExchange(srv.port, head, body);
  assert.equal(r.status, 413);
  assert.ok(r.ms < 1500, `answered after ${Math.round(r.ms)} ms`);
  route = async () => new Response('still serving');
  assert.equal((await rawRequest({ port: srv.port, path: '/' })).body, 'still serving');
});

test('no orphan fixture processes', async () => {
  await stopAllContainers();
  await sleep(50);
  assert.deepEqual(pgrep(TAG), []);
});
