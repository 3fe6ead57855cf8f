import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DurableObjectNamespace,
  DurableObjectId,
  DurableObjectStorage,
  listInstances,
} from '../durable_objects.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function makeNs(className, { construct = async () => {}, fetch, alarm, containerFactory } = {}) {
  const made = [];
  const ns = new DurableObjectNamespace({
    className,
    env: { K: 'v' },
    containerFactory,
    log: () => {},
    createInstance: async (state, env) => {
      await construct(state, env);
      const inst = {
        state,
        env,
        fetch: fetch ? (req) => fetch(req, inst) : async (req) => new Response(`${req.method} ${new URL(req.url).pathname} #${made.length}`),
        ...(alarm ? { alarm: (info) => alarm(info, inst) } : {}),
      };
      made.push(inst);
      return inst;
    },
  });
  return { ns, made };
}

test('class names the Python SDK looks for', () => {
  const { ns } = makeNs('Names');
  assert.equal(ns.constructor.name, 'DurableObjectNamespace');
  const id = ns.idFromName('a');
  assert.equal(id.constructor.name, 'DurableObjectId');
  assert.equal(ns.get(id).constructor.name, 'DurableObject');
  assert.equal(new DurableObjectStorage().constructor.name, 'DurableObjectStorage');
});

test('ids: deterministic from names, per class', () => {
  const { ns } = makeNs('Ids');
  const { ns: other } = makeNs('OtherIds');
  const a1 = ns.idFromName('alpha');
  const a2 = ns.idFromName('alpha');
  assert.match(a1.toString(), /^[0-9a-f]{64}$/);
  assert.equal(a1.toString(), a2.toString());
  assert.ok(a1.equals(a2));
  assert.equal(a1.name, 'alpha');
  assert.ok(!a1.equals(ns.idFromName('beta')));
  assert.notEqual(other.idFromName('alpha').toString(), a1.toString());
  assert.ok(a1 instanceof DurableObjectId);
  assert.throws(() => ns.get('not-an-id'), TypeError);
  assert.throws(() => ns.idFromName(1), TypeError);
  assert.equal(ns.getByName('alpha').name, 'alpha');
});

test('one instance per id; concurrent first use constructs once', async () => {
  let constructions = 0;
  const { ns, made } = makeNs('Once', {
    construct: async () => {
      constructions++;
      await sleep(30);
    },
  });
  const stub = ns.getByName('x');
  const bodies = await Promise.all(Array.from({ length: 10 }, () => stub.fetch('http://do/p').then((r) => r.text())));
  assert.equal(constructions, 1);
  assert.ok(bodies.every((b) => b === 'GET /p #1'));
  await ns.get(ns.idFromName('x')).fetch('http://do/q', {}); // a new stub, same id
  assert.equal(constructions, 1);
  await ns.getByName('y').fetch('http://do/');
  assert.equal(constructions, 2);
  assert.equal(made[0].env.K, 'v');
  const inst = listInstances().filter((i) => i.className === 'Once');
  assert.deepEqual(inst.map((i) => i.name).sort(), ['x', 'y']);
});

test('constructor failure is not cached; fetch errors reach the caller', async () => {
  let fail = true;
  const { ns } = makeNs('Fails', {
    construct: async () => {
      if (fail) throw new Error('ctor boom');
    },
    fetch: async (req) => {
      if (req.url.endsWith('/throw')) throw new Error('fetch boom');
      return new Response('fine');
    },
  });
  const stub = ns.getByName('f');
  await assert.rejects(stub.fetch('http://do/'), /ctor boom/);
  fail = false;
  assert.equal(await (await stub.fetch('http://do/')).text(), 'fine');
  await assert.rejects(stub.fetch('http://do/throw'), /fetch boom/);
});

