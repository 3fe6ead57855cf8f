// Reads the same project files wrangler reads (wrangler.jsonc, .dev.vars) so the local runtime and
// `wrangler deploy` can never disagree about bindings, vars or the container definition.
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';

/**
 * Parse JSON with comments and trailing commas (the JSONC dialect wrangler accepts).
 * A single character scanner, because regexes cannot tell `//` inside a string (a URL) from a comment.
 * @param {string} text
 * @returns {any}
 */
export function parseJsonc(text) {
  let out = '';
  let i = 0;
  const n = text.length;
  // Index in `out` of a comma that may turn out to be trailing; dropped if `}` or `]` comes next.
  let pendingComma = -1;
  while (i < n) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (j >= n) throw new SyntaxError('JSONC: unterminated string');
      out += text.slice(i, j + 1);
      pendingComma = -1;
      i = j + 1;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < n && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) throw new SyntaxError('JSONC: unterminated block comment');
      out += ' '; // keep tokens on either side apart
      i = end + 2;
    } else if (c === ',') {
      pendingComma = out.length;
      out += c;
      i++;
    } else if (c === '}' || c === ']') {
      if (pendingComma >= 0) out = out.slice(0, pendingComma) + out.slice(pendingComma + 1);
      pendingComma = -1;
      out += c;
      i++;
    } else {
      if (!/\s/.test(c)) pendingComma = -1;
      out += c;
      i++;
    }
  }
  return JSON.parse(out);
}

/**
 * Parse the `.dev.vars` format: KEY=VALUE lines, `#` comments, blank lines, optional `export `,
 * single quotes (literal) or double quotes (`\n`, `\"`, `\\` escapes; may span lines).
 * In an unquoted value `#` starts a comment only at the start or after whitespace, so a key such as
 * `abc#def` survives (dotenv would cut it at `#`).
 * @param {string} text
 * @returns {Record<string, string>}
 */
