// Keys: every virtual key in a sortable, filterable table; create, edit, block/unblock, regenerate and delete, each
// through the key API with LiteLLM's field names, its 400s shown next to the field they name (`error.param`).
import { ApiError, api, busy, count, h, listKeys, usd, utc } from './api.js';

// The settings the form edits. `list`: comma-separated text, sent as a JSON list; `number`: sent as a number when
// it is one, else as typed, so the API's own validation answers (and names the field).
const FIELDS = [
  { name: 'key_alias', label: 'Alias (key_alias)', hint: 'unique name for the key' },
  { name: 'models', label: 'Models (models)', hint: 'comma-separated; empty: every model', list: true },
  { name: 'rpm_limit', label: 'Requests per minute (rpm_limit)', number: true },
  { name: 'tpm_limit', label: 'Tokens per minute (tpm_limit)', number: true },
  { name: 'max_parallel_requests', label: 'Parallel requests (max_parallel_requests)', number: true },
  { name: 'max_budget', label: 'Budget in USD (max_budget)', number: true },
  { name: 'budget_duration', label: 'Budget period (budget_duration)', hint: 'e.g. 30d: spend resets each period' },
  { name: 'duration', label: 'Expires after (duration)', hint: 'e.g. 90d from now; empty when editing: unchanged' },
];

const COLUMNS = [
  { id: 'alias', label: 'Alias', value: (k) => (k.key_alias ?? '').toLowerCase() },
  { id: 'models', label: 'Models', value: (k) => k.models.join(',') },
  { id: 'rpm', label: 'RPM', value: (k) => k.rpm_limit ?? Infinity },
  { id: 'tpm', label: 'TPM', value: (k) => k.tpm_limit ?? Infinity },
  { id: 'parallel', label: 'Parallel', value: (k) => k.max_parallel_requests ?? Infinity },
  { id: 'budget', label: 'Spend / budget', value: (k) => k.spend },
  { id: 'period', label: 'Period', value: (k) => k.budget_duration ?? '' },
  { id: 'expires', label: 'Expires (UTC)', value: (k) => k.expires ?? '9999' },
  { id: 'status', label: 'Status', value: (k) => statusOf(k) },
];

const $ = (id) => document.getElementById(id);
const state = { keys: [], sort: { id: 'alias', dir: 1 }, editing: null };
const statusOf = (key) => (key.status === 'revoked' && key.blocked ? 'blocked' : key.status);
const label = (key) => key.key_alias || key.key_name;

export function setup() {
  $('keys-filter').addEventListener('input', render);
  $('keys-status').addEventListener('change', load); // deleted keys are listed only when asked for
  $('keys-refresh').addEventListener('click', load);
  $('keys-new').addEventListener('click', () => openForm(null));
  $('new-key-copy').addEventListener('click', copyNewKey);
  $('new-key-done').addEventListener('click', hideNewKey);
  const form = $('key-form');
  form.querySelector('.hint').after(...FIELDS.map((field) => h('div', { class: 'field' },
    h('label', { for: `f-${field.name}` }, field.label),
    h('input', { id: `f-${field.name}`, name: field.name, type: 'text', spellcheck: 'false',
      inputmode: field.number ? 'decimal' : null, 'aria-describedby': `f-${field.name}-hint f-${field.name}-error` }),
    h('span', { id: `f-${field.name}-hint`, class: 'hint' }, field.hint ?? ''),
    h('span', { id: `f-${field.name}-error`, class: 'error' }))));
  form.append(h('div', { class: 'actions' },
    h('button', { type: 'submit', id: 'key-submit' }, 'Create key'),
    h('button', { type: 'button', id: 'key-cancel', onclick: () => $('key-dialog').close() }, 'Cancel')));
  form.addEventListener('submit', submitForm);
  $('keys-table').tHead.rows[0].append(...COLUMNS.map((column) => h('th', { scope: 'col', 'data-col': column.id },
    h('button', { type: 'button', class: 'sort', onclick: () => sortBy(column.id) }, column.label))),
  h('th', { scope: 'col' }, 'Actions'));
}

export function show() {
  return load();
}

export function hide() {
  $('key-dialog').close();
}

async function load() {
  await busy($('keys'), async () => {
    try {
      state.keys = await listKeys($('keys-status').value);
      $('keys-message').textContent = '';
    } catch (error) {
      $('keys-message').textContent = `Could not list keys: ${error.message}`;
    }
    render();
  });
}

function sortBy(id) {
  state.sort = { id, dir: state.sort.id === id ? -state.sort.dir : 1 };
  render();
}

function visibleKeys() {
  const text = $('keys-filter').value.trim().toLowerCase();
  const column = COLUMNS.find((c) => c.id === state.sort.id);
  return state.keys
    .filter((k) => !text || [k.key_alias, k.key_name, k.user_id, k.team_id, statusOf(k), ...k.models]
      .some((v) => v && String(v).toLowerCase().includes(text)))
    .sort((a, b) => {
      const [x, y] = [column.value(a), column.value(b)];
      return (x < y ? -1 : x > y ? 1 : 0) * state.sort.dir;
    });
}

function render() {
  for (const th of $('keys-table').tHead.rows[0].cells) {
    if (th.dataset.col) th.setAttribute('aria-sort', th.dataset.col !== state.sort.id ? 'none' : state.sort.dir > 0 ? 'ascending' : 'descending');
  }
  const rows = visibleKeys();
  $('keys-caption').textContent = `Virtual keys: ${rows.length} shown of ${state.keys.length}`;
  $('keys-table').tBodies[0].replaceChildren(...rows.map(row));
}

