import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { LocalContainer, listContainers, killContainer, stopAllContainers } from '../containers.mjs';
import { fixtureContainer, waitReady, pgrep, readTimed, FIXTURE } from './helpers.mjs';

const TAG = `ctest-${process.pid}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

after(async () => {
  await stopAllContainers();
});

test('start -> fetch -> destroy; monitor resolves on destroy', async () => {
  const logs = [];
  const c = fixtureContainer('c-basic', TAG, { log: (l) => logs.push(l) });
  assert.equal(c.running, false);
  await assert.rejects(c.monitor(), /not running/);
  assert.equal(c.start({ env: { FOO: 'bar' } }), undefined); // sync, like workerd
  assert.equal(c.running, true);
  assert.throws(() => c.start(), /already running/);
  const monitored = c.monitor();
  await waitReady(c);
  const r = await c.getTcpPort(4000).fetch('http://container/env?name=FOO');
  assert.deepEqual(await r.json(), { value: 'bar' });
  const info = listContainers().find((x) => x.id === 'c-basic');
  assert.equal(info.running, true);
  assert.equal(info.className, 'TestContainer');
  assert.ok(info.pid > 0 && info.port > 0);
  await c.destroy('test over');
  await monitored; // resolves: the stop was requested
  assert.equal(c.running, false);
  assert.ok(logs.some((l) => l.startsWith('[c-basic] listening on')), 'stdout lines are prefixed');
  await assert.rejects(c.getTcpPort(4000).fetch('http://container/health/liveliness'), /connection/);
});

test('env: merged over baseEnv, PORT/HOST forced, host env not inherited', async () => {
  process.env.LOCAL_TEST_LEAK = 'leaked';
  const c = fixtureContainer('c-env', TAG, { baseEnv: { BASE_ONLY: 'b', OVERRIDE: 'base' } });
  c.start({ env: new Map([['OVERRIDE', 'start'], ['PORT', '1']]) });
  await waitReady(c);
  const get = async (name) => (await (await c.getTcpPort(4000).fetch(`http://container/env?name=${name}`)).json()).value;
  assert.equal(await get('BASE_ONLY'), 'b');
  assert.equal(await get('OVERRIDE'), 'start');
  assert.equal(await get('HOST'), '127.0.0.1');
  assert.equal(await get('PORT'), String(listContainers().find((x) => x.id === 'c-env').port));
  assert.equal(await get('LOCAL_TEST_LEAK'), null);
  await c.destroy();
});

test('killContainer: monitor rejects; restart counts; two containers on different ports', async () => {
  const a = fixtureContainer('c-a', TAG);
  const b = fixtureContainer('c-b', TAG);
  a.start();
  b.start();
  await Promise.all([waitReady(a), waitReady(b)]);
  const [ia, ib] = ['c-a', 'c-b'].map((id) => listContainers().find((x) => x.id === id));
  assert.notEqual(ia.port, ib.port);
  const monitored = a.monitor();
  assert.equal(killContainer('c-a'), true);
  await assert.rejects(monitored, /signal SIGKILL/);
  assert.equal(a.running, false);
  assert.equal(killContainer('c-a'), false);
  assert.equal(killContainer('nope'), false);
  // b is unaffected
  assert.equal((await b.getTcpPort(4000).fetch('http://container/health/liveliness')).status, 200);
  a.start();
  await waitReady(a);
  assert.equal(listContainers().find((x) => x.id === 'c-a').restarts, 1);
  await Promise.all([a.destroy(), b.destroy()]);
});

test('monitor: exit 0 resolves, exit 3 rejects, signal(15) resolves', async () => {
  const c = fixtureContainer('c-exit', TAG);
  c.start();
  await waitReady(c);
  let m = c.monitor();
  await (await c.getTcpPort(4000).fetch('http://container/exit?code=0')).text();
  await m;
  c.start();
  await waitReady(c);
  m = c.monitor();
  await (await c.getTcpPort(4000).fetch('http://container/exit?code=3')).text();
  await assert.rejects(m, /code 3/);
  c.start();
  await waitReady(c);
  m = c.monitor();
  c.signal(15);
  await m;
  assert.throws(() => c.signal(15), /not running/);
});

test('destroy kills the whole process group and escalates to SIGKILL', async () => {
  const tag = `${TAG}-group`;
  const c = fixtureContainer('c-group', tag, { baseEnv: { SPAWN_GRANDCHILD: '1', IGNORE_SIGTERM: '1' } });
  c.start();
  await waitReady(c);
  await sleep(150);
  assert.equal(pgrep(`grandchild-${tag}`).length, 1);
  const t0 = Date.now();
  await c.destroy();
  assert.ok(Date.now() - t0 >= 1500, 'waited for the SIGTERM grace');
  await sleep(50);
  assert.deepEqual(pgrep(tag), []);
});

