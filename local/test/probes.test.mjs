// The control API's probes into what only a deployment would show: memory an isolate would hold (memory.mjs),
// Durable Object storage left behind (durable_objects.mjs) and what workerd logs as uncaught (uncaught.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { containerFetch } from '../container_fetch.mjs';
import { createControl } from '../control.mjs';
import { DurableObjectNamespace, listInstances, storageSummary } from '../durable_objects.mjs';
import { startHttpServer } from '../http_server.mjs';
import { createMemoryMeter } from '../memory.mjs';
import { loadWorker } from '../pyodide_host.mjs';
import { uncaughtSummary } from '../uncaught.mjs';
import { rawRequest } from './helpers.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const UNCAUGHT_MJS = fileURLToPath(new URL('../uncaught.mjs', import.meta.url));
const MIB = 1024 * 1024;
const UNREAD = "Uncaught TypeError: Can't read from request stream after response has been sent.";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const noContainers = { listContainers: () => [], killContainer: () => false, listInstances };

async function getJson(port, p, method = 'GET') {
  const r = await rawRequest({ port, path: p, method });
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body);
}

/** How many uncaught errors were reported after `before`, once `settleMs` passed with no more coming. */
async function reportedSince(before, settleMs = 60) {
  await sleep(settleMs); // the server reports after its response is out: the client may see it first
  return uncaughtSummary().count - before;
}

test('memory: peaks from a baseline on; a buffer the worker holds moves them, Python grows the Wasm memory for good', async () => {
  const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} };
  const main = 'local/test/fixtures/memory_worker/entry.py';
  const worker = await loadWorker({ root: ROOT, main, env: {}, waitUntil() {}, log: () => {} });
  const memory = createMemoryMeter({ wasmBytes: () => worker.wasmMemoryBytes() });
  const control = createControl({ ...noContainers, memory });
  const srv = await startHttpServer({ port: 0, control, memory, handler: (req) => worker.fetch(req, {}, ctx) });
  const hold = (what) => rawRequest({ port: srv.port, path: what });
  try {
    assert.equal((await getJson(srv.port, '/__local/memory')).peak, null, 'nothing is sampled before a baseline');
    const { baseline } = await getJson(srv.port, '/__local/memory/baseline', 'POST');
    assert.ok(baseline.wasm >= 16 * MIB, `Pyodide's Wasm memory: ${baseline.wasm}`);
    assert.equal(baseline.total, baseline.heapUsed + baseline.external, 'the Wasm memory is part of external');

    await hold('/buffer?mib=64');
    const held = await getJson(srv.port, '/__local/memory');
    assert.ok(held.peak.arrayBuffers - baseline.arrayBuffers >= 64 * MIB, JSON.stringify(held));
    assert.ok(held.peak.total - baseline.total >= 64 * MIB, JSON.stringify(held));
    assert.equal(held.peak.wasm, baseline.wasm, 'a JS buffer is not Wasm memory');
    await hold('/release');
    const freed = (await getJson(srv.port, '/__local/memory/baseline', 'POST')).baseline;
    assert.ok(freed.total - baseline.total < 16 * MIB, `released, then collected: ${JSON.stringify(freed)}`);

    await hold('/python?mib=48');
    const grown = (await getJson(srv.port, '/__local/memory')).peak.wasm;
    assert.ok(grown - freed.wasm >= 32 * MIB, `48 MiB in Python (some fit in free space): ${grown - freed.wasm}`);
    await hold('/release');
    const after = (await getJson(srv.port, '/__local/memory/baseline', 'POST')).baseline;
    assert.equal(after.wasm, grown, 'the Wasm memory never shrinks');
  } finally {
    await srv.close();
  }
});

/** A class whose objects store what the path says: /kv a key, /unkv drops it, /sql a table, / nothing. */
function storingNamespace(className, stateDir = null) {
  return new DurableObjectNamespace({
    className,
    env: {},
    stateDir,
    log: () => {},
    createInstance: (state) => ({
      async fetch(request) {
        const what = new URL(request.url).pathname;
        if (what === '/kv') await state.storage.put('k', { v: 1 });
        if (what === '/unkv') await state.storage.delete('k');
        if (what === '/sql') state.storage.sql.exec('CREATE TABLE IF NOT EXISTS t (v)');
        return new Response('ok');
      },
    }),
  });
}

test('storage: only objects holding a table or a key count, with their bytes; 1,000 that stored nothing do not', async () => {
  const ns = storingNamespace('StorageProbe');
  const ask = (name, what) => ns.getByName(name).fetch(`http://do${what}`);
  for (let i = 0; i < 1000; i++) await ask(`forged-${i}`, '/');
  assert.deepEqual(storageSummary().StorageProbe, { objects: 0, bytes: 0 });
  await ask('a', '/kv');
  await ask('b', '/sql');
  const held = storageSummary().StorageProbe;
  assert.equal(held.objects, 2);
  assert.ok(held.bytes >= 2 * 4096, `bytes: ${held.bytes}`);
  await ask('a', '/unkv');
  assert.equal(storageSummary().StorageProbe.objects, 1, 'an emptied object holds nothing');

  const srv = await startHttpServer({ port: 0, control: createControl({ ...noContainers, storageSummary }), handler: () => new Response('') });
  assert.deepEqual((await getJson(srv.port, '/__local/storage')).StorageProbe, storageSummary().StorageProbe);
  await srv.close();
});

