// Workers Static Assets in the local runtime (assets.mjs): what workerd does with wrangler.jsonc `assets`
// (FIELD-NOTES §8), first on a fixture folder behind the front door, then the project's own config and console.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { loadAssets, workerFirstMatcher } from '../assets.mjs';
import { loadProject } from '../config.mjs';
import { startHttpServer } from '../http_server.mjs';
import { rawRequest } from './helpers.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = fileURLToPath(new URL('../cli.mjs', import.meta.url));
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
  + "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const dir = mkdtempSync(path.join(os.tmpdir(), 'assets-'));
const files = {
  'public/ui/index.html': '<!doctype html><title>console</title>',
  'public/ui/app.js': 'export const x = 1;\n',
  'public/ui/deep/page.html': '<p>deep</p>',
  'public/health': 'a file the Worker path must never be shadowed by',
  'public/plain.txt': 'plain',
  'public/v1/open': 'excluded from run_worker_first by `!/v1/open`',
  'public/_headers': [
    '# comment', '/ui/*', '  X-Frame-Options: DENY', '  X-Multi: one', '/ui/*.js', '  X-Multi: two',
    '  ! Cache-Control', '/files/:name/*', '  X-Echo: :name-:splat', '/broken', '  not a header line',
  ].join('\n'),
  'secret.txt': 'outside the assets directory',
};
for (const [name, text] of Object.entries(files)) {
  mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
  writeFileSync(path.join(dir, name), text);
}
const assets = loadAssets({ root: dir, raw: { assets: { directory: './public', binding: 'ASSETS', run_worker_first: ['/health', '/v1/*', '!/v1/open'] } } });
const srv = await startHttpServer({ port: 0, assets, handler: async () => new Response('worker', { headers: { 'x-from': 'worker' } }) });
after(async () => {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});
const get = (p, headers = {}, method = 'GET') => rawRequest({ port: srv.port, path: p, headers, method });

test('a folder index at its trailing slash, with type, ETag, Cache-Control and the _headers rules', async () => {
  const r = await get('/ui/');
  assert.equal(r.status, 200);
  assert.equal(r.body, files['public/ui/index.html']);
  assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
  assert.match(r.headers.etag, /^"[0-9a-f]{32}"$/);
  assert.equal(r.headers['cache-control'], 'public, max-age=0, must-revalidate');
  assert.equal(r.headers['x-frame-options'], 'DENY');
  assert.equal(r.headers['x-multi'], 'one');
  assert.equal(r.headers['x-from'], undefined, 'the Worker was not invoked');

  const js = await get('/ui/app.js');
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(js.headers['x-multi'], 'one, two', 'later rules append to a header an earlier one set');
  assert.equal(js.headers['cache-control'], undefined, '`! Name` removes a header');
  assert.notEqual(js.headers.etag, r.headers.etag);
});

test('307 to the canonical path (query kept); html files without their extension', async () => {
  for (const [from, to] of [['/ui', '/ui/'], ['/ui/index.html', '/ui/'], ['/ui/index', '/ui/'], ['/ui?x=1', '/ui/?x=1'],
    ['/ui/deep/page.html', '/ui/deep/page'], ['/ui/deep/page/', '/ui/deep/page'], ['/%75i/app.js', '/ui/app.js']]) {
    const r = await get(from);
    assert.equal(r.status, 307, from);
    assert.equal(r.headers.location, to, from);
  }
  assert.equal((await get('/ui/deep/page')).body, '<p>deep</p>');
  assert.equal((await get('/ui')).headers['x-frame-options'], undefined, '_headers match the request path: /ui is not /ui/*');
});

