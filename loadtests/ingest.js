// Ingest throughput: webhooks (order events of PAYLOAD_BYTES, see lib/payload.js) POSTed at
// a constant arrival rate (RATE per second for DURATION) to one subscription, with thresholds on failures (< 0.1 %) and on the p99 of the
// 202 acknowledgement (ACK_P99_MS). Every 202 is durable (fsync'd) before it is answered.
//
// Env: HOOKLINE_URL, RECEIVER_URL (target of the subscription it creates) or SUBSCRIPTION_ID
// (an existing subscription without secret or filter), RATE, DURATION, PAYLOAD_BYTES,
// PRE_VUS, MAX_VUS, ACK_P99_MS.

import exec from 'k6/execution';

import { RECEIVER_URL, text } from './lib/env.js';
import { createSubscriptions, ingest } from './lib/hookline.js';
import { ingestOptions } from './lib/options.js';

export const options = ingestOptions();

export function setup() {
  const given = text('SUBSCRIPTION_ID', '');
  return { subscription: given || createSubscriptions([`${RECEIVER_URL}/hook`])[0] };
}

export default function (data) {
  ingest(data.subscription, exec.scenario.iterationInTest, false);
}
