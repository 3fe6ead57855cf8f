import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseJsonc, parseDotVars, loadProject, buildEnv, isSecretName } from '../config.mjs';

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

test('isSecretName', () => {
  for (const n of ['LITELLM_MASTER_KEY', 'OPENAI_API_KEY', 'AZURE_API_BASE', 'REDIS_HOST', 'REDIS_PORT', 'REDIS_PASSWORD', 'LITELLM_UPSTREAM_URL']) {
    assert.equal(isSecretName(n), true, n);
  }
  for (const n of ['PATH', 'HOME', 'API_KEY_FILE', 'MY_API_KEYS', 'REDIS_URL']) assert.equal(isSecretName(n), false, n);
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
  const p = loadProject(dir);
  assert.equal(p.root, dir);
  assert.equal(p.main, 'worker/entry.py');
  assert.equal(p.mainPath, path.join(dir, 'worker/entry.py'));
  assert.equal(p.compatibilityDate, '2026-04-20');
  assert.deepEqual(p.compatibilityFlags, ['python_workers']);
  assert.deepEqual(p.durableObjects, [{ name: 'LITELLM', className: 'LiteLLMContainer' }]);
  assert.deepEqual(p.containers, [{ className: 'LiteLLMContainer', image: './container/Dockerfile', maxInstances: 2, instanceType: 'standard-1' }]);
  assert.throws(() => loadProject(mkdtempSync(path.join(tmpdir(), 'empty-'))), /no wrangler\.jsonc/);
});

test('buildEnv precedence: vars < .dev.vars < process env (declared or secret names only)', () => {
  const project = { vars: { LOG_LEVEL: 'info', MODE: 'a', N: 3, OBJ: { k: 1 } } };
  const env = buildEnv(project, {
    dotVarsText: 'MODE=b\nLITELLM_MASTER_KEY=from-dotvars\nEXTRA=dv\n',
    processEnv: {
      MODE: 'c', // declared var: process env wins
      LITELLM_MASTER_KEY: 'from-env', // secret name: wins
      OPENAI_API_KEY: 'sk-env', // secret pattern: added
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
