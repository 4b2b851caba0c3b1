// The overview the page opens on: rates of the last minute, accepted / delivered /
// failed per second and latencies over the last hour (SVG charts drawn here), the
// delivery backlog of each retry tier, the dead letters, the subscriptions failing
// most and those disabled with their reason. One call, GET /overview, refreshed by its
// own poller while the tab is visible.

import { get, query } from './api.js';
import { legend, lineChart, shortNumber } from './charts.js';
import { el, fact, fill, shortId, state, time } from './dom.js';
import { startPolling } from './poller.js';
import { listedTenant, showsSeveralTenants, tenantLabel } from './tenants.js';

const POLL_EVERY_MS = 5000;
/** The "now" figures average this many of the last complete intervals. */
const RECENT_INTERVALS = 6;

const overviewState = document.getElementById('overview-state');
const since = document.getElementById('overview-since');
const figures = document.getElementById('overview-figures');
const rates = document.getElementById('overview-rates');
const latency = document.getElementById('overview-latency');
const backlog = document.getElementById('overview-backlog');
const failing = document.getElementById('overview-failing');
const disabled = document.getElementById('overview-disabled');

let poller = null;
/** The last overview shown, drawn again when the charts' width changes. */
let last = null;
/** The width the charts were drawn for. */
let drawnWidth = 0;

export function startOverview() {
  poller = startPolling(refreshOverview, POLL_EVERY_MS);
  new ResizeObserver(() => {
    if (last && rates.clientWidth !== drawnWidth) drawCharts(last);
  }).observe(rates);
}

/** Loads the overview again at once (after the tenant changed). */
export function reloadOverview() {
  if (poller) poller.now();
}

async function refreshOverview() {
  try {
    const overview = await get(`/overview${query({ tenant_id: listedTenant() })}`);
    last = overview;
    render(overview);
    state(overviewState, '');
  } catch (error) {
    state(overviewState, `Could not load the overview: ${error.message}`, 'error');
  }
}

function perSecond(counts, interval) {
  const recent = counts.slice(-RECENT_INTERVALS);
  if (recent.length === 0) return 0;
  return recent.reduce((sum, n) => sum + n, 0) / (recent.length * interval);
}

function rate(value) {
  return `${shortNumber(value)}/s`;
}

function render(overview) {
  const { series, totals } = overview;
  const interval = series.interval_seconds;
  since.textContent = `Counted since ${new Date(overview.counting_since).toLocaleTimeString()} (last hour at most)`;
  const attempts = totals.delivered + totals.failed;
  const figure = (name, term, value, kind = '') => {
    const [dt, dd] = fact(term, value);
    dd.dataset.figure = name;
    if (kind) dd.dataset.kind = kind;
    return el('div', {}, dt, dd);
  };
  fill(figures,
    figure('accepted', 'Accepted', rate(perSecond(series.accepted, interval))),
    figure('delivered', 'Delivered', rate(perSecond(series.delivered, interval))),
    figure('failed', 'Failed', rate(perSecond(series.failed, interval)),
      perSecond(series.failed, interval) > 0 ? 'bad' : ''),
    figure('failure-ratio', 'Failed attempts (hour)',
      attempts ? `${(100 * totals.failed / attempts).toFixed(1)} %` : '—', totals.failed ? 'bad' : ''),
    figure('dead-letters', 'Dead letters (hour)', String(totals.dead_lettered), totals.dead_lettered ? 'bad' : ''),
    figure('totals', 'Accepted / delivered (hour)', `${totals.accepted} / ${totals.delivered}`));
  drawCharts(overview);
  renderBacklog(overview);
  renderFailing(overview.failing_subscriptions);
  renderDisabled(overview.disabled_subscriptions);
}