function row(key) {
  const budget = key.max_budget === null ? usd(key.spend)
    : [h('meter', { min: 0, max: key.max_budget, value: Math.min(key.spend, key.max_budget), high: key.max_budget * 0.8,
      'aria-label': `${label(key)} spend of budget` }), ` ${usd(key.spend)} / ${usd(key.max_budget)}`];
  const live = key.status !== 'deleted';
  const act = (text, handler) => h('button', { type: 'button', 'aria-label': `${text} ${label(key)}`, onclick: () => handler(key) }, text);
  return h('tr', { 'data-token': key.token },
    h('th', { scope: 'row' }, key.key_alias ?? '—', h('span', { class: 'muted' }, ` ${key.key_name}`)),
    h('td', {}, key.models.length ? key.models.join(', ') : 'all'),
    h('td', { class: 'num' }, count(key.rpm_limit)),
    h('td', { class: 'num' }, count(key.tpm_limit)),
    h('td', { class: 'num' }, count(key.max_parallel_requests)),
    h('td', { class: 'budget' }, budget),
    h('td', {}, key.budget_duration ? `${key.budget_duration}, resets ${utc(key.budget_reset_at)}` : '—'),
    h('td', {}, key.expires ? utc(key.expires) : 'never'),
    h('td', {}, h('span', { class: `status status-${statusOf(key)}` }, statusOf(key))),
    h('td', { class: 'actions' }, live && [
      act('Edit', openForm),
      key.blocked ? act('Unblock', (k) => change('/key/unblock', { key: k.token })) : act('Block', (k) => change('/key/block', { key: k.token })),
      act('Regenerate', regenerate),
      act('Delete', remove),
    ]));
}

async function change(path, body) {
  try {
    const answer = await api(path, { method: 'POST', body });
    $('keys-message').textContent = '';
    await load();
    return answer;
  } catch (error) {
    $('keys-message').textContent = error.message;
    return null;
  }
}

async function regenerate(key) {
  if (!window.confirm(`Regenerate ${label(key)}? The current key stops working at once.`)) return;
  const answer = await change('/key/regenerate', { key: key.token });
  if (answer) showNewKey(answer.key, `New key for ${label(key)}`);
}

async function remove(key) {
  if (!window.confirm(`Delete ${label(key)}? It stops working at once; its usage stays in the reports.`)) return;
  await change('/key/delete', { keys: [key.token] });
}

/** The form, empty for a new key, or with the key's settings as /key/info has them now (the table may be stale). */
async function openForm(key) {
  let current = null;
  if (key) {
    try {
      current = (await api(`/key/info?key=${key.token}`)).info;
    } catch (error) {
      $('keys-message').textContent = `Could not read ${label(key)}: ${error.message}`;
      return;
    }
  }
  state.editing = key;
  const form = $('key-form');
  for (const field of FIELDS) {
    const value = current?.[field.name];
    form.elements[field.name].value = value === null || value === undefined ? '' : field.list ? value.join(', ') : String(value);
  }
  form.elements.duration.value = '';
  $('key-dialog-title').textContent = key ? `Edit ${label(key)}` : 'New key';
  $('key-submit').textContent = key ? 'Save' : 'Create key';
  clearErrors();
  $('key-dialog').showModal();
  form.elements.key_alias.focus();
}

function clearErrors() {
  $('key-form-error').textContent = '';
  for (const field of FIELDS) {
    $(`f-${field.name}-error`).textContent = '';
    $('key-form').elements[field.name].removeAttribute('aria-invalid');
  }
}

/** The form as LiteLLM's body: empty means "not set" on create, "clear it" (null) on edit; `duration` only if given. */
function body() {
  const out = state.editing ? { key: state.editing.token } : {};
  for (const field of FIELDS) {
    const text = $('key-form').elements[field.name].value.trim();
    if (!text && (!state.editing || field.name === 'duration')) continue;
    if (field.list) out[field.name] = text.split(',').map((m) => m.trim()).filter(Boolean);
    else if (!text) out[field.name] = null;
    else out[field.name] = field.number && Number.isFinite(Number(text)) ? Number(text) : text;
  }
  return out;
}

async function submitForm(event) {
  event.preventDefault();
  clearErrors();
  try {
    const answer = await api(state.editing ? '/key/update' : '/key/generate', { method: 'POST', body: body() });
    $('key-dialog').close();
    if (!state.editing) showNewKey(answer.key, `New key ${answer.key_alias ?? answer.key_name}`);
    await load();
  } catch (error) {
    showError(error);
  }
}

/** A 400 goes next to the field its `param` names (`models[2]` is the models field), anything else above the form. */
function showError(error) {
  const name = error instanceof ApiError && error.param ? error.param.split(/[[.]/)[0] : null;
  const input = name && FIELDS.some((f) => f.name === name) ? $('key-form').elements[name] : null;
  if (!input) {
    $('key-form-error').textContent = error.message;
    return;
  }
  $(`f-${name}-error`).textContent = error.message;
  input.setAttribute('aria-invalid', 'true');
  input.focus();
}

function showNewKey(value, title) {
  $('new-key-title').textContent = title;
  $('new-key-value').value = value;
  $('new-key-copied').textContent = '';
  $('new-key').hidden = false;
  $('new-key-value').focus();
  $('new-key-value').select();
}

async function copyNewKey() {
  try {
    await navigator.clipboard.writeText($('new-key-value').value);
    $('new-key-copied').textContent = 'Copied.';
  } catch {
    $('new-key-value').select();
    $('new-key-copied').textContent = 'Copy blocked by the browser: the key is selected, press Ctrl+C.';
  }
}

/** The raw key leaves the page once the operator is done with it. */
export function hideNewKey() {
  $('new-key-value').value = '';
  $('new-key').hidden = true;
}
