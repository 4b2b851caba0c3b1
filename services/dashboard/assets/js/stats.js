// A subscription's delivery statistics: success rate, latency percentiles, how many
// dead letters, and a small inline SVG chart of its recent attempts (one bar each,
// coloured by outcome, as tall as it was slow).

import { get } from './api.js';
import { el, fill, when } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const CHART_WIDTH = 240;
const CHART_HEIGHT = 40;
/** Bars never get wider than this share of the chart, so a few attempts still look like bars. */
const MIN_SLOTS = 20;

/** The refresh of each subscription's statistics on screen, by subscription id. */
const shown = new Map();

/** The statistics block of one subscription; loads at once. */
export function statsView(subscriptionId) {
  const node = el('div', { className: 'stats', attrs: { 'aria-live': 'polite' } }, 'Loading statistics…');
  const load = async () => {
    try {
      render(node, await get(`/subscriptions/${encodeURIComponent(subscriptionId)}/stats`));
    } catch (error) {
      fill(node, el('span', { className: 'muted' }, `Statistics unavailable: ${error.message}`));
    }
  };
  shown.set(subscriptionId, { node, load });
  load();
  return node;
}

/** Loads the statistics of these subscriptions again (those on screen). */
export function refreshStats(subscriptionIds) {
  for (const id of subscriptionIds) {
    const view = shown.get(id);
    if (view?.node.isConnected) view.load();
    else shown.delete(id);
  }
}

function render(node, stats) {
  const attempts = stats.window?.attempts ?? 0;
  const rate = stats.success_rate === null || stats.success_rate === undefined
    ? 'no attempts yet'
    : `${formatRate(stats.success_rate)} success`;
  const latency = stats.latency_ms ?? {};
  const summary = el('p', { className: 'stats-line' },
    el('strong', { className: 'rate' }, rate),
    attempts ? ` over ${attempts} attempt${attempts === 1 ? '' : 's'}` : '',
    attempts ? ` · p50 ${latency.p50 ?? '—'} ms · p95 ${latency.p95 ?? '—'} ms · max ${latency.max ?? '—'} ms` : '',
    limitView(stats.concurrency));
  // Each dead letter is one attempt that failed for good, so the window counts them too.
  const deadLetters = stats.outcomes?.permanently_failed ?? 0;
  const deadLetterLine = deadLetters
    ? el('p', { className: 'stats-line dead-letter-count error-text' },
      `${deadLetters} dead letter${deadLetters === 1 ? '' : 's'} among these attempts`)
    : null;
  fill(node, summary, deadLetterLine, stats.recent?.length ? chart(stats.recent) : null);
}

/** The in-flight limit delivery applies now, when this process delivers and has lately. */
function limitView(concurrency) {
  const limit = concurrency?.current_limit;
  if (limit === null || limit === undefined) return '';
  const how = concurrency.max_in_flight === 'auto' ? 'found by adaptive concurrency' : 'as set';
  return el('span', { className: 'limit' }, ` · up to ${limit} in flight (${how})`);
}

/** The API's rate is a fraction from 0 to 1. */
function formatRate(rate) {
  return `${(rate * 100).toFixed(rate === 1 || rate === 0 ? 0 : 1)} %`;
}

function chart(recent) {
  // Oldest on the left, as time reads.
  const attempts = [...recent].sort((a, b) => String(a.timestamp).localeCompare(String(b.timestamp)));
  const slowest = Math.max(1, ...attempts.map((attempt) => attempt.latency_ms ?? 0));
  const slot = CHART_WIDTH / Math.max(MIN_SLOTS, attempts.length);
  const counts = {};
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${CHART_WIDTH} ${CHART_HEIGHT}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('class', 'chart');
  attempts.forEach((attempt, index) => {
    counts[attempt.outcome] = (counts[attempt.outcome] ?? 0) + 1;
    const height = Math.max(3, ((attempt.latency_ms ?? 0) / slowest) * CHART_HEIGHT);
    const bar = document.createElementNS(SVG, 'rect');
    bar.setAttribute('x', String(index * slot + slot * 0.1));
    bar.setAttribute('y', String(CHART_HEIGHT - height));
    bar.setAttribute('width', String(slot * 0.8));
    bar.setAttribute('height', String(height));
    bar.setAttribute('class', `bar outcome-${attempt.outcome}`);
    const title = document.createElementNS(SVG, 'title');
    title.textContent = `attempt ${attempt.attempt_number} · ${attempt.outcome.replaceAll('_', ' ')}`
      + ` · HTTP ${attempt.http_status ?? 'none'} · ${attempt.latency_ms} ms · ${when(attempt.timestamp)}`;
    bar.append(title);
    svg.append(bar);
  });
  const described = Object.entries(counts).map(([outcome, n]) => `${n} ${outcome.replaceAll('_', ' ')}`).join(', ');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `Recent attempts, oldest first: ${described}`);
  return svg;
}
