// One delivery task in detail: its state, every attempt as a timeline (oldest first),
// and "Retry now" once it has failed. Refreshed by the page's poller until it settles.

import { describe, get, send } from './api.js';
import { badge, el, fact, fill, state, time } from './dom.js';
import { subscriptionLabel } from './subscriptions.js';

const SETTLED = new Set(['succeeded', 'failed']);

const section = document.getElementById('task');
const title = document.getElementById('task-title');
const taskState = document.getElementById('task-state');
const summary = document.getElementById('task-summary');
const retry = document.getElementById('task-retry');
const retryResult = document.getElementById('task-retry-result');
const timeline = document.getElementById('task-timeline');
const close = document.getElementById('task-close');

let current = null;
let lastShown = '';
/** After a retry was asked: the attempts count then, until the task is seen moving again. */
let retriedAfter = null;

export function setUpTask() {
  close.addEventListener('click', closeTask);
  retry.addEventListener('click', retryNow);
}

/** Closes the task panel (another tenant was chosen, or the reader is done with it). */
export function closeTask() {
  current = null;
  section.hidden = true;
}

/** Opens task `id` and shows it at once. */
export async function showTask(id) {
  current = { id, status: null, attempts: 0 };
  lastShown = '';
  retriedAfter = null;
  section.hidden = false;
  title.textContent = 'Delivery task';
  fill(summary);
  fill(timeline);
  retry.hidden = true;
  retryResult.textContent = '';
  state(taskState, 'Loading the task…');
  section.scrollIntoView({ block: 'start' });
  await load();
}

/** One poll: the open task again, unless it has settled. */
export async function refreshTask() {
  if (current && (!SETTLED.has(current.status) || retriedAfter !== null)) await load();
}

async function load() {
  const id = current?.id;
  if (!id) return;
  try {
    const task = await get(`/status/delivery_tasks/${encodeURIComponent(id)}`);
    if (current?.id !== id) return;
    if (retriedAfter !== null && (task.status !== 'failed' || task.attempts_count > retriedAfter)) retriedAfter = null;
    current.status = task.status;
    current.attempts = task.attempts_count;
    const shown = JSON.stringify(task);
    if (shown !== lastShown) {
      lastShown = shown;
      render(task);
    }
    state(taskState, '');
  } catch (error) {
    if (current?.id === id) state(taskState, `Could not load the task: ${error.message}`, 'error');
  }
}

function render(task) {
  title.replaceChildren('Delivery task ', badge(task.status));
  fill(summary,
    ...fact('Task', el('code', {}, task.task_id)),
    ...fact('Subscription', subscriptionLabel(task.subscription_id)),
    ...fact('Event type', task.event_type ?? '(none)'),
    ...fact('Attempts', String(task.attempts_count)),
    ...fact('Created', time(task.created_at)),
    ...fact('Last attempt', time(task.last_attempt_at)),
    ...fact('Next attempt', time(task.next_attempt_at)),
    ...fact('Last HTTP status', task.last_http_status ? String(task.last_http_status) : '—'),
    ...fact('Last error', task.last_error ?? '—'));
  retry.hidden = task.status !== 'failed';
  fill(timeline, ...(task.attempts ?? []).map(attemptItem));
  if (!task.attempts?.length) timeline.append(el('li', { className: 'muted' }, 'No attempt yet.'));
}

function attemptItem(attempt) {
  return el('li', { className: `attempt outcome-${attempt.outcome}`, attrs: { 'data-attempt': attempt.attempt_number } },
    el('p', { className: 'attempt-head' },
      el('strong', {}, `Attempt ${attempt.attempt_number}`), ' ', badge(attempt.outcome), ' ',
      el('span', {}, attempt.http_status ? `HTTP ${attempt.http_status}` : 'no HTTP answer'),
      ` · ${attempt.latency_ms} ms · `, time(attempt.timestamp)),
    attempt.error_details ? el('p', { className: 'error-text' }, attempt.error_details) : null,
    attempt.response_body
      ? el('details', {}, el('summary', {}, 'Response body'), el('pre', { className: 'json' }, attempt.response_body))
      : null,
    attempt.next_attempt_at ? el('p', { className: 'muted' }, 'Next attempt ', time(attempt.next_attempt_at)) : null);
}

async function retryNow() {
  const id = current?.id;
  if (!id) return;
  retry.disabled = true;
  retryResult.dataset.kind = 'info';
  retryResult.textContent = 'Asking for a retry…';
  try {
    const answer = await send('POST', `/tasks/${encodeURIComponent(id)}/retry`);
    if (answer.ok && current?.id === id) {
      retriedAfter = current.attempts;
      retryResult.dataset.kind = 'success';
      retryResult.textContent = `${answer.body?.message ?? 'Retry queued'} (attempt ${answer.body?.attempt_number ?? '?'}).`;
      retry.hidden = true;
      await load();
    } else if (!answer.ok) {
      retryResult.dataset.kind = 'error';
      retryResult.textContent = `No retry: ${describe(answer)}`;
    }
  } catch (error) {
    retryResult.dataset.kind = 'error';
    retryResult.textContent = `No retry: ${error.message}`;
  } finally {
    retry.disabled = false;
  }
}

