// A subscription's delivery settings in the page: the fields of the create and edit
// forms (extra headers one per line, a timeout, a retry schedule, a rate limit, the
// in-flight bound), what they send to the API, and how a card shows them.

import { el } from './dom.js';

/** The inputs of the settings, as a group the create and edit forms share. */
export function settingsInputs(idPrefix, current = null) {
  const input = (name, props) => Object.assign(el('input', { type: 'text', autocomplete: 'off', spellcheck: false }),
    { id: `${idPrefix}-${name}`, name }, props);
  const headers = el('textarea', { id: `${idPrefix}-headers`, name: 'headers', rows: 2, spellcheck: false,
    placeholder: 'X-Api-Key: …' });
  headers.value = Object.entries(current?.headers ?? {}).map(([name, value]) => `${name}: ${value}`).join('\n');
  const schedule = current?.retry_schedule ?? 'default';
  const inputs = {
    headers,
    timeout: input('timeout_ms', { inputMode: 'numeric', placeholder: 'default', value: current?.timeout_ms ?? '' }),
    schedule: input('retry_schedule', { placeholder: 'default',
      value: Array.isArray(schedule) ? schedule.join(', ') : schedule }),
    rate: input('rate_limit_per_second', { inputMode: 'numeric', placeholder: 'no limit',
      value: current?.rate_limit_per_second ?? '' }),
    maxInFlight: input('max_in_flight', { placeholder: 'auto', value: current?.max_in_flight ?? 'auto' }),
  };
  const label = (node, text) => [el('label', { htmlFor: node.id }, text), node];
  const group = el('details', { className: 'delivery-settings' },
    el('summary', {}, 'Delivery settings'),
    el('div', { className: 'stack' },
      ...label(inputs.headers, 'Extra headers (one "Name: value" per line)'),
      ...label(inputs.timeout, 'Timeout per attempt, in ms (empty: the configured one)'),
      ...label(inputs.schedule, 'Retry schedule: default, production, or delays in seconds (5, 300, …)'),
      ...label(inputs.rate, 'Rate limit, requests per second (empty: none)'),
      ...label(inputs.maxInFlight, 'In flight at once: auto (adaptive) or a number')));
  return { group, inputs };
}

/**
 * The settings as the API takes them, from what was typed. With `current` (an edit),
 * only what differs from it; without (a creation), only what differs from the defaults.
 */
export function settingsBody(inputs, current = null) {
  const typed = {
    headers: headersFrom(inputs.headers.value),
    timeout_ms: numberOrNull(inputs.timeout.value),
    retry_schedule: scheduleFrom(inputs.schedule.value),
    rate_limit_per_second: numberOrNull(inputs.rate.value),
    max_in_flight: inputs.maxInFlight.value.trim() === '' || inputs.maxInFlight.value.trim() === 'auto'
      ? 'auto' : numberOrText(inputs.maxInFlight.value),
  };
  const base = current ?? { headers: {}, timeout_ms: null, retry_schedule: 'default', rate_limit_per_second: null,
    max_in_flight: 'auto' };
  const body = {};
  for (const [field, value] of Object.entries(typed)) {
    if (JSON.stringify(value) !== JSON.stringify(base[field] ?? null)) body[field] = value;
  }
  return body;
}

/** The card's summary of the settings: only those that are not the defaults, else "defaults". */
export function settingsView(subscription) {
  const parts = [];
  const names = Object.keys(subscription.headers ?? {});
  if (names.length) parts.push(`headers ${names.join(', ')}`);
  if (subscription.timeout_ms !== null && subscription.timeout_ms !== undefined) {
    parts.push(`timeout ${subscription.timeout_ms} ms`);
  }
  const schedule = subscription.retry_schedule ?? 'default';
  if (schedule !== 'default') {
    parts.push(`retries ${Array.isArray(schedule) ? `after ${schedule.join(', ')} s` : schedule}`);
  }
  if (subscription.rate_limit_per_second) parts.push(`at most ${subscription.rate_limit_per_second}/s`);
  const maxInFlight = subscription.max_in_flight ?? 'auto';
  parts.push(maxInFlight === 'auto' ? 'in flight: adaptive' : `in flight: at most ${maxInFlight}`);
  return [parts.join(' · ')];
}

/** "Name: value" lines as an object; lines without a colon are sent as they are, for the API to refuse. */
function headersFrom(text) {
  const headers = {};
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const colon = line.indexOf(':');
    if (colon < 0) headers[line] = '';
    else headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

function scheduleFrom(text) {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === 'default') return 'default';
  if (/^[\d\s,]+$/.test(trimmed)) return trimmed.split(',').map((d) => d.trim()).filter(Boolean).map(Number);
  return trimmed;
}

function numberOrNull(text) {
  return text.trim() === '' ? null : numberOrText(text);
}

/** A number when it reads as one, else the text, for the API to refuse with its reason. */
function numberOrText(text) {
  const trimmed = text.trim();
  return /^\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
}
