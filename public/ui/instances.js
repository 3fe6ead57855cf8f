// Instances: what /health knows about each container instance, refreshed every few seconds while the page is open.
// /health needs no key and holds none: it is asked without one.
import { count, h, span, utc } from './api.js';

const REFRESH_MS = 3000;
const $ = (id) => document.getElementById(id);
let timer = null;
let round = 0; // a refresh still in flight when the page closes (or reopens) schedules nothing

export function show() {
  hide();
  refresh(round);
}

export function hide() {
  clearTimeout(timer);
  round += 1;
}

async function refresh(mine) {
  try {
    const response = await fetch('/health', { cache: 'no-store', credentials: 'omit' });
    const health = await response.json();
    if (mine === round) render(health);
  } catch (error) {
    if (mine === round) $('instances-summary').textContent = `Could not read /health: ${error.message}`;
  }
  if (mine === round) timer = setTimeout(() => refresh(mine), REFRESH_MS);
}

function render(health) {
  const { config } = health;
  $('instances-summary').textContent = `Gateway ${health.status}, version ${health.version}; `
    + `${config.container_instances} instance(s), boot wait ${config.ready_timeout}, idle stop after ${config.sleep_after}. `
    + `Updated ${utc(Date.now(), true)} UTC.`;
  $('instances-table').tBodies[0].replaceChildren(...health.instances.map((instance) => h('tr', {},
    h('th', { scope: 'row' }, instance.name),
    h('td', {}, h('span', { class: `status state-${instance.state}` }, instance.state)),
    h('td', {}, instance.since_ms ? utc(instance.since_ms, true) : '—'),
    h('td', {}, span(instance.for_ms)),
    h('td', { class: 'num' }, count(instance.restarts)),
    h('td', { class: 'num' }, span(instance.last_boot_ms)),
    h('td', {}, instance.last_exit ?? '—'),
    h('td', { class: 'num' }, count(instance.inflight)),
    h('td', {}, (instance.unpriced_models ?? []).join(', ') || 'none'))));
}
