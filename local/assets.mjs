// Workers Static Assets (wrangler.jsonc `assets`) as workerd serves them, so the console behaves here as deployed
// (FIELD-NOTES §8). The rules follow Cloudflare's router and asset workers (workers-sdk, workers-shared):
// run_worker_first decides first; otherwise a file is served when one matches (html_handling
// "auto-trailing-slash": /ui/ serves ui/index.html, /ui and /ui/index.html answer 307 to /ui/), and a path with
// no file reaches the Worker. Files are read per request, so an edit shows without a restart.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';

// What wrangler's `mime` lookup gives these extensions (text types with a charset, as wrangler adds it).
const CONTENT_TYPES = {
  html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', mjs: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8', txt: 'text/plain; charset=utf-8', json: 'application/json', map: 'application/json',
  svg: 'image/svg+xml', png: 'image/png', ico: 'image/vnd.microsoft.icon', woff2: 'font/woff2',
};
const CACHE_CONTROL = 'public, max-age=0, must-revalidate';
// Wrangler never uploads these: they configure the assets, they are not assets.
const META_FILES = new Set(['/.assetsignore', '/_headers', '/_redirects']);

const escapeRegExp = (text) => text.replace(/[-/\\^$*+?.()|[\]{}]/g, '\\$&');

/** run_worker_first patterns: `*` is the only wildcard and matches across slashes (`/v1/*` matches `/v1/`). */
function globRegExp(rule) {
  return new RegExp(`^${rule.split('*').map(escapeRegExp).join('.*')}$`);
}

/** `_headers` patterns: `*` captures `:splat`, `:name` captures one segment; values may use both. */
function ruleRegExp(rule) {
  const body = rule.split('*').map(escapeRegExp).join('(?<splat>.*)')
    .replace(/:([A-Za-z]\w*)/g, (_, name) => `(?<${name}>[^/]+)`);
  return new RegExp(`^${body}$`);
}

/**
 * wrangler's `_headers` parser: a line starting with `/` (or `https://`) opens a rule, `Name: value` lines add
 * to it (a repeated name joins with ", "), `! Name` removes a header; `#` comments; a rule without headers and
 * any malformed line are dropped (wrangler warns about them).
 * @returns {{regExp: RegExp, crossHost: boolean, set: Record<string, string>, unset: string[]}[]}
 */
export function parseHeaders(text) {
  const rules = [];
  let rule = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    if (/^([^\s]+:\/\/|\/)/.test(line)) {
      rule = { pattern: line, set: {}, unset: [] };
      rules.push(rule);
    } else if (rule && line.startsWith('! ')) {
      rule.unset.push(line.slice(2).trim());
    } else if (rule && line.includes(':')) {
      const [rawName, ...rest] = line.split(':');
      const name = rawName.trim().toLowerCase();
      const value = rest.join(':').trim();
      if (name && value && !name.includes(' ')) rule.set[name] = rule.set[name] ? `${rule.set[name]}, ${value}` : value;
    }
  }
  return rules
    .filter((r) => Object.keys(r.set).length || r.unset.length)
    .map(({ pattern, set, unset }) => ({ regExp: ruleRegExp(pattern), crossHost: pattern.startsWith('https://'), set, unset }));
}

/** Every matching rule in order: the first to set a header replaces the default, later ones append. */
function applyHeaderRules(rules, url, response) {
  const seen = new Set();
  for (const { regExp, crossHost, set, unset } of rules) {
    const match = regExp.exec(crossHost ? `https://${url.hostname}${url.pathname}` : url.pathname);
    if (!match) continue;
    for (const name of unset) response.headers.delete(name);
    for (const [name, template] of Object.entries(set)) {
      const value = template.replace(/:([A-Za-z]\w*)/g, (all, key) => match.groups?.[key] ?? all);
      if (seen.has(name)) response.headers.append(name, value);
      else response.headers.set(name, value);
      seen.add(name);
    }
  }
  return response;
}

/** Each segment decoded (an undecodable one kept as sent), repeated slashes collapsed: what the manifest is keyed by. */
const decodePath = (pathname) =>
  pathname.split('/').map((segment) => { try { return decodeURIComponent(segment); } catch { return segment; } })
    .join('/').replace(/\/+/g, '/');
const encodePath = (pathname) => pathname.split('/').map(encodeURIComponent).join('/');

/**
 * run_worker_first as the router reads it: true (every path), or patterns where `!pattern` excludes.
 * @param {boolean | string[] | undefined} first
 * @returns {(pathname: string) => boolean} true when the Worker answers the path whether or not a file matches
 */
export function workerFirstMatcher(first = false) {
  const patterns = Array.isArray(first) ? first : [];
  const include = patterns.filter((p) => !p.startsWith('!')).map(globRegExp);
  const exclude = patterns.filter((p) => p.startsWith('!')).map((p) => globRegExp(p.slice(1)));
  return (pathname) => first === true || (!exclude.some((r) => r.test(pathname)) && include.some((r) => r.test(pathname)));
}

