// End-to-end delivery: the load of ingest.js, then teardown waits (at most WAIT_SECONDS)
// until the hookline-receiver at RECEIVER_URL holds every accepted webhook, and reports
// deliveries/s and end-to-end latency (ingest sent → receiver got it) p50/p95/p99 as the
// e2e_* metrics, with thresholds: nothing missing, p99 under E2E_P99_MS.
//
// Env: as ingest.js, plus WAIT_SECONDS and E2E_P99_MS. A SUBSCRIPTION_ID must deliver to
// RECEIVER_URL.

import exec from 'k6/execution';

import { RECEIVER_URL, text } from './lib/env.js';
import { createSubscriptions, ingest } from './lib/hookline.js';
import { recordDeliveries, resetReceiver } from './lib/deliveries.js';
import { deliveryThresholds, ingestOptions } from './lib/options.js';

export const options = ingestOptions(deliveryThresholds());

export function setup() {
  const given = text('SUBSCRIPTION_ID', '');
  const subscription = given || createSubscriptions([`${RECEIVER_URL}/hook`])[0];
  resetReceiver(RECEIVER_URL);
  return { subscription };
}

export default function (data) {
  ingest(data.subscription, exec.scenario.iterationInTest, true);
}

export function teardown() {
  recordDeliveries(RECEIVER_URL);
}