function drawCharts(overview) {
  const { series } = overview;
  drawnWidth = rates.clientWidth;
  const start = new Date(series.start);
  const interval = series.interval_seconds;
  const perSec = (counts) => counts.map((n) => n / interval);
  const rateLines = [
    { label: 'accepted', values: perSec(series.accepted), className: 'line-accepted' },
    { label: 'delivered', values: perSec(series.delivered), className: 'line-delivered' },
    { label: 'failed', values: perSec(series.failed), className: 'line-failed' },
  ];
  const pick = (list, key) => list.map((p) => (p ? p[key] : null));
  const latencyLines = [
    { label: 'attempt p50', values: pick(series.attempt_ms, 'p50'), className: 'line-attempt' },
    { label: 'attempt p99', values: pick(series.attempt_ms, 'p99'), className: 'line-attempt', dashed: true },
    { label: 'end to end p50', values: pick(series.end_to_end_ms, 'p50'), className: 'line-e2e' },
    { label: 'end to end p99', values: pick(series.end_to_end_ms, 'p99'), className: 'line-e2e', dashed: true },
  ];
  fill(rates, el('figcaption', {}, `Per second, every ${interval} s`),
    lineChart({ lines: rateLines, start, intervalSeconds: interval, width: rates.clientWidth,
      describe: 'Events accepted, attempts delivered and failed per second over the last hour' }),
    legend(rateLines));
  fill(latency, el('figcaption', {}, 'Latency (ms)'),
    lineChart({ lines: latencyLines, start, intervalSeconds: interval, width: latency.clientWidth,
      describe: 'Attempt and end-to-end latency, p50 and p99, over the last hour' }),
    legend(latencyLines));
}

function renderBacklog({ backlog: sampled, tenant_id: tenant }) {
  if (!sampled) {
    const why = tenant === null ? 'Not sampled yet.' : 'Shared by every tenant: shown for all tenants only.';
    fill(backlog, el('li', { className: 'muted' }, why));
    return;
  }
  const most = Math.max(1, ...sampled.sources.map((s) => s.records ?? 0));
  fill(backlog, ...sampled.sources.map((source) => {
    const name = source.delay_seconds === null ? 'first attempts' : `retry ${source.delay_seconds} s`;
    const records = source.records;
    const bar = el('span', { className: 'backlog-bar', attrs: { 'aria-hidden': 'true' } });
    bar.style.width = `${records ? Math.max(2, (100 * records) / most) : 0}%`;
    return el('li', { attrs: { 'data-topic': source.topic } },
      el('span', { className: 'backlog-name' }, name),
      el('span', { className: 'backlog-track' }, bar),
      el('span', { className: 'backlog-value' }, records === null ? 'unknown' : String(records)));
  }));
}

function renderFailing(subscriptions) {
  if (subscriptions.length === 0) {
    fill(failing, el('li', { className: 'muted' }, 'No failed attempt in the last hour.'));
    return;
  }
  fill(failing, ...subscriptions.map((sub) => el('li', { attrs: { 'data-subscription-id': sub.subscription_id } },
    el('strong', { title: sub.subscription_id }, shortId(sub.subscription_id)),
    showsSeveralTenants() && sub.tenant_id ? el('span', { className: 'muted' }, ` ${tenantLabel(sub.tenant_id)}`) : null,
    el('span', { className: 'failing-count' }, ` ${sub.failed} failed of ${sub.attempts}`),
    el('span', { className: 'muted failing-error' }, ` ${sub.last_error ?? (sub.last_status ? `HTTP ${sub.last_status}` : "failed")}`),
    el('span', { className: 'muted' }, ' last '), time(sub.last_failed_at))));
}

function renderDisabled({ total, items }) {
  if (total === 0) {
    fill(disabled, el('li', { className: 'muted' }, 'None.'));
    return;
  }
  const rows = items.map((sub) => el('li', { attrs: { 'data-subscription-id': sub.subscription_id } },
    el('strong', { title: sub.subscription_id }, shortId(sub.subscription_id)),
    el('span', { className: 'muted' }, ` ${sub.target_url}`),
    el('div', {}, sub.reason ?? 'no reason given', el('span', { className: 'muted' }, ' since '), time(sub.disabled_at))));
  if (total > items.length) rows.push(el('li', { className: 'muted' }, `and ${total - items.length} more`));
  fill(disabled, ...rows);
}
