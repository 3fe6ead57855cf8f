// Cron Triggers fired like `wrangler dev --test-scheduled`, into a real Python worker in Pyodide.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadWorker } from '../pyodide_host.mjs';
import { startHttpServer } from '../http_server.mjs';
import { createScheduledTrigger, SCHEDULED_PATH } from '../scheduled.mjs';
import { rawRequest } from './helpers.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const env = { MARK: 'from-env' };
const logs = [];
const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} };
const worker = await loadWorker({ root: ROOT, main: 'local/test/fixtures/cron_worker/entry.py', env, waitUntil() {}, log: () => {} });
const trigger = createScheduledTrigger({
  crons: ['0 7 * * 1-5', '*/5 * * * *'],
  log: (l) => logs.push(l),
  fire: (controller) => worker.scheduled(controller, env, ctx),
});
const srv = await startHttpServer({ port: 0, control: trigger, handler: (req) => worker.fetch(req, env, ctx) });
after(() => srv.close());

const fired = async () => JSON.parse((await rawRequest({ port: srv.port, path: '/' })).body);

test('GET /cdn-cgi/handler/scheduled runs scheduled(controller, None, None) on the entrypoint', async () => {
  const r = await rawRequest({ port: srv.port, path: `${SCHEDULED_PATH}?cron=*+*+*+*+*&time=1745856238` });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'Ran scheduled event');
  assert.deepEqual((await fired()).at(-1), {
    cron: '* * * * *',
    scheduled_time: 1745856238000,
    env_is_none: true,
    ctx_is_none: true,
    mark: 'from-env',
  });
  const t0 = Date.now();
  assert.equal((await rawRequest({ port: srv.port, path: SCHEDULED_PATH })).status, 200);
  const last = (await fired()).at(-1);
  assert.equal(last.cron, '0 7 * * 1-5', 'no cron named: the first of triggers.crons');
  assert.ok(Math.abs(last.scheduled_time - t0) < 5000);
});

test('a failing scheduled() answers 500 and logs one line, no traceback', async () => {
  const r = await rawRequest({ port: srv.port, path: `${SCHEDULED_PATH}?cron=fail` });
  assert.equal(r.status, 500);
  assert.equal(logs.at(-1).cron, 'fail');
  assert.equal(logs.at(-1).error, 'RuntimeError: scheduled boom');
  assert.equal((await rawRequest({ port: srv.port, path: SCHEDULED_PATH, method: 'POST' })).status, 405);
});

test('without the trigger the path is just a request to the worker', async () => {
  const plain = await startHttpServer({ port: 0, handler: (req) => worker.fetch(req, env, ctx) });
  const before = (await fired()).length;
  const r = await rawRequest({ port: plain.port, path: `${SCHEDULED_PATH}?cron=x` });
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.body).length, before, 'scheduled() did not run');
  await plain.close();
});