test('getTcpPort.fetch: streams response chunks as they come', async () => {
  const c = fixtureContainer('c-stream', TAG);
  c.start();
  await waitReady(c);
  const r = await c.getTcpPort(4000).fetch('http://container/stream?n=5&delay=80');
  assert.equal(r.headers.get('content-type'), 'text/event-stream');
  const chunks = await readTimed(r.body);
  assert.ok(chunks.length >= 5, `got ${chunks.length} chunks`);
  assert.ok(chunks.at(-1).at - chunks[0].at >= 250, 'chunks spread over time, not buffered');
  assert.match(chunks.map((x) => x.text).join(''), /data: 4\n\ndata: \[DONE\]/);
  await c.destroy();
});

test('getTcpPort.fetch: request body streamed intact; Request input; URL parsed as workerd does; headers kept', async () => {
  const c = fixtureContainer('c-body', TAG);
  c.start();
  await waitReady(c);
  const port = c.getTcpPort(4000);
  const big = new Uint8Array(1024 * 1024).map((_, i) => (i * 7) % 251);
  const { createHash } = await import('node:crypto');
  const sha = createHash('sha256').update(big).digest('hex');
  let off = 0;
  const stream = new ReadableStream({
    async pull(ctrl) {
      if (off >= big.length) return ctrl.close();
      ctrl.enqueue(big.slice(off, off + 64 * 1024));
      off += 64 * 1024;
      await sleep(1);
    },
  });
  const r1 = await port.fetch('http://container/echo', { method: 'POST', body: stream, duplex: 'half' });
  assert.deepEqual({ ...(await r1.json()), chunks: 0 }, { bytes: big.length, sha256: sha, method: 'POST', chunks: 0 });
  const r2 = await port.fetch(new Request('http://container/echo', { method: 'PUT', body: big }));
  assert.equal((await r2.json()).sha256, sha);
  // The @cloudflare/containers form: fetch(url, request) with a Request as the init.
  const r2b = await port.fetch('http://container/echo', new Request('http://worker/v1/x', { method: 'POST', body: 'abc' }));
  assert.equal((await r2b.json()).sha256, createHash('sha256').update('abc').digest('hex'));
  const r3 = await port.fetch('http://container/x/%2e%2e/headers?q=1', { headers: [['x-a', '1'], ['authorization', 'Bearer t']] });
  const seen = await r3.json();
  assert.equal(seen.url, '/headers?q=1');
  assert.equal((await (await port.fetch('http://container/a\\..\\headers')).json()).url, '/headers');
  await assert.rejects(port.fetch('https://container/headers'), /only http/);
  assert.equal(seen.headers['x-a'], '1');
  assert.equal(seen.headers.host, 'container');
  for (const h of ['sec-fetch-mode', 'user-agent', 'accept-language', 'accept-encoding']) assert.equal(seen.headers[h], undefined, h);
  const r4 = await port.fetch('http://container/cookies');
  assert.deepEqual(r4.headers.getSetCookie(), ['a=1; Path=/', 'b=2; Path=/']);
  await r4.text();
  await c.destroy();
});

test('getTcpPort.fetch: connection refused rejects; other ports refused', async () => {
  const c = new LocalContainer({
    id: 'c-noport',
    startCommand: [process.execPath, '-e', 'setTimeout(() => {}, 10000)', TAG],
    baseEnv: { PATH: process.env.PATH },
    log: () => {},
  });
  await assert.rejects(c.getTcpPort(4000).fetch('http://container/'), /connection/);
  c.start();
  await assert.rejects(c.getTcpPort(4000).fetch('http://container/'), /connection/);
  await assert.rejects(c.getTcpPort(8080).fetch('http://container/'), /connection/);
  await c.destroy();
});

test('getTcpPort.fetch: death mid-body errors the stream; abort cancels', async () => {
  const c = fixtureContainer('c-die', TAG);
  c.start();
  await waitReady(c);
  const m = c.monitor();
  const r = await c.getTcpPort(4000).fetch('http://container/die-mid-body');
  assert.equal(r.status, 200);
  await assert.rejects(r.text(), /connection lost/);
  await assert.rejects(m, /code 1/);

  c.start();
  await waitReady(c);
  const ac = new AbortController();
  const r2 = await c.getTcpPort(4000).fetch('http://container/stream?n=50&delay=50', { signal: ac.signal });
  const reader = r2.body.getReader();
  await reader.read();
  ac.abort();
  await assert.rejects(async () => {
    for (;;) if ((await reader.read()).done) break;
  });
  const pre = new AbortController();
  pre.abort();
  await assert.rejects(c.getTcpPort(4000).fetch('http://container/health/liveliness', { signal: pre.signal }), /abort/i);
  // the container survived the aborted requests
  assert.equal((await c.getTcpPort(4000).fetch('http://container/health/liveliness')).status, 200);
  await c.destroy();
});

