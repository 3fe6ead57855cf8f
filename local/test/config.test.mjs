import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseJsonc, parseDotVars, loadProject, buildEnv, isSecretName, workerFacts } from '../config.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('parseJsonc: comments, trailing commas, // and /* inside strings', () => {
  const text = `{
    // line comment
    "url": "https://example.com/a//b", /* block */ "glob": "/* not a comment */",
    "esc": "quote \\" // still string",
    "arr": [1, 2, 3, /* c */ ],
    "obj": { "a": 1, },
  }`;
  assert.deepEqual(parseJsonc(text), {
    url: 'https://example.com/a//b',
    glob: '/* not a comment */',
    esc: 'quote " // still string',
    arr: [1, 2, 3],
    obj: { a: 1 },
  });
  assert.throws(() => parseJsonc('{"a": 1 /* open'), /unterminated/);
  assert.throws(() => parseJsonc('{"a": 1 1}'), SyntaxError);
});

test('parseDotVars: quotes, comments, export, blank lines, multi-line', () => {
  const text = [
    '# comment',
    '',
    'A=plain',
    'B = spaced value  # trailing comment',
    "C='single # kept $X'",
    'D="double \\"q\\" \\n nl"',
    'export E=exported',
    'F=abc#not-a-comment',
    'G="multi',
    'line"',
    'H=',
    'not a var line',
    'URL=http://x/y?a=b',
  ].join('\r\n');
  assert.deepEqual(parseDotVars(text), {
    A: 'plain',
    B: 'spaced value',
    C: 'single # kept $X',
    D: 'double "q" \n nl',
    E: 'exported',
    F: 'abc#not-a-comment',
    G: 'multi\nline',
    H: '',
    URL: 'http://x/y?a=b',
  });
});

test('isSecretName: the worker secrets and the container names given', () => {
  const containerNames = new Set(['OPENAI_API_KEY', 'REDIS_HOST']);
  const secrets = new Set(['LITELLM_MASTER_KEY', 'KEY_MARK_SECRET']);
  for (const n of ['LITELLM_MASTER_KEY', 'KEY_MARK_SECRET', 'OPENAI_API_KEY', 'REDIS_HOST']) {
    assert.equal(isSecretName(n, containerNames, secrets), true, n);
  }
  for (const n of ['PATH', 'HOME', 'COHERE_API_KEY', 'REDIS_URL']) assert.equal(isSecretName(n, containerNames, secrets), false, n);
  assert.equal(isSecretName('OPENAI_API_KEY'), false, 'only names the worker passes on');
});

test('workerFacts asks the worker\'s own Python for its env names and secrets', () => {
  const facts = workerFacts(path.join(ROOT, 'worker'));
  for (const n of ['OPENAI_API_KEY', 'AZURE_API_VERSION', 'LITELLM_LOG', 'LITELLM_NUM_WORKERS']) assert.ok(facts.containerEnvNames.includes(n), n);
  for (const n of ['LITELLM_MASTER_KEY', 'KEY_MARK_SECRET', 'LITELLM_UPSTREAM_URL']) assert.ok(facts.secrets.includes(n), n);

  const dir = mkdtempSync(path.join(tmpdir(), 'names-'));
  writeFileSync(path.join(dir, 'settings.py'), 'NAMES = ("A_KEY",)\nCONTAINER_ENV_NAMES = NAMES + ("B_VAR",)  # computed: a regex could not\n');
  assert.deepEqual(workerFacts(dir), { containerEnvNames: ['A_KEY', 'B_VAR'], secrets: [] });
  assert.throws(() => workerFacts(mkdtempSync(path.join(tmpdir(), 'none-'))), /could not ask/);
});

test('the real project: names the worker passes on reach its env from the shell', () => {
  const project = loadProject(ROOT);
  const env = buildEnv(project, {
    processEnv: { AZURE_API_VERSION: '2024-10-21', LITELLM_LOG: 'DEBUG', LITELLM_NUM_WORKERS: '2', SHELL_ONLY: 'x' },
  });
  assert.equal(env.AZURE_API_VERSION, '2024-10-21');
  assert.equal(env.LITELLM_LOG, 'DEBUG');
  assert.equal(env.LITELLM_NUM_WORKERS, '2');
  assert.equal(env.SHELL_ONLY, undefined);
});

test('loadProject reads wrangler.jsonc', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'proj-'));
  writeFileSync(
    path.join(dir, 'wrangler.jsonc'),
    `{
      // comment
      "name": "x", "main": "worker/entry.py",
      "compatibility_date": "2026-04-20",
      "compatibility_flags": ["python_workers",],
      "vars": { "LOG_LEVEL": "info", "N": 3 },
      "durable_objects": { "bindings": [{ "name": "LITELLM", "class_name": "LiteLLMContainer" }] },
      "containers": [{ "class_name": "LiteLLMContainer", "image": "./container/Dockerfile", "max_instances": 2, "instance_type": "standard-1" }],
    }`,
  );
  mkdirSync(path.join(dir, 'worker'));
  writeFileSync(path.join(dir, 'worker', 'settings.py'), 'CONTAINER_ENV_NAMES = ("OPENAI_API_KEY",)\n');
  const p = loadProject(dir);
  assert.equal(p.root, dir);
  assert.equal(p.main, 'worker/entry.py');
  assert.equal(p.mainPath, path.join(dir, 'worker/entry.py'));
  assert.equal(p.compatibilityDate, '2026-04-20');
  assert.deepEqual(p.compatibilityFlags, ['python_workers']);
  assert.deepEqual(p.durableObjects, [{ name: 'LITELLM', className: 'LiteLLMContainer' }]);
  assert.deepEqual(p.containerEnvNames, ['OPENAI_API_KEY']);
  assert.deepEqual(p.containers, [{ className: 'LiteLLMContainer', image: './container/Dockerfile', maxInstances: 2, instanceType: 'standard-1' }]);
  assert.throws(() => loadProject(mkdtempSync(path.join(tmpdir(), 'empty-'))), /no wrangler\.jsonc/);
});

test('buildEnv precedence: vars < .dev.vars < process env (declared or secret names only)', () => {
  const project = { vars: { LOG_LEVEL: 'info', MODE: 'a', N: 3, OBJ: { k: 1 } }, containerEnvNames: ['OPENAI_API_KEY'],
    secrets: ['LITELLM_MASTER_KEY'] };
  const env = buildEnv(project, {
    dotVarsText: 'MODE=b\nLITELLM_MASTER_KEY=from-dotvars\nEXTRA=dv\n',
    processEnv: {
      MODE: 'c', // declared var: process env wins
      LITELLM_MASTER_KEY: 'from-env', // secret name: wins
      OPENAI_API_KEY: 'sk-env', // passed to containers: added
      COHERE_API_KEY: 'sk-other', // a key the worker never passes on: ignored
      PATH: '/usr/bin', // neither: ignored
      HOME: '/root',
      UNSET_SECRET_API_KEY: undefined,
    },
  });
  assert.deepEqual(env, {
    LOG_LEVEL: 'info',
    MODE: 'c',
    N: '3',
    OBJ: '{"k":1}',
    LITELLM_MASTER_KEY: 'from-env',
    EXTRA: 'dv',
    OPENAI_API_KEY: 'sk-env',
  });
  assert.deepEqual(buildEnv({ vars: { A: 'x' } }), { A: 'x' });
});
