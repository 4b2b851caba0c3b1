// Noisy neighbour: SUBSCRIPTIONS subscriptions share the load evenly, and one of them points
// at a receiver that takes 2 s to answer (`hookline-receiver --latency-ms 2000` at
// SLOW_RECEIVER_URL). Its deliveries pile up behind its per-subscription bound; the
// question is whether the others' end-to-end latency holds. Teardown waits for every
// healthy delivery and reports it as end_to_end.js does, plus what the slow receiver got
// by then (slow_delivered).
//
// Env: as end_to_end.js, plus SUBSCRIPTIONS (10, the slow one included), SLOW_RECEIVER_URL.

import { Gauge } from 'k6/metrics';

import { RECEIVER_URL, loopbackUrl, number } from './lib/env.js';
import { createSubscriptions, ingestInTurn } from './lib/hookline.js';
import { receiverStats, recordDeliveries, resetReceiver } from './lib/deliveries.js';
import { deliveryThresholds, ingestOptions } from './lib/options.js';

const SLOW_RECEIVER_URL = loopbackUrl('SLOW_RECEIVER_URL', 'http://127.0.0.1:9002');
const SUBSCRIPTIONS = Math.max(2, number('SUBSCRIPTIONS', 10));

const slowDelivered = new Gauge('slow_delivered');

export const options = ingestOptions(deliveryThresholds());

export function setup() {
  const [slow] = createSubscriptions([`${SLOW_RECEIVER_URL}/slow`]);
  const healthy = createSubscriptions(Array.from({ length: SUBSCRIPTIONS - 1 }, (_, i) => `${RECEIVER_URL}/healthy/${i}`));
  resetReceiver(RECEIVER_URL);
  resetReceiver(SLOW_RECEIVER_URL);
  return { subscriptions: [{ id: slow, healthy: false }, ...healthy.map((id) => ({ id, healthy: true }))] };
}

export default function (data) {
  ingestInTurn(data.subscriptions);
}

export function teardown() {
  recordDeliveries(RECEIVER_URL);
  const slow = receiverStats(SLOW_RECEIVER_URL);
  slowDelivered.add(slow.distinct_ids);
  console.log(`slow receiver: ${slow.distinct_ids} deliveries by the end of the wait`);
}