test('spawn failure: monitor rejects, running goes false', async () => {
  const c = new LocalContainer({ id: 'c-enoent', startCommand: ['/nonexistent/start.sh'], baseEnv: { PATH: process.env.PATH }, log: () => {} });
  c.start();
  await assert.rejects(c.monitor(), /failed to start.*ENOENT/);
  assert.equal(c.running, false);
  await assert.rejects(c.getTcpPort(4000).fetch('http://container/'), /connection/);
  assert.throws(() => c.start({ toJs() {} }), /to_js/);
});

test('destroy right after start (before the spawn) never spawns', async () => {
  const c = fixtureContainer('c-early', `${TAG}-early`);
  c.start();
  await c.destroy();
  assert.equal(c.running, false);
  assert.equal(c.describe().pid, null);
});

for (const how of ['throw', 'sigterm', 'sigkill']) {
  test(`host dies (${how}): no orphans, the container's whole group is gone`, async () => {
    const tag = `${TAG}-host-${how}`;
    const host = new URL('./fixtures/host_dies.mjs', import.meta.url).pathname;
    const out = await new Promise((resolve) => {
      execFile(process.execPath, [host, tag, how], (err, stdout) => resolve(stdout));
    });
    assert.match(out, /ready/);
    for (let i = 0; i < 60 && pgrep(tag).length > 0; i++) await sleep(50);
    assert.deepEqual(pgrep(tag), [], 'gone within 3 s');
  });
}

test('upload: an erroring body stream ends the upload cleanly (as workerd); the upstream answers', async () => {
  const c = fixtureContainer('c-upload', TAG);
  c.start();
  await waitReady(c);
  const port = c.getTcpPort(4000);
  let sent = 0;
  const failing = new ReadableStream({
    pull(ctrl) {
      if (sent++ === 0) return ctrl.enqueue(new TextEncoder().encode('{"partial": '));
      ctrl.error(new Error('over the limit'));
    },
  });
  const r = await port.fetch('http://container/record', { method: 'POST', body: failing, duplex: 'half' });
  assert.equal(r.status, 200, 'no rejection: workerd sends the truncated body as complete');
  assert.deepEqual(await r.json(), { bytes: 12, body: '{"partial": ', complete: true });

  // With a Content-Length it cannot end cleanly: the connection closes and the fetch fails.
  const short = new ReadableStream({
    pull(ctrl) {
      ctrl.enqueue(new TextEncoder().encode('abc'));
      ctrl.error(new Error('boom'));
    },
  });
  await assert.rejects(port.fetch('http://container/record', { method: 'POST', body: short, duplex: 'half', headers: { 'content-length': '10' } }));
  await c.destroy();
});

test('upload: the AbortSignal aborts it: no final chunk reaches the upstream, the fetch rejects with AbortError', async () => {
  const c = fixtureContainer('c-abort-upload', TAG);
  c.start();
  await waitReady(c);
  const port = c.getTcpPort(4000);
  const ac = new AbortController();
  let pulls = 0;
  const slow = new ReadableStream({
    async pull(ctrl) {
      if (pulls++ === 2) ac.abort();
      await sleep(20);
      ctrl.enqueue(new TextEncoder().encode('chunk;'));
    },
  });
  const t0 = Date.now();
  await assert.rejects(
    port.fetch('http://container/record', { method: 'POST', body: slow, duplex: 'half', signal: ac.signal }),
    (err) => err.name === 'AbortError',
  );
  assert.ok(Date.now() - t0 < 1000, 'rejected at once');
  await sleep(100);
  const records = await (await port.fetch('http://container/records')).json();
  const last = records.at(-1);
  assert.equal(last.complete, false, 'the upstream saw the connection close mid-body');
  assert.ok(last.bytes > 0 && last.bytes < 50, JSON.stringify(last));
  await c.destroy();
});

test('no orphan fixture processes after stopAllContainers', async () => {
  await stopAllContainers();
  await sleep(50);
  assert.deepEqual(pgrep(TAG), []);
  assert.ok(FIXTURE.endsWith('server.mjs'));
});