/**
 * The assets of a project, or null when wrangler.jsonc has no `assets` block.
 * @param {{root: string, raw: any}} project from config.mjs loadProject
 * @returns {null | {binding: string | undefined, route(request: Request): Promise<Response | null>,
 *   fetch(input: Request | string): Promise<Response>}}
 *   route: the front door's choice (null: the Worker answers); fetch: the ASSETS binding (the asset worker alone).
 */
export function loadAssets(project) {
  const config = project.raw.assets;
  if (!config) return null;
  // Only the defaults are implemented: anything else would be served differently here than in workerd.
  if ((config.html_handling ?? 'auto-trailing-slash') !== 'auto-trailing-slash' || (config.not_found_handling ?? 'none') !== 'none') {
    throw new Error('assets: the local runtime implements html_handling "auto-trailing-slash" and not_found_handling "none" only');
  }
  const directory = path.resolve(project.root, config.directory);
  const workerFirst = workerFirstMatcher(config.run_worker_first);

  /** The file a decoded path names, or null: never outside the directory, never a folder or a meta file. */
  async function exists(p) {
    if (!p.startsWith('/') || META_FILES.has(p)) return null;
    if (p.split('/').some((segment) => segment === '.' || segment === '..' || /[\\\0]/.test(segment))) return null;
    const file = path.join(directory, p);
    if (!file.startsWith(directory + path.sep)) return null;
    const info = await stat(file).catch(() => null);
    return info?.isFile() ? file : null;
  }

  /** Redirect to `destination` only when it would serve the very file `file` names (no loops, no 404s). */
  async function safeRedirect(file, destination, skip) {
    if (skip || await exists(destination)) return null;
    const target = await resolve(destination, true);
    const source = await exists(file);
    return target?.file && target.file === source ? { redirect: destination } : null;
  }

  /** html_handling "auto-trailing-slash", as the asset worker resolves it: {file} | {redirect} | null. */
  async function resolve(p, skip = false) {
    const exact = await exists(p);
    let found = null;
    if (p.endsWith('/index')) {
      if (exact) return { file: exact };
      found = await safeRedirect(`${p}.html`, p.slice(0, -'index'.length), skip)
        ?? await safeRedirect(`${p.slice(0, -'/index'.length)}.html`, p.slice(0, -'/index'.length), skip);
    } else if (p.endsWith('/index.html')) {
      found = await safeRedirect(p, p.slice(0, -'index.html'.length), skip)
        ?? await safeRedirect(`${p.slice(0, -'/index.html'.length)}.html`, p.slice(0, -'/index.html'.length), skip);
    } else if (p.endsWith('/')) {
      const index = await exists(`${p}index.html`);
      if (index) return { file: index };
      found = await safeRedirect(`${p.slice(0, -1)}.html`, p.slice(0, -1), skip);
    } else if (p.endsWith('.html')) {
      found = await safeRedirect(p, p.slice(0, -'.html'.length), skip)
        ?? await safeRedirect(`${p.slice(0, -'.html'.length)}/index.html`, `${p.slice(0, -'.html'.length)}/`, skip);
    }
    if (found) return found;
    if (exact) return { file: exact };
    const html = await exists(`${p}.html`);
    if (html) return { file: html };
    return safeRedirect(`${p}/index.html`, `${p}/`, skip);
  }

  /** The asset worker: a Response, or null when no file matches (no intent). */
  async function serveAsset(request) {
    const url = new URL(request.url);
    const decoded = decodePath(url.pathname);
    const found = await resolve(decoded);
    if (!found) return null;
    const rules = parseHeaders(await readFile(path.join(directory, '_headers'), 'utf8').catch(() => ''));
    const method = request.method.toUpperCase();
    if (method !== 'GET' && method !== 'HEAD') return applyHeaderRules(rules, url, new Response(null, { status: 405 }));
    const location = encodePath(found.redirect ?? decoded);
    if (found.redirect || location !== url.pathname) {
      return applyHeaderRules(rules, url, new Response(null, { status: 307, headers: { location: location + url.search } }));
    }
    const body = await readFile(found.file);
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
    const headers = new Headers({ etag });
    const type = CONTENT_TYPES[path.extname(found.file).slice(1).toLowerCase()];
    if (type) headers.set('content-type', type);
    // As Cloudflare: a request with credentials or a range is not marked cacheable.
    if (!request.headers.has('authorization') && !request.headers.has('range')) headers.set('cache-control', CACHE_CONTROL);
    const ifNoneMatch = request.headers.get('if-none-match');
    if (ifNoneMatch === etag || ifNoneMatch === `W/${etag}`) {
      return applyHeaderRules(rules, url, new Response(null, { status: 304, headers }));
    }
    headers.set('content-length', String(body.length));
    return applyHeaderRules(rules, url, new Response(method === 'HEAD' ? null : body, { status: 200, headers }));
  }

  return {
    binding: config.binding,
    route: async (request) => (workerFirst(new URL(request.url).pathname) ? null : serveAsset(request)),
    fetch: async (input) => (await serveAsset(input instanceof Request ? input : new Request(input)))
      ?? new Response(null, { status: 404 }),
  };
}
