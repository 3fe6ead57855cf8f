// Spend & traffic: /spend/report over a date range, drawn with uPlot (vendor/), with the numbers as tables too.
// Per-key and per-model days come from one `group_by=key` / `group_by=model` report per day, as /spend/report
// sums a whole range per key or per model, and per day only in total.
import { api, busy, count, h, usd } from './api.js';

const METRICS = [
  { id: 'spend', label: 'Spend per day (USD)', format: usd },
  { id: 'requests', label: 'Requests per day', format: count },
  { id: 'failed_requests', label: 'Failed requests per day', format: count },
  { id: 'total_tokens', label: 'Tokens per day', format: count },
];
const MAX_DAYS = 366; // points per chart
const MAX_GROUP_DAYS = 31; // per key or model: one report per day
const SHOWN_GROUPS = 5; // the top groups by spend get a line each; the rest is summed as "other"
// Okabe-Ito: told apart with the common colour-vision deficiencies.
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];
const DAY_MS = 86_400_000;
// Tick steps for counts: whole numbers only (uPlot would otherwise mark 0.25 requests).
const WHOLE_STEPS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].flatMap((e) => [1, 2, 5].map((m) => m * 10 ** e));

const $ = (id) => document.getElementById(id);
let charts = [];

export function setup() {
  const today = new Date();
  $('spend-end').value = isoDay(today);
  $('spend-start').value = isoDay(new Date(today.getTime() - 13 * DAY_MS));
  $('spend-form').addEventListener('submit', (event) => {
    event.preventDefault();
    show();
  });
}

export function show() {
  return busy($('spend'), report);
}

async function report() {
  const start = $('spend-start').value;
  const end = $('spend-end').value;
  const by = $('spend-by').value;
  const days = dayRange(start, end);
  if (!days.length) return fail('Choose a start date on or before the end date.');
  const most = by === 'total' ? MAX_DAYS : MAX_GROUP_DAYS;
  if (days.length > most) return fail(`Choose at most ${most} days${by === 'total' ? '' : ` per ${by}`}.`);
  try {
    const range = `start_date=${start}&end_date=${end}`;
    const [perDay, perKey, perModel] = await Promise.all(['day', 'key', 'model']
      .map((group) => api(`/spend/report?${range}&group_by=${group}`)));
    const series = by === 'total' ? totalSeries(days, perDay) : await groupSeries(days, by, by === 'key' ? perKey : perModel);
    $('spend-message').textContent = '';
    renderTotals(perDay.total);
    renderCharts(days, series);
    renderTop('top-keys', 'Key', perKey.data, (row) => row.key_alias || row.key_name || row.token.slice(0, 12));
    renderTop('top-models', 'Model', perModel.data, (row) => row.model ?? '(none)');
  } catch (error) {
    fail(`Could not load the report: ${error.message}`);
  }
}

export function hide() {
  destroyCharts();
}

function fail(message) {
  $('spend-message').textContent = message;
}

const isoDay = (date) => date.toISOString().slice(0, 10);

function dayRange(start, end) {
  const days = [];
  for (let t = Date.parse(`${start}T00:00:00Z`); t <= Date.parse(`${end}T00:00:00Z`) && days.length <= MAX_DAYS; t += DAY_MS) {
    days.push(isoDay(new Date(t)));
  }
  return days;
}

function totalSeries(days, report) {
  const byDay = new Map(report.data.map((row) => [row.date, row]));
  return [{ name: 'total', rows: days.map((day) => byDay.get(day)) }];
}

