// End-to-end figures from a `hookline-receiver`: it stamps each delivery's arrival and
// subtracts the body's `sent_at_us`, so its `GET /stats` holds the end-to-end latency of
// every delivery. Teardown waits until all accepted webhooks arrived (bounded), then
// records the figures as k6 metrics so they land in the summary and its thresholds.

import http from 'k6/http';
import { sleep } from 'k6';
import { Gauge } from 'k6/metrics';

import { K6_API_URL, WAIT_SECONDS } from './env.js';

const CONTROL = { tags: { kind: 'control' } };
const POLL_SECONDS = 0.25;

const delivered = new Gauge('e2e_delivered');
const missing = new Gauge('e2e_missing');
const duplicates = new Gauge('e2e_duplicates');
const perSecond = new Gauge('e2e_deliveries_per_s');
const drainSeconds = new Gauge('e2e_drain_s');
const p50 = new Gauge('e2e_p50_ms');
const p95 = new Gauge('e2e_p95_ms');
const p99 = new Gauge('e2e_p99_ms');
const max = new Gauge('e2e_max_ms');

// Clears a receiver's counts, so a run measures only its own deliveries.
export function resetReceiver(receiverUrl) {
  const res = http.post(`${receiverUrl}/reset`, null, CONTROL);
  if (res.status !== 200) throw new Error(`resetting ${receiverUrl}: ${res.status} ${res.body}`);
}

export function receiverStats(receiverUrl) {
  const res = http.get(`${receiverUrl}/stats`, CONTROL);
  if (res.status !== 200) throw new Error(`reading ${receiverUrl}/stats: ${res.status} ${res.body}`);
  return res.json();
}

// A counter's total as k6's REST API reports it. The API lags the VUs by a moment, so the
// value is read until two reads half a second apart agree (the load has ended by then), or
// until `deadline`.
function settledCount(metric, deadline) {
  const read = () => {
    const res = http.get(`${K6_API_URL}/v1/metrics/${metric}`, CONTROL);
    if (res.status === 404) return 0; // never incremented
    if (res.status !== 200) throw new Error(`reading ${metric} from k6 at ${K6_API_URL}: ${res.status}`);
    return res.json('data.attributes.sample.count');
  };
  let previous = read();
  while (Date.now() < deadline) {
    sleep(0.5);
    const current = read();
    if (current === previous) break;
    previous = current;
  }
  return previous;
}

// Waits (at most WAIT_SECONDS) until the receiver holds `accepted_measured` distinct
// deliveries, then records the end-to-end figures. Returns the receiver's last report.
export function recordDeliveries(receiverUrl) {
  // Teardown starts when the load has ended.
  const loadEnded = Date.now();
  const deadline = loadEnded + WAIT_SECONDS * 1000;
  const expected = settledCount('accepted_measured', deadline);
  let stats = receiverStats(receiverUrl);
  while (stats.distinct_ids < expected && Date.now() < deadline) {
    sleep(POLL_SECONDS);
    stats = receiverStats(receiverUrl);
  }
  const spanSeconds = ((stats.last_at_us || 0) - (stats.first_at_us || 0)) / 1e6;
  // Over the span from the first arrival to the last: the pace deliveries kept.
  const rate = spanSeconds > 0 ? stats.requests / spanSeconds : 0;
  delivered.add(stats.distinct_ids);
  missing.add(Math.max(0, expected - stats.distinct_ids));
  duplicates.add(stats.duplicates);
  perSecond.add(rate);
  // How long after the load the last delivery arrived.
  drainSeconds.add(Math.max(0, (stats.last_at_us || 0) / 1000 - loadEnded) / 1000);
  p50.add(stats.latency_us.p50 / 1000);
  p95.add(stats.latency_us.p95 / 1000);
  p99.add(stats.latency_us.p99 / 1000);
  max.add(stats.latency_us.max / 1000);
  console.log(
    `deliveries at ${receiverUrl}: ${stats.distinct_ids}/${expected} ` +
      `(${stats.duplicates} duplicates), ${Math.round(rate)}/s, end-to-end ms ` +
      `p50 ${ms(stats.latency_us.p50)} p95 ${ms(stats.latency_us.p95)} p99 ${ms(stats.latency_us.p99)} ` +
      `max ${ms(stats.latency_us.max)}`,
  );
  return stats;
}

function ms(us) {
  return (us / 1000).toFixed(1);
}

