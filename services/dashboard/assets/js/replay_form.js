// The replay form: which tasks to send again (one subscription's, or those of every
// enabled subscription of the tenant; accepted within a window; by their status now and
// their event type), where to (another URL, optionally) and how fast. "Count matching
// tasks" asks the API for a dry run and says how many match; only then can they be
// sent, with exactly what was counted. Changing anything asks for a new count.

import { describe, send } from './api.js';
import { shortId } from './dom.js';
import { patternsFromInput } from './subscription_card.js';
import { fillSubscriptionChoices, subscriptions } from './subscriptions.js';
import { shownTenant, tenantLabel } from './tenants.js';

/** The window the form starts with: the last day. */
const DEFAULT_WINDOW_MS = 24 * 3600 * 1000;

const form = document.getElementById('replay-form');
const toTenant = document.getElementById('replay-scope-tenant');
const select = document.getElementById('replay-subscription');
const tenantNote = document.getElementById('replay-tenant');
const since = document.getElementById('replay-since');
const until = document.getElementById('replay-until');
const eventTypes = document.getElementById('replay-event-types');
const target = document.getElementById('replay-target');
const rate = document.getElementById('replay-rate');
const result = document.getElementById('replay-count');
const sendButton = document.getElementById('replay-send');

/** What the last dry run counted: the request as sent, and how many tasks it matched. */
let counted = null;
let onStarted = () => {};

/** Wires the form; `started(replayId)` hears of each replay it starts. */
export function setUpReplayForm(started) {
  onStarted = started;
  since.value = localInputValue(new Date(Date.now() - DEFAULT_WINDOW_MS));
  form.addEventListener('change', (event) => {
    if (event.target.name === 'scope') showScope();
    forgetCount();
  });
  form.addEventListener('input', forgetCount);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    countMatching();
  });
  sendButton.addEventListener('click', startReplay);
  showScope();
}

/** Fills the subscription choice from the loaded subscriptions, keeping the selection. */
export function refreshReplayChoices() {
  fillSubscriptionChoices(select);
  if (!subscriptions.size) forgetCount();
}

/** Says whose tasks the tenant scope covers (the tenant chosen may have changed). */
export function refreshReplayTenant() {
  const tenant = shownTenant();
  tenantNote.textContent = tenant ? `Tenant ${tenantLabel(tenant)}.` : 'Choose a tenant above first.';
  forgetCount();
}

function showScope() {
  const scope = toTenant.checked ? 'tenant' : 'subscription';
  for (const part of form.querySelectorAll('[data-scope]')) part.hidden = part.dataset.scope !== scope;
}

function say(text, kind = 'info') {
  result.textContent = text;
  result.dataset.kind = kind;
  delete result.dataset.replayId;
}

/** A count no longer stands for what the form asks. */
function forgetCount() {
  if (!counted) return;
  counted = null;
  sendButton.hidden = true;
  say('The form changed: count the matching tasks again before sending them.');
}

/** The request the form asks for, or `{ problem }`. */
function replayRequest() {
  const body = {};
  if (toTenant.checked) {
    if (!shownTenant()) return { problem: 'Choose a tenant above first.' };
    body.tenant_id = shownTenant();
  } else {
    if (!subscriptions.has(select.value)) return { problem: 'Choose a subscription first.' };
    body.subscription_id = select.value;
  }
  const from = timeOf(since);
  if (!from) return { problem: 'Say from when: the tasks accepted since then are sent again.' };
  body.since = from;
  // Fixed now, so that the count and the replay cover the same tasks.
  body.until = timeOf(until) ?? new Date().toISOString();
  body.status = [...form.querySelectorAll('input[name=status]:checked')].map((box) => box.value);
  if (!body.status.length) return { problem: 'Choose at least one status.' };
  const patterns = patternsFromInput(eventTypes.value);
  if (patterns) body.event_types = patterns;
  if (target.value.trim()) body.target_url = target.value.trim();
  if (rate.value.trim()) body.rate_per_second = Number(rate.value);
  return { body };
}

async function countMatching() {
  const asked = replayRequest();
  counted = null;
  sendButton.hidden = true;
  if (asked.problem) {
    say(asked.problem, 'error');
    return;
  }
  say('Counting…');
  try {
    const answer = await send('POST', '/replays', { json: { ...asked.body, dry_run: true } });
    if (!answer.ok) {
      say(`Not counted: ${describe(answer)}`, 'error');
      return;
    }
    const matched = answer.body.matched;
    counted = { body: asked.body, matched };
    // The count stops at a bound: past it, the API says at least how many.
    const atLeast = answer.body.matched_exact === false ? 'At least ' : '';
    say(`${atLeast}${matched} task${matched === 1 ? '' : 's'} match.`, matched ? 'success' : 'info');
    sendButton.textContent = `Send ${matched === 1 ? 'it' : `these ${matched}`} again`;
    sendButton.hidden = matched === 0;
  } catch (error) {
    say(`Not counted: ${error.message}`, 'error');
  }
}

async function startReplay() {
  if (!counted) return;
  const { body, matched } = counted;
  sendButton.disabled = true;
  say('Starting the replay…');
  try {
    const answer = await send('POST', '/replays', { json: { ...body, dry_run: false } });
    if (!answer.ok) {
      say(`Not started: ${describe(answer)}`, 'error');
      return;
    }
    counted = null;
    sendButton.hidden = true;
    const id = answer.body.replay_id;
    const now = answer.body.matched ?? matched;
    say(`Replay ${shortId(id)} started: ${now} task${now === 1 ? '' : 's'} to send again. Its progress is below.`,
      'success');
    result.dataset.replayId = id;
    onStarted(id);
  } catch (error) {
    say(`Not started: ${error.message}`, 'error');
  } finally {
    sendButton.disabled = false;
  }
}

/** The RFC 3339 time of a datetime-local field (read in the reader's time zone), or null. */
function timeOf(input) {
  if (!input.value) return null;
  const at = new Date(input.value);
  return Number.isNaN(at.getTime()) ? null : at.toISOString();
}

/** A date as a datetime-local field shows it, to the second, in the reader's time zone. */
function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`
    + `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
