// Durable Object RPC (local/rpc.mjs): the stub's wildcard methods, structured clone both ways, errors across,
// and Python objects called by RPC from the Worker and from another object (fixtures/rpc_worker).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import test from 'node:test';
import { DurableObjectNamespace, callSummary } from '../durable_objects.mjs';
import { loadWorker } from '../pyodide_host.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;
const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} };

/** A namespace of JS objects: `call` runs the named method of `methods`, as a JS Durable Object would. */
function jsNamespace(className, methods) {
  return new DurableObjectNamespace({
    className, env: {}, log: () => {},
    createInstance: () => ({
      fetch: async () => new Response('fetched'),
      call: async (method, args) => {
        if (typeof methods[method] !== 'function') throw new TypeError(`Method ${method} does not exist`);
        return methods[method](...args);
      },
    }),
  });
}

test('a stub answers any method name, is not thenable, and keeps fetch, id and constructor.name', async () => {
  const kept = [];
  const stub = jsNamespace('Echo', { echo: (x) => x, keep: (x) => kept.push(x) }).getByName('a');
  assert.equal(typeof stub.anything, 'function');
  assert.equal(stub.then, undefined);
  assert.equal(await stub, stub); // awaiting a stub does not call a remote `then`
  assert.equal(stub.constructor.name, 'DurableObject');
  assert.equal(stub.name, 'a');
  assert.equal(await (await stub.fetch('http://do/')).text(), 'fetched');
  assert.deepEqual(await stub.echo({ a: [1, null, { b: true }] }), { a: [1, null, { b: true }] });
});

test('arguments are cloned at the call and results on return; non-cloneables fail with DataCloneError', async () => {
  const state = { list: [1] };
  const stub = jsNamespace('Clones', { give: () => state, take: (x) => { state.taken = x; } }).getByName('a');
  const got = await stub.give();
  got.list.push(2);
  assert.deepEqual(state.list, [1], "the caller's copy is its own");
  const arg = { n: 1 };
  const pending = stub.take(arg);
  arg.n = 2;
  await pending;
  assert.deepEqual(state.taken, { n: 1 }, 'a change after the call is not seen');
  assert.throws(() => stub.take(() => {}), { name: 'DataCloneError' });
  assert.throws(() => stub.take(new WeakMap()), { name: 'DataCloneError' });
  const bad = jsNamespace('Bad', { give: () => new WeakMap() }).getByName('a');
  await assert.rejects(bad.give(), { name: 'DataCloneError' });
});

test('errors cross as a fresh Error of their kind, message kept; reserved and unknown names refused', async () => {
  class PythonError extends Error {
    name = 'PythonError';
  }
  const stub = jsNamespace('Errors', {
    type: () => { throw new TypeError('bad type'); },
    python: () => { throw new PythonError('Traceback ...\nValueError: boom'); },
  }).getByName('a');
  await assert.rejects(stub.type(), (err) => err.constructor === TypeError && err.message === 'bad type');
  await assert.rejects(stub.python(), (err) => err.constructor === Error && err.message.endsWith('ValueError: boom'));
  await assert.rejects(stub.nope(), { name: 'TypeError', message: 'Method nope does not exist' });
  for (const name of ['alarm', 'connect', 'dup', 'webSocketMessage']) {
    const message = `'${name}' is a reserved method and cannot be called over RPC.`;
    await assert.rejects(stub[name](), { name: 'TypeError', message });
  }
  const fetchOnly = new DurableObjectNamespace({
    className: 'FetchOnly', env: {}, log: () => {}, createInstance: () => ({ fetch: async () => new Response('') }),
  });
  await assert.rejects(fetchOnly.getByName('a').ping(), {
    name: 'TypeError', message: 'The RPC receiver does not implement the method "ping".',
  });
});

test('a Request argument and a Response result move their body streams', async () => {
  const stub = jsNamespace('Http', {
    answer: async (request) => new Response(`got ${await request.text()}`, { status: 202, headers: { 'x-a': '1' } }),
  }).getByName('a');
  const response = await stub.answer(new Request('http://do/', { method: 'POST', body: 'hi' }));
  assert.equal(response.status, 202);
  assert.equal(response.headers.get('x-a'), '1');
  assert.equal(await response.text(), 'got hi');
});

test('RPC calls count as calls to the object, like fetches, and apart', async () => {
  const stub = jsNamespace('Counted', { ping: () => 'pong' }).getByName('a');
  await stub.ping();
  await stub.fetch('http://do/');
  assert.deepEqual(callSummary().Counted, { objects: 1, calls: 2, rpc: 1 });
});

