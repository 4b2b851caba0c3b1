// hookline's REST API as the scenarios use it: create subscriptions, send one webhook.

import http from 'k6/http';
import exec from 'k6/execution';
import { check } from 'k6';
import { Counter } from 'k6/metrics';

import { HOOKLINE_URL, LOAD } from './env.js';
import { orderEvent } from './payload.js';

const JSON_HEADERS = { 'Content-Type': 'application/json' };
const CONTROL = { tags: { kind: 'control' } };

// Ingests answered 202 whose deliveries go to the measured receiver: teardown waits for
// exactly this many.
export const acceptedMeasured = new Counter('accepted_measured');

// Creates one subscription per target URL (no secret, no filter) and returns their ids.
export function createSubscriptions(targetUrls) {
  return targetUrls.map((targetUrl) => {
    const res = http.post(`${HOOKLINE_URL}/api/subscriptions`, JSON.stringify({ target_url: targetUrl }), {
      headers: JSON_HEADERS,
      ...CONTROL,
    });
    if (res.status !== 201) {
      throw new Error(`creating a subscription to ${targetUrl}: ${res.status} ${res.body}`);
    }
    return res.json('id');
  });
}

// Sends webhook number `sequence` to `subscriptionId`: an order event of PAYLOAD_BYTES
// (lib/payload.js), stamped with the send time in µs since the epoch (`sent_at_us`, what the
// receiver measures end-to-end latency from). True on 202.
// `measured`: its delivery goes to the measured receiver and is counted for teardown.
export function ingest(subscriptionId, sequence, measured) {
  // JavaScript's clock has millisecond resolution: the stamp is exact to within 1 ms.
  const body = orderEvent(Date.now() * 1000, sequence, LOAD.payloadBytes);
  const res = http.post(`${HOOKLINE_URL}/api/ingest/${subscriptionId}`, body, {
    headers: JSON_HEADERS,
    tags: { kind: 'ingest' },
    responseType: 'none',
  });
  const accepted = check(res, { 'ingest answered 202': (r) => r.status === 202 }, { kind: 'ingest' });
  if (accepted && measured) acceptedMeasured.add(1);
  return accepted;
}

// One iteration of a scenario spread over several subscriptions ({ id, healthy }): the
// next one in turn gets a webhook, measured when its receiver is the healthy one.
export function ingestInTurn(subscriptions) {
  const sequence = exec.scenario.iterationInTest;
  const subscription = subscriptions[sequence % subscriptions.length];
  ingest(subscription.id, sequence, subscription.healthy);
}