/** One line per top group (by spend over the range), the others summed; one report per day, a few at a time. */
async function groupSeries(days, by, rangeReport) {
  const name = (row) => (by === 'key' ? row.key_alias || row.key_name || row.token.slice(0, 12) : row.model ?? '(none)');
  const top = rangeReport.data.slice(0, SHOWN_GROUPS).map(name);
  const reports = [];
  for (let i = 0; i < days.length; i += 4) {
    reports.push(...await Promise.all(days.slice(i, i + 4)
      .map((day) => api(`/spend/report?start_date=${day}&end_date=${day}&group_by=${by}`))));
  }
  const names = rangeReport.data.length > SHOWN_GROUPS ? [...top, 'other'] : top;
  return names.map((group) => ({
    name: group,
    rows: reports.map((report) => sum(report.data.filter((row) => (top.includes(name(row)) ? name(row) : 'other') === group))),
  }));
}

function sum(rows) {
  const out = Object.fromEntries(METRICS.map((m) => [m.id, 0]));
  for (const row of rows) for (const m of METRICS) out[m.id] += row[m.id];
  return out;
}

function renderTotals(total) {
  $('spend-totals').replaceChildren(...METRICS.flatMap((m) => [
    h('dt', {}, m.label.replace(' per day', '').replace(' (USD)', '')),
    h('dd', { 'data-metric': m.id }, m.format(total[m.id])),
  ]));
}

function destroyCharts() {
  for (const chart of charts) chart.destroy();
  charts = [];
}

function renderCharts(days, series) {
  destroyCharts();
  const x = days.map((day) => Date.parse(`${day}T00:00:00Z`) / 1000);
  const figures = METRICS.map((metric) => {
    const values = series.map((s) => s.rows.map((row) => (row ? row[metric.id] : 0)));
    const plot = h('div', { class: 'plot', role: 'img', 'aria-label': `${metric.label}: chart; the table below has the numbers` });
    const figure = h('figure', { 'data-metric': metric.id }, h('figcaption', {}, metric.label), plot,
      h('details', {}, h('summary', {}, `${metric.label}: numbers`), dataTable(metric, days, series, values)));
    return { figure, plot, metric, values };
  });
  $('spend-charts').replaceChildren(...figures.map((f) => f.figure));
  for (const { plot, metric, values } of figures) {
    charts.push(new window.uPlot({
      width: Math.max(280, plot.clientWidth), height: 200, tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
      scales: { x: { time: true } },
      axes: [{}, {
        incrs: metric.id === 'spend' ? undefined : WHOLE_STEPS,
        values: (u, ticks) => ticks.map(metric.format),
        size: (u, labels) => 24 + 8 * Math.max(3, ...(labels ?? []).map((label) => label.length)), // room for "$0.0000020"
      }],
      series: [{ label: 'day (UTC)' }, ...series.map((s, i) => ({
        label: s.name, stroke: COLOURS[i % COLOURS.length], width: 2, points: { show: true }, value: (u, v) => metric.format(v),
      }))],
    }, [x, ...values], plot));
  }
}

function dataTable(metric, days, series, values) {
  return h('table', { class: 'data' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Day (UTC)'), series.map((s) => h('th', { scope: 'col' }, s.name)))),
    h('tbody', {}, days.map((day, i) => h('tr', {}, h('th', { scope: 'row' }, day),
      values.map((column) => h('td', { class: 'num' }, metric.format(column[i])))))));
}

function renderTop(id, what, rows, name) {
  const table = $(id);
  table.tHead.replaceChildren(h('tr', {}, [what, 'Requests', 'Failed', 'Tokens', 'Spend'].map((c) => h('th', { scope: 'col' }, c))));
  table.tBodies[0].replaceChildren(...rows.slice(0, 10).map((row) => h('tr', {},
    h('th', { scope: 'row' }, name(row)), h('td', { class: 'num' }, count(row.requests)),
    h('td', { class: 'num' }, count(row.failed_requests)), h('td', { class: 'num' }, count(row.total_tokens)),
    h('td', { class: 'num' }, usd(row.spend)))));
  if (!rows.length) table.tBodies[0].replaceChildren(h('tr', {}, h('td', { colspan: 5 }, 'No usage in this range.')));
}
