// The k6 options every scenario shares: one constant-arrival-rate scenario of ingests and the
// thresholds on them. Only ingest requests are tagged `kind:ingest`, so set-up and polling
// requests stay out of the acknowledgement figures.

import { BOUNDS, LOAD, WAIT_SECONDS } from './env.js';

export function ingestOptions(extraThresholds = {}) {
  return {
    summaryTrendStats: ['avg', 'min', 'med', 'p(95)', 'p(99)', 'max'],
    setupTimeout: '60s',
    // The wait for deliveries, plus room for reading the stats once it ends.
    teardownTimeout: `${WAIT_SECONDS + 30}s`,
    scenarios: {
      ingest: {
        executor: 'constant-arrival-rate',
        rate: LOAD.rate,
        timeUnit: '1s',
        duration: LOAD.duration,
        preAllocatedVUs: LOAD.preAllocatedVUs,
        maxVUs: LOAD.maxVUs,
        gracefulStop: '10s',
      },
    },
    thresholds: {
      'http_req_failed{kind:ingest}': ['rate<0.001'],
      'http_req_duration{kind:ingest}': [`p(99)<${BOUNDS.ackP99Ms}`],
      'checks{kind:ingest}': ['rate>0.999'],
      // Requests k6 could not start on time (no free VU: answers slowed down, or the machine
      // was short of CPU), as a rate per second: at most 0.1 % of the load.
      dropped_iterations: [`rate<${LOAD.rate * 0.001}`],
      ...extraThresholds,
    },
  };
}

// Thresholds on the end-to-end figures that teardown records (see deliveries.js).
export function deliveryThresholds() {
  return {
    e2e_missing: ['value==0'],
    e2e_p99_ms: [`value<${BOUNDS.e2eP99Ms}`],
  };
}
