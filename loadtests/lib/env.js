// Settings read from the environment (`k6 run -e NAME=value` or the process environment),
// with the defaults a developer gets from the README walk-through on 127.0.0.1.

export function text(name, fallback) {
  const value = __ENV[name];
  return value === undefined || value === '' ? fallback : value;
}

export function number(name, fallback) {
  const raw = text(name, undefined);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name}=${raw} is not a number`);
  return value;
}

// Only loopback targets: these scripts generate thousands of requests per second, and must
// never be pointed at somebody else's server by a stray variable.
export function loopbackUrl(name, fallback) {
  const url = text(name, fallback).replace(/\/+$/, '');
  if (!/^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(\/|$)/.test(url)) {
    throw new Error(`${name}=${url} is not a loopback http URL`);
  }
  return url;
}

export const HOOKLINE_URL = loopbackUrl('HOOKLINE_URL', 'http://127.0.0.1:8000');
// The receiver the measured (healthy) deliveries go to: a `hookline-receiver`.
export const RECEIVER_URL = loopbackUrl('RECEIVER_URL', 'http://127.0.0.1:9000');
// k6's own REST API (`k6 run --address`), read in teardown for the count of accepted ingests.
export const K6_API_URL = loopbackUrl('K6_API_URL', 'http://localhost:6565');

// The load every scenario applies: a constant arrival rate for a bounded time (DURATION in
// k6's form: 90s, 10m, 1h30m), so each run stops by itself after about RATE × DURATION
// requests; each body an order event of PAYLOAD_BYTES (see payload.js).
export const LOAD = {
  rate: number('RATE', 1000),
  duration: text('DURATION', '20s'),
  preAllocatedVUs: number('PRE_VUS', 200),
  maxVUs: number('MAX_VUS', 1000),
  payloadBytes: number('PAYLOAD_BYTES', 1024),
};

// Threshold bounds, in milliseconds.
export const BOUNDS = {
  ackP99Ms: number('ACK_P99_MS', 100),
  e2eP99Ms: number('E2E_P99_MS', 1000),
};

// Longest teardown waits for the last delivery after the load stopped.
export const WAIT_SECONDS = number('WAIT_SECONDS', 60);