export function parseDotVars(text) {
  /** @type {Record<string, string>} */
  const vars = {};
  const src = text.replace(/\r\n?/g, '\n');
  let i = 0;
  while (i < src.length) {
    let lineEnd = src.indexOf('\n', i);
    if (lineEnd < 0) lineEnd = src.length;
    const line = src.slice(i, lineEnd);
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*/.exec(line);
    if (!m) {
      // Blank, comment, or junk: wrangler ignores lines it cannot parse, so do we.
      i = lineEnd + 1;
      continue;
    }
    const key = m[1];
    const valueStart = i + m[0].length;
    const q = src[valueStart];
    if (q === '"' || q === "'") {
      let j = valueStart + 1;
      let value = '';
      while (j < src.length && src[j] !== q) {
        if (q === '"' && src[j] === '\\' && j + 1 < src.length) {
          const e = src[j + 1];
          value += e === 'n' ? '\n' : e === 'r' ? '\r' : e === 't' ? '\t' : e;
          j += 2;
        } else {
          value += src[j++];
        }
      }
      if (j < src.length) {
        vars[key] = value;
        const after = src.indexOf('\n', j);
        i = after < 0 ? src.length : after + 1;
        continue;
      }
      // No closing quote: fall through and take the line literally, quote included.
    }
    const raw = line.slice(m[0].length);
    vars[key] = raw.replace(/(^|\s)#.*$/, '').trim();
    i = lineEnd + 1;
  }
  return vars;
}

/**
 * What the Worker's own Python says about its environment, asked of Python itself (never read with a regex):
 * `CONTAINER_ENV_NAMES` (what it passes into a container) and `WORKER_SECRETS` (the secrets it reads), from
 * the `settings` module next to its main module. One list for both runtimes, so a name added there reaches
 * `make dev` from the shell too. Throws when Python cannot say, rather than silently passing nothing.
 * @param {string} workerDir the folder of the worker's main module
 * @returns {{containerEnvNames: string[], secrets: string[]}}
 */
export function workerFacts(workerDir) {
  const script = 'import json, sys; sys.path.insert(0, sys.argv[1]); import settings; print(json.dumps({'
    + '"containerEnvNames": list(settings.CONTAINER_ENV_NAMES), "secrets": list(getattr(settings, "WORKER_SECRETS", ()))}))';
  const venv = path.join(path.dirname(workerDir), '.venv', 'bin', 'python');
  const python = existsSync(venv) ? venv : 'python3';
  let out;
  try {
    out = execFileSync(python, ['-c', script, workerDir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new Error(`could not ask ${workerDir}/settings.py for its env names: ${String(err.stderr || err.message).trim().split('\n').pop()}`);
  }
  const facts = JSON.parse(out);
  if (facts.containerEnvNames.length === 0) throw new Error(`${workerDir}/settings.py: CONTAINER_ENV_NAMES holds no names`);
  return facts;
}

/**
 * Names the process environment may supply even though wrangler.jsonc does not declare them: the
 * worker's secrets and what it passes to containers (`containerNames`). Anything else in the host
 * environment is deliberately ignored so the worker sees what it would see on Cloudflare.
 * @param {string} name
 * @param {Set<string>} [containerNames]
 * @param {Set<string>} [secrets] the worker's WORKER_SECRETS
 * @returns {boolean}
 */
export function isSecretName(name, containerNames = new Set(), secrets = new Set()) {
  return secrets.has(name) || containerNames.has(name);
}

/**
 * @typedef {{
 *   root: string, configPath: string, main: string, mainPath: string,
 *   compatibilityDate: string | undefined, compatibilityFlags: string[],
 *   vars: Record<string, any>,
 *   durableObjects: {name: string, className: string}[],
 *   containerEnvNames: string[], secrets: string[],
 *   crons: string[],
 *   sqliteClasses: string[],
 *   containers: {className: string, image: string, maxInstances: number | undefined, instanceType: string | undefined}[],
 *   raw: any,
 * }} Project
 */

/**
 * Load `<rootDir>/wrangler.jsonc` (or wrangler.json).
 * @param {string} rootDir
 * @returns {Project}
 */
export function loadProject(rootDir) {
  const root = path.resolve(rootDir);
  const configPath = ['wrangler.jsonc', 'wrangler.json']
    .map((f) => path.join(root, f))
    .find((p) => existsSync(p));
  if (!configPath) throw new Error(`no wrangler.jsonc in ${root}`);
  const raw = parseJsonc(readFileSync(configPath, 'utf8'));
  if (typeof raw.main !== 'string') throw new Error(`${configPath}: "main" is required`);
  const workerDir = path.dirname(path.resolve(root, raw.main));
  const facts = existsSync(path.join(workerDir, 'settings.py')) ? workerFacts(workerDir) : { containerEnvNames: [], secrets: [] };
  if (raw.containers?.length && facts.containerEnvNames.length === 0) throw new Error(`${workerDir}: no settings.py to ask for CONTAINER_ENV_NAMES`);
  return {
    root,
    configPath,
    main: raw.main,
    mainPath: path.resolve(root, raw.main),
    compatibilityDate: raw.compatibility_date,
    compatibilityFlags: Array.isArray(raw.compatibility_flags) ? raw.compatibility_flags : [],
    vars: raw.vars && typeof raw.vars === 'object' ? raw.vars : {},
    durableObjects: (raw.durable_objects?.bindings ?? []).map((b) => ({
      name: b.name,
      className: b.class_name,
    })),
    // Durable Object classes with SQLite storage (`ctx.storage.sql`): every migration's new_sqlite_classes.
    sqliteClasses: (raw.migrations ?? []).flatMap((m) => m.new_sqlite_classes ?? []),
    crons: Array.isArray(raw.triggers?.crons) ? raw.triggers.crons.map(String) : [],
    // Only a project with containers passes names on (and then the list must exist).
    containerEnvNames: raw.containers?.length ? facts.containerEnvNames : [],
    secrets: facts.secrets,
    containers: (raw.containers ?? []).map((c) => ({
      className: c.class_name,
      image: c.image,
      maxInstances: c.max_instances,
      instanceType: c.instance_type,
    })),
    raw,
  };
}

/**
 * Build the worker's string env: wrangler `vars`, overridden by `.dev.vars`, overridden by the
 * process environment for declared vars, the worker's secrets and the names it passes to containers.
 * Non-string `vars` values (numbers, JSON objects) are stringified: the Python side reads strings.
 * @param {{vars: Record<string, any>, containerEnvNames?: string[], secrets?: string[]}} project
 * @param {{processEnv?: Record<string, string | undefined>, dotVarsText?: string | null}} [opts]
 * @returns {Record<string, string>}
 */
export function buildEnv(project, { processEnv = {}, dotVarsText = null } = {}) {
  const secrets = new Set(project.secrets ?? []);
  /** @type {Record<string, string>} */
  const env = {};
  for (const [k, v] of Object.entries(project.vars ?? {})) {
    env[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  if (dotVarsText) Object.assign(env, parseDotVars(dotVarsText));
  const declared = new Set(Object.keys(project.vars ?? {}));
  const containerNames = new Set(project.containerEnvNames ?? []);
  for (const [k, v] of Object.entries(processEnv)) {
    if (v === undefined) continue;
    if (declared.has(k) || isSecretName(k, containerNames, secrets)) env[k] = v;
  }
  return env;
}
