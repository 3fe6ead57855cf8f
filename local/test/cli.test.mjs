// The entry point as a process: flags that other tools (the bench) rely on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../cli.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('--print-container-base-env prints one JSON object (flags included) and exits', () => {
  const plain = JSON.parse(execFileSync(process.execPath, [CLI, '--print-container-base-env'], { encoding: 'utf8' }));
  assert.equal(plain.PATH.split(':')[0], `${ROOT}.venv/bin`, "the project's Python env comes first");
  assert.equal(plain.LANG, 'C.UTF-8');
  assert.equal(plain.LITELLM_CONFIG, undefined);
  const args = [CLI, '--print-container-base-env', '--container-env', 'A=1', '--litellm-config', 'x.yaml'];
  const out = execFileSync(process.execPath, args, { encoding: 'utf8', cwd: ROOT });
  assert.equal(out.trim().split('\n').length, 1);
  const withFlags = JSON.parse(out);
  assert.equal(withFlags.A, '1');
  assert.equal(withFlags.LITELLM_CONFIG, `${ROOT}x.yaml`);
});