test('If-None-Match answers 304 with the headers and no body; credentials drop Cache-Control; HEAD has no body', async () => {
  const { etag } = (await get('/ui/app.js')).headers;
  for (const tag of [etag, `W/${etag}`]) {
    const r = await get('/ui/app.js', { 'if-none-match': tag });
    assert.equal(r.status, 304, tag);
    assert.equal(r.body, '');
    assert.equal(r.headers.etag, etag);
    assert.equal(r.headers['x-frame-options'], 'DENY');
  }
  assert.equal((await get('/ui/app.js', { 'if-none-match': '"other"' })).status, 200);
  assert.equal((await get('/ui/', { authorization: 'Bearer x' })).headers['cache-control'], undefined);
  const head = await get('/ui/', {}, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal(head.headers['content-length'], String(files['public/ui/index.html'].length));
});

test('the Worker answers run_worker_first paths, paths with no file, and never sees a file outside the folder', async () => {
  for (const p of ['/health', '/v1/models', '/nothing', '/ui/missing.js', '/_headers', '/ui/..%2f_headers',
    '/..%2fsecret.txt', '/%2e%2e/secret.txt', '/ui/%5c..%5c..%5csecret.txt']) {
    const r = await get(p);
    assert.equal(r.headers['x-from'], 'worker', p);
  }
  assert.equal((await get('/plain.txt')).body, 'plain', 'assets first where no rule says otherwise');
  assert.equal((await get('/v1/open')).body, files['public/v1/open']);
  assert.equal((await get('/ui/missing', {}, 'POST')).body, 'worker');
  const post = await get('/ui/', {}, 'POST');
  assert.equal(post.status, 405, 'a file answers only GET and HEAD');
  assert.equal(post.headers['x-from'], undefined);
});

test('_headers placeholders and splats; the ASSETS binding serves files whatever run_worker_first says', async () => {
  mkdirSync(path.join(dir, 'public/files/report'), { recursive: true });
  writeFileSync(path.join(dir, 'public/files/report/a.txt'), 'a');
  assert.equal((await get('/files/report/a.txt')).headers['x-echo'], 'report-a.txt');
  const bound = await assets.fetch(`http://localhost:${srv.port}/health`);
  assert.equal(await bound.text(), files['public/health']);
  assert.equal((await assets.fetch(new Request('http://localhost/nothing'))).status, 404);
});

test('only the html_handling and not_found_handling the runtime implements are accepted', () => {
  for (const extra of [{ html_handling: 'none' }, { not_found_handling: 'single-page-application' }]) {
    assert.throws(() => loadAssets({ root: dir, raw: { assets: { directory: './public', ...extra } } }), /implements/);
  }
  assert.equal(loadAssets({ root: dir, raw: {} }), null);
});

test("wrangler.jsonc: every path the Worker routes is in run_worker_first, the console's is not", () => {
  const script = 'import json, sys; sys.path.insert(0, "worker"); from rules import routing; from keys import admin; '
    + 'print(json.dumps({"api": routing.FORWARDED_API_PATHS, "admin": list(admin.ROUTES)}))';
  const routes = JSON.parse(execFileSync(path.join(ROOT, '.venv/bin/python'), ['-c', script], { cwd: ROOT, encoding: 'utf8' }));
  const worker = ['/', '/health', '/key/sk-abc/regenerate', '/spend/logs', '/openai/deployments/m/chat/completions',
    ...routes.admin, ...routes.api.flatMap((p) => [p, `${p}/`, `${p}/x`, `/v1${p}`, `/v1${p}/x`])];
  const first = workerFirstMatcher(loadProject(ROOT).raw.assets.run_worker_first);
  assert.deepEqual(worker.filter((p) => !first(p)), [], 'paths a file under public/ could shadow');
  assert.deepEqual(['/ui', '/ui/', '/ui/app.js'].filter(first), []);
});

test("the console: uPlot is the locked package's own build, and everything under public/ gzips to < 150 KB", () => {
  for (const file of ['uPlot.iife.min.js', 'uPlot.min.css']) {
    assert.ok(readFileSync(path.join(ROOT, 'public/ui/vendor', file)).equals(readFileSync(path.join(ROOT, 'node_modules/uplot/dist', file))),
      `public/ui/vendor/${file} differs from node_modules/uplot: npm run ui:vendor`);
  }
  const gzipped = readdirSync(path.join(ROOT, 'public'), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .reduce((sum, entry) => sum + gzipSync(readFileSync(path.join(entry.parentPath ?? entry.path, entry.name))).length, 0);
  assert.ok(gzipped < 150 * 1024, `${gzipped} bytes gzipped`);
});

test('the real runtime serves public/ui with the console headers, and API paths still reach the Worker', async () => {
  const child = spawn(process.execPath, [CLI, '--port', '0', '--no-containers'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk) => {
        out += chunk;
        const ready = /Ready on http:\/\/[^:]+:(\d+)/.exec(out);
        if (ready) resolve(Number(ready[1]));
      });
      child.once('exit', (code) => reject(new Error(`runtime exited ${code}: ${out}`)));
    });
    const ui = await rawRequest({ port, path: '/ui/' });
    assert.equal(ui.status, 200);
    assert.equal(ui.body, readFileSync(path.join(ROOT, 'public/ui/index.html'), 'utf8'));
    assert.equal(ui.headers['content-security-policy'], CSP);
    assert.equal(ui.headers['x-frame-options'], 'DENY');
    assert.equal(ui.headers['referrer-policy'], 'no-referrer');
    assert.equal(ui.headers['x-content-type-options'], 'nosniff');
    assert.equal(ui.headers['x-request-id'], undefined, 'served without invoking the Worker');
    assert.equal((await rawRequest({ port, path: '/ui' })).headers.location, '/ui/');
    const health = await rawRequest({ port, path: '/health' });
    assert.equal(JSON.parse(health.body).service, 'litellm-router');
    assert.equal((await rawRequest({ port, path: '/key/list' })).status, 401, 'the key API is the Worker\'s, key first');
    assert.equal((await rawRequest({ port, path: '/_headers' })).status, 404);
  } finally {
    child.kill('SIGTERM');
  }
});
