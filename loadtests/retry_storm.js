// Retry storm: SUBSCRIPTIONS subscriptions share the load evenly; FAILING_SHARE of them point
// at a receiver that answers every delivery 500 (`hookline-receiver --fail-rate 1.0` at
// FAILING_RECEIVER_URL), so their tasks cycle through the retry tiers while new load keeps
// arriving. The question: do the healthy subscriptions' deliveries keep their end-to-end
// latency? Teardown waits for every healthy delivery and reports it as end_to_end.js does,
// plus the failing receiver's counts (failing_attempts, failing_tasks).
//
// Retries are only a storm if they come back within the run: scripts/loadtest.sh starts
// hookline with RETRY_BASE_DELAY_SECONDS=1 RETRY_FACTOR=2 unless they are set.
//
// Env: as end_to_end.js, plus SUBSCRIPTIONS (10), FAILING_SHARE (0.5), FAILING_RECEIVER_URL.

import { Gauge } from 'k6/metrics';

import { RECEIVER_URL, loopbackUrl, number } from './lib/env.js';
import { createSubscriptions, ingestInTurn } from './lib/hookline.js';
import { receiverStats, recordDeliveries, resetReceiver } from './lib/deliveries.js';
import { deliveryThresholds, ingestOptions } from './lib/options.js';

const FAILING_RECEIVER_URL = loopbackUrl('FAILING_RECEIVER_URL', 'http://127.0.0.1:9001');
const SUBSCRIPTIONS = number('SUBSCRIPTIONS', 10);
// At least one of each kind, or there is nothing to compare.
const FAILING = Math.min(SUBSCRIPTIONS - 1, Math.max(1, Math.round(SUBSCRIPTIONS * number('FAILING_SHARE', 0.5))));

const failingAttempts = new Gauge('failing_attempts');
const failingTasks = new Gauge('failing_tasks');

export const options = ingestOptions(deliveryThresholds());

export function setup() {
  const failing = createSubscriptions(Array.from({ length: FAILING }, (_, i) => `${FAILING_RECEIVER_URL}/fail/${i}`));
  const healthy = createSubscriptions(
    Array.from({ length: SUBSCRIPTIONS - FAILING }, (_, i) => `${RECEIVER_URL}/healthy/${i}`),
  );
  resetReceiver(RECEIVER_URL);
  resetReceiver(FAILING_RECEIVER_URL);
  return {
    subscriptions: [...failing.map((id) => ({ id, healthy: false })), ...healthy.map((id) => ({ id, healthy: true }))],
  };
}

export default function (data) {
  ingestInTurn(data.subscriptions);
}

export function teardown() {
  recordDeliveries(RECEIVER_URL);
  const failing = receiverStats(FAILING_RECEIVER_URL);
  failingAttempts.add(failing.requests);
  failingTasks.add(failing.distinct_ids);
  console.log(`failing receiver: ${failing.requests} attempts of ${failing.distinct_ids} tasks`);
}
