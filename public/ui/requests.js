// Recent requests (GET /spend/logs, LiteLLM's name and row fields): of one key, of the master key or of all,
// refusals included, so "why was Alice refused at 10:42" has an answer. A gateway without the endpoint says so.
import { ApiError, api, busy, count, h, listKeys, usd, utc } from './api.js';

const $ = (id) => document.getElementById(id);

export function setup() {
  $('requests-form').addEventListener('submit', (event) => {
    event.preventDefault();
    busy($('requests'), load);
  });
}

export function show() {
  return busy($('requests'), choose);
}

/** The key list, the choice kept across visits; then the chosen requests. */
async function choose() {
  const select = $('requests-key');
  const chosen = select.value;
  try {
    const keys = await listKeys();
    select.replaceChildren(h('option', { value: '' }, 'all keys'), h('option', { value: 'master' }, 'the master key'),
      ...keys.map((key) => h('option', { value: key.token }, `${key.key_alias ?? '(no alias)'} ${key.key_name} (${key.status})`)));
    if ([...select.options].some((option) => option.value === chosen)) select.value = chosen;
    await load();
  } catch (error) {
    message(`Could not list keys: ${error.message}`);
  }
}

function message(text) {
  $('requests-message').textContent = text;
}

async function load() {
  const key = $('requests-key').value;
  const query = new URLSearchParams({ limit: $('requests-limit').value || '50' });
  if (key) query.set('api_key', key);
  const body = $('requests-table').tBodies[0];
  try {
    const rows = (await api(`/spend/logs?${query}`)).data;
    body.replaceChildren(...rows.map(row));
    message(rows.length ? `${rows.length} requests.` : 'No requests recorded yet.');
  } catch (error) {
    body.replaceChildren();
    // A 404 naming no field is the route missing; one naming api_key is a key the gateway does not know.
    const missing = error instanceof ApiError && error.status === 404 && !error.param;
    message(missing ? 'Recent requests are not available on this gateway (GET /spend/logs answered 404).'
      : `Could not load recent requests: ${error.message}`);
  }
}

function row(request) {
  return h('tr', { class: request.status === 'failure' ? 'refused' : null },
    h('td', {}, utc(request.startTime, true)),
    h('td', {}, request.key_alias ?? request.api_key.slice(0, 12)),
    h('td', {}, request.model ?? '—'),
    h('td', { class: 'num' }, String(request.http_status)),
    h('td', {}, request.error_code ?? ''),
    h('td', { class: 'num' }, count(request.prompt_tokens)),
    h('td', { class: 'num' }, count(request.completion_tokens)),
    h('td', { class: 'num' }, usd(request.spend)),
    h('td', { class: 'num' }, request.latency_ms === null ? '—' : `${count(request.latency_ms)} ms`),
    h('td', { class: 'mono' }, request.request_id ?? ''));
}
