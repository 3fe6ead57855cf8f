// The gateway's key API as the console calls it, and the few DOM helpers every page shares.
// The master key lives in this tab's sessionStorage only: never in a cookie, localStorage or a URL.
const STORAGE_KEY = 'litellm-router.console.master-key';

export const session = {
  get key() { return sessionStorage.getItem(STORAGE_KEY); },
  set(key) { sessionStorage.setItem(STORAGE_KEY, key); },
  clear() { sessionStorage.removeItem(STORAGE_KEY); },
};

/** A refusal from the gateway: `param` names the request field at fault (LiteLLM's error shape). */
export class ApiError extends Error {
  constructor(status, body) {
    const error = body && typeof body.error === 'object' ? body.error : {};
    super(error.message || `the gateway answered ${status}`);
    this.status = status;
    this.param = error.param ?? null;
    this.code = error.code ?? error.type ?? null;
  }
}

let unauthorized = () => {};
/** What to do when the gateway stops accepting the signed-in key (it was rotated, or the session is stale). */
export function onUnauthorized(handler) { unauthorized = handler; }

/** One call with the master key (or `key`, for sign-in). Resolves with the JSON body; rejects with ApiError. */
export async function api(path, { method = 'GET', body, key = session.key } = {}) {
  const headers = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', credentials: 'omit',
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && key === session.key) unauthorized(error);
    throw error;
  }
  return data;
}

/** Every key record, all pages of /key/list (100 at a time, LiteLLM's largest page): the live keys, as LiteLLM
 * lists them, or those of one `status` (`deleted` ones only so). */
export async function listKeys(status = '') {
  const keys = [];
  for (let page = 1; ; page += 1) {
    const answer = await api(`/key/list?return_full_object=true&size=100&page=${page}&status=${status}`);
    keys.push(...answer.keys);
    if (page >= (answer.total_pages || 1)) return keys;
  }
}

/** Runs `load` with `section` marked busy (aria-busy), so assistive technology, and tests, know when it is done. */
export async function busy(section, load) {
  section.setAttribute('aria-busy', 'true');
  try {
    return await load();
  } finally {
    section.setAttribute('aria-busy', 'false');
  }
}

/** An element: props become properties or attributes (`on*` listeners); children are nodes or text, never HTML. */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'class') element.className = value;
    else element.setAttribute(name, value === true ? '' : value);
  }
  element.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return element;
}

/** Dollars to the cent, and under a dollar to two significant digits (a small model's request costs $0.0000045). */
export function usd(value) {
  if (value === null || value === undefined) return '—';
  const size = Math.abs(Number(value));
  const decimals = size > 0 && size < 1 ? Math.min(10, Math.max(2, 1 - Math.floor(Math.log10(size)))) : 2;
  return `$${Number(value).toFixed(decimals)}`;
}
export const count = (value) => (value === null || value === undefined ? '—' : Number(value).toLocaleString('en-US'));
/** ISO text or epoch milliseconds, shown in UTC to the minute (seconds with `seconds`). */
export function utc(value, seconds = false) {
  if (value === null || value === undefined || value === '') return '—';
  const date = new Date(typeof value === 'number' ? value : String(value));
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toISOString().slice(0, seconds ? 19 : 16).replace('T', ' ');
}
export function span(ms) {
  if (ms === null || ms === undefined) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
