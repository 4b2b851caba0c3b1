// One event in detail: what was sent (type, tenant, payload) and the task it made for
// each subscription that wanted it, with their status. Refreshed by the page's poller
// while open, since its tasks move on; clicking a task opens it in the task panel.

import { get } from './api.js';
import { badge, el, fact, fill, shortId, state, time } from './dom.js';
import { subscriptionLabel } from './subscriptions.js';
import { tenantLabel } from './tenants.js';

const section = document.getElementById('event');
const title = document.getElementById('event-title');
const eventState = document.getElementById('event-state');
const summary = document.getElementById('event-summary');
const payload = document.getElementById('event-payload');
const tasks = document.getElementById('event-tasks');
const close = document.getElementById('event-close');

let currentId = null;
let lastShown = '';
let openTask = () => {};

/** Wires the panel; `showTask(id)` opens one of the event's tasks. */
export function setUpEvent(showTask) {
  openTask = showTask;
  close.addEventListener('click', closeEvent);
}

/** Closes the event panel (another tenant was chosen, or the reader is done with it). */
export function closeEvent() {
  currentId = null;
  section.hidden = true;
}

/** Opens event `id` and shows it at once. */
export async function showEvent(id) {
  currentId = id;
  lastShown = '';
  section.hidden = false;
  title.textContent = 'Event';
  fill(summary);
  fill(tasks);
  payload.textContent = '';
  state(eventState, 'Loading the event…');
  section.scrollIntoView({ block: 'start' });
  await load();
}

/** One poll: the open event again. */
export async function refreshEvent() {
  if (currentId) await load();
}

async function load() {
  const id = currentId;
  try {
    const event = await get(`/events/${encodeURIComponent(id)}`);
    if (currentId !== id) return;
    const shown = JSON.stringify(event);
    if (shown !== lastShown) {
      lastShown = shown;
      render(event);
    }
    state(eventState, '');
  } catch (error) {
    if (currentId === id) state(eventState, `Could not load the event: ${error.message}`, 'error');
  }
}

function render(event) {
  title.replaceChildren('Event ', el('code', {}, event.event_type));
  const made = event.tasks ?? [];
  fill(summary,
    ...fact('Event', el('code', {}, event.event_id)),
    ...fact('Tenant', tenantLabel(event.tenant_id)),
    ...fact('Accepted', time(event.accepted_at)),
    ...fact('Idempotency key', event.idempotency_key ?? '—'),
    ...fact('Tasks', String(made.length)));
  // The API answers null once the log no longer holds the payload.
  payload.textContent = event.payload === null
    ? '(no longer kept: past the log\'s retention)'
    : JSON.stringify(event.payload, null, 2);
  // Tasks move on while the event is open: keep the keyboard focus on the task it was on.
  const focused = tasks.contains(document.activeElement) ? document.activeElement.closest('li')?.dataset.taskId : null;
  fill(tasks, ...made.map(taskItem));
  if (!made.length) tasks.append(el('li', { className: 'muted' }, 'No subscription wanted this event.'));
  if (focused) tasks.querySelector(`li[data-task-id="${CSS.escape(focused)}"] button`)?.focus();
}

function taskItem(task) {
  const button = el('button', { type: 'button', className: 'feed-row task-row' },
    badge(task.status),
    el('span', { className: 'where' }, subscriptionLabel(task.subscription_id)),
    task.attempts_count === undefined
      ? null
      : el('span', { className: 'attempts' }, `${task.attempts_count} attempt${task.attempts_count === 1 ? '' : 's'}`),
    el('span', { className: 'visually-hidden' }, `task ${shortId(task.task_id)}`));
  button.addEventListener('click', () => openTask(task.task_id));
  return el('li', { attrs: { 'data-task-id': task.task_id } }, button);
}