const env = {};
const main = 'local/test/fixtures/rpc_worker/entry.py';
const worker = await loadWorker({ root: ROOT, main, env, waitUntil() {}, log: () => {} });
env.COUNTER = new DurableObjectNamespace({
  className: 'Counter', env, log: () => {},
  createInstance: (state, doEnv) => worker.durableObjectFactory('Counter')(state, doEnv),
});

async function get(path) {
  const response = await worker.fetch(new Request(`http://worker${path}`), env, ctx);
  assert.equal(response.status, 200);
  return response.json();
}

const PAYLOAD = {
  none: null, big: 2 ** 40, neg: -7, half: 0.5, yes: true, no: false,
  list: [1, 'two', null, [3]], nested: { a: { b: { c: [true, null] } } }, text: 'héllo',
};

/** What every caller (Worker or object, SDK stub or raw stub) must have seen. */
function assertCalls(seen) {
  assert.deepEqual(seen.sdk_echo, PAYLOAD, 'SDK stub: dict in, dict out');
  assert.equal(seen.sdk_echo_is_dict, true);
  assert.deepEqual(seen.raw_echo, PAYLOAD, 'raw JS stub: the same values');
  assert.equal(seen.raw_echo_type, 'Object', 'SDK 1.9.5 answers a plain JS object on a raw stub (not a Map)');
  assert.deepEqual(seen.seen, { type: 'JsDict', none_is_none: true, nested_none_is_none: true, big: true });
  assert.equal(seen.sync, 42, 'a plain def is an RPC method too');
  assert.equal(seen.none, null);
  assert.deepEqual(seen.raw_answer, [201, 'answered ping', 'Response']);
  assert.deepEqual(seen.sdk_answer, [201, 'answered pong']);
  for (const key of ['error', 'raw_error']) {
    assert.match(seen[key], /^Error: Traceback \(most recent call last\):\n/, 'the callee\'s traceback, as a JS Error');
    assert.match(seen[key], /raise ValueError\(message\)\nValueError: boom\n$/);
  }
  assert.equal(seen.unknown, 'TypeError: Method nope does not exist');
  assert.equal(seen.private, 'TypeError: Method _secret does not exist');
  assert.equal(seen.sdk_private, 'TypeError: Method _secret does not exist');
  assert.equal(seen.attribute, 'TypeError: Method count does not exist', 'an attribute that is not callable');
  assert.equal(seen.reserved, "TypeError: 'alarm' is a reserved method and cannot be called over RPC.");
  assert.match(seen.uncloneable_result, /^DataCloneError: Could not serialize object of type "object"/);
  assert.match(seen.uncloneable_arg, /^DataCloneError: /);
  assert.equal(seen.fetch, 'fetched http://do/hello', 'stub.fetch still works');
  assert.equal(seen.sdk_fetch, 'fetched http://do/again');
}

test('Python: the Worker calls a Durable Object by RPC through the SDK and the raw JS binding', async () => {
  assertCalls(await get('/worker'));
});

test('Python: a Durable Object calls another one by RPC', async () => {
  assertCalls(await get('/do'));
});

test('Python: concurrent calls reach the one instance in call order and interleave (no input gate here)', async () => {
  const answers = await get('/concurrent');
  assert.deepEqual(answers.map((a) => a.i), [0, 1, 2, 3, 4]);
  for (const answer of answers) {
    assert.deepEqual(answer.started, [0, 1, 2, 3, 4], 'every call started before the first one finished');
    assert.equal(answer.count, 5, 'one instance served them all');
  }
});

const FLOOR = 'the CLI serves another project (--project): the RPC floor of the bench, one SQLite row per call';
test(FLOOR, { timeout: 30_000 }, async (t) => {
  const cli = new URL('../cli.mjs', import.meta.url).pathname;
  const child = spawn(process.execPath, [cli, '--project', `${ROOT}bench/floors/rpc`, '--port', '0', '--control',
    '--no-containers'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.setEncoding('utf8');
  while (!/Ready on (\S+)/.test(out)) out += (await once(child.stdout, 'data'))[0];
  const base = /Ready on (\S+)/.exec(out)[1];
  for (const path of ['/v1/chat/completions', '/other']) {
    assert.deepEqual(await (await fetch(`${base}${path}`, { method: 'POST', body: '{}' })).json(), { booked: 1 });
  }
  assert.deepEqual(await (await fetch(`${base}/bare`, { method: 'POST', body: '{}' })).json(), { booked: 0 });
  assert.deepEqual((await (await fetch(`${base}/__local/calls`)).json()).Ledger, { objects: 1, calls: 2, rpc: 2 });
  assert.equal((await (await fetch(`${base}/__local/storage`)).json()).Ledger.objects, 1);
});