test('stub.fetch streams request and response bodies', async () => {
  const { ns } = makeNs('Streams', {
    fetch: async (req) => {
      const got = { method: req.method, url: req.url, ct: req.headers.get('content-type'), body: await req.text() };
      let i = 0;
      const body = new ReadableStream({
        async pull(ctrl) {
          if (i === 0) ctrl.enqueue(new TextEncoder().encode(JSON.stringify(got) + '\n'));
          else if (i < 4) {
            await sleep(60);
            ctrl.enqueue(new TextEncoder().encode(`chunk ${i}\n`));
          } else ctrl.close();
          i++;
        },
      });
      return new Response(body, { headers: { 'content-type': 'text/plain' } });
    },
  });
  const reqBody = new ReadableStream({
    start(ctrl) {
      ctrl.enqueue(new TextEncoder().encode('hello '));
      ctrl.enqueue(new TextEncoder().encode('world'));
      ctrl.close();
    },
  });
  const t0 = performance.now();
  const r = await ns.getByName('s').fetch('http://do/v1/x?y=1', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: reqBody });
  const reader = r.body.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  const firstAt = performance.now() - t0;
  assert.deepEqual(JSON.parse(first), { method: 'POST', url: 'http://do/v1/x?y=1', ct: 'text/plain', body: 'hello world' });
  assert.ok(firstAt < 50, `first chunk after ${firstAt} ms: not buffered`);
  while (!(await reader.read()).done);
  assert.ok(performance.now() - t0 >= 150);

});

test('ctx.container: undefined (never null, property readable) unless the factory gives one', async () => {
  const fake = { running: false };
  const { ns: without, made: m1 } = makeNs('NoContainer', { containerFactory: () => undefined });
  const { ns: withC, made: m2 } = makeNs('WithContainer', { containerFactory: (idStr) => (fake.idStr = idStr, fake) });
  await without.getByName('a').fetch('http://do/');
  await withC.getByName('a').fetch('http://do/');
  assert.equal(m1[0].state.container, undefined);
  assert.ok('container' in m1[0].state);
  assert.equal(m2[0].state.container, fake);
  assert.equal(fake.idStr, withC.idFromName('a').toString());
  assert.ok(m2[0].state.storage instanceof DurableObjectStorage);
  assert.ok(m2[0].state.id.equals(withC.idFromName('a')));
});

test('storage: get/put/delete with structured clones', async () => {
  const s = new DurableObjectStorage();
  const v = { n: 1, nested: { a: [1, 2] }, d: new Date(0) };
  await s.put('k', v);
  v.n = 2;
  const got = await s.get('k');
  assert.deepEqual(got, { n: 1, nested: { a: [1, 2] }, d: new Date(0) });
  got.nested.a.push(3);
  assert.deepEqual((await s.get('k')).nested.a, [1, 2]);
  assert.equal(await s.get('missing'), undefined);
  await s.put({ b: 'B', a: 'A', c: 3 });
  const many = await s.get(['c', 'a', 'zz']);
  assert.ok(many instanceof Map);
  assert.deepEqual([...many], [['a', 'A'], ['c', 3]]);
  await assert.rejects(s.put('f', () => {}), /could not be cloned/);
  await assert.rejects(s.put({ ok: 1, bad: () => {} }));
  assert.equal(await s.get('ok'), undefined, 'a failed multi-put changes nothing');
  assert.equal(await s.delete('a'), true);
  assert.equal(await s.delete('a'), false);
  assert.equal(await s.delete(['b', 'c', 'nope']), 2);
  assert.deepEqual([...(await s.get(['a', 'b', 'c', 'k']))].map(([k]) => k), ['k']);
  await assert.rejects(s.get(1), TypeError);
});

test('alarms fire, can re-arm from alarm(), retry once on failure', async () => {
  const fired = [];
  const { ns } = makeNs('Alarms', {
    fetch: async (req, inst) => {
      await inst.state.storage.setAlarm(Date.now() + 30);
      return new Response('armed');
    },
    alarm: async (info, inst) => {
      fired.push({ at: Date.now(), retry: info.retryCount });
      if (fired.length === 1) await inst.state.storage.setAlarm(new Date(Date.now() + 30));
      if (fired.length === 2) throw new Error('alarm boom');
    },
  });
  await ns.getByName('a').fetch('http://do/');
  const t0 = Date.now();
  await sleep(1300);
  assert.equal(fired.length, 3, JSON.stringify(fired));
  assert.deepEqual(fired.map((f) => f.retry), [0, 0, 1]);
  assert.ok(fired[2].at - fired[1].at >= 900, 'retry after ~1 s');
  assert.ok(fired[0].at - t0 < 200);
  await assert.rejects(new DurableObjectStorage().setAlarm('soon'), TypeError);
});