test('storage: with a state folder, what an earlier run kept on disk counts too', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'do-storage-probe-'));
  try {
    const first = storingNamespace('KeptProbe', dir);
    await first.getByName('a').fetch('http://do/kv');
    await first.getByName('b').fetch('http://do/sql');
    await first.getByName('c').fetch('http://do/');
    assert.equal(storageSummary().KeptProbe.objects, 2);
    // A restart: a namespace of the same class with nothing open yet (the summary shows the newest one).
    const second = storingNamespace('KeptProbe', dir);
    assert.deepEqual(storageSummary().KeptProbe, { objects: 2, bytes: storageSummary().KeptProbe.bytes });
    assert.ok(storageSummary().KeptProbe.bytes > 0);
    await second.getByName('a').fetch('http://do/unkv');
    assert.equal(storageSummary().KeptProbe.objects, 1, 'open objects and files on disk, each counted once');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('uncaught: a client body a Durable Object answers without reading to its end is reported once the response is out', async () => {
  const ns = new DurableObjectNamespace({
    className: 'HopProbe',
    env: {},
    log: () => {},
    createInstance: () => ({
      async fetch(request) {
        const how = new URL(request.url).pathname;
        if (how === '/all') await request.arrayBuffer();
        if (how === '/some') {
          const reader = request.body.getReader();
          await reader.read();
          await reader.cancel(new Error('enough'));
        }
        if (how === '/cancel') await request.body.cancel(new Error('refused'));
        return new Response(how);
      },
    }),
  });
  const stub = ns.getByName('hop');
  const control = createControl({ ...noContainers, uncaughtSummary });
  const srv = await startHttpServer({
    port: 0,
    control,
    handler: async (request) =>
      new URL(request.url).search === '?bytes' // a body the Worker read and sends as bytes
        ? stub.fetch(new Request(request.url, { method: 'POST', body: await request.arrayBuffer() }))
        : stub.fetch(request),
  });
  try {
    for (const [how, reported] of [['/all', 0], ['/none', 1], ['/some', 1], ['/cancel', 1], ['/none?bytes', 0]]) {
      const before = uncaughtSummary().count;
      const r = await rawRequest({ port: srv.port, method: 'POST', path: how, body: 'x'.repeat(100) });
      assert.equal(r.status, 200);
      assert.equal(await reportedSince(before), reported, how);
    }
    const summary = await getJson(srv.port, '/__local/uncaught');
    assert.equal(summary.recent.at(-1), UNREAD);
    assert.equal(summary.count, uncaughtSummary().count);
  } finally {
    await srv.close();
  }
});

test('uncaught: an upload whose body stream errors is reported, as workerd logs it, aborted or not', async () => {
  const upstream = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const agent = new http.Agent({ keepAlive: false });
  const send = (body, signal) => containerFetch({
    hostPort: upstream.address().port, agent, input: 'http://container/up', label: 'probe',
    init: { method: 'POST', body, duplex: 'half', signal },
  });
  try {
    let before = uncaughtSummary().count;
    const clean = new ReadableStream({ pull: (c) => { c.enqueue(new Uint8Array(10)); c.close(); } });
    assert.equal((await send(clean)).status, 200);
    assert.equal(await reportedSince(before), 0, 'a body that ends is no error');

    before = uncaughtSummary().count;
    const failing = new ReadableStream({ start: (c) => { c.enqueue(new Uint8Array(10)); c.error(new Error('body broke')); } });
    assert.equal((await send(failing)).status, 200, 'ended as if complete, as workerd does');
    assert.equal(await reportedSince(before), 1);
    assert.equal(uncaughtSummary().recent.at(-1), 'Uncaught (in promise) Error: body broke');

    // What limited() in worker/streams.py did before: abort the fetch, then error its body.
    before = uncaughtSummary().count;
    const ac = new AbortController();
    let ctl;
    const stopped = new ReadableStream({ start: (c) => { ctl = c; c.enqueue(new Uint8Array(10)); } });
    const pending = send(stopped, ac.signal);
    await sleep(50);
    ac.abort();
    ctl.error(new Error('request body over the limit'));
    await assert.rejects(pending, { name: 'AbortError' });
    assert.equal(await reportedSince(before), 1);
    assert.equal(uncaughtSummary().recent.at(-1), 'Uncaught (in promise) Error: request body over the limit');
  } finally {
    agent.destroy();
    upstream.close();
  }
});

test('uncaught: unhandled rejections and thrown errors are logged and counted, and the process goes on', () => {
  const script = `
    import { installUncaughtHandlers, uncaughtSummary } from ${JSON.stringify(UNCAUGHT_MJS)};
    installUncaughtHandlers(() => {});
    Promise.reject(new Error('nobody waits'));
    setTimeout(() => { throw new TypeError('thrown out of a callback'); }, 0);
    setTimeout(() => console.log(JSON.stringify(uncaughtSummary())), 50);
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out), {
    count: 2,
    recent: ['Uncaught (in promise) Error: nobody waits', 'Uncaught TypeError: thrown out of a callback'],
  });
});
