// The live feed of deliveries: the newest tasks, filtered by subscription and status,
// refreshed by the page's poller. Rows are kept and updated in place, so a refresh
// that changes nothing touches nothing and keyboard focus survives one that does.

import { get, query } from './api.js';
import { badge, el, fill, shortId, state, time } from './dom.js';
import { subscriptionLabel, subscriptions } from './subscriptions.js';

const PAGE_SIZE = 25;

const filterForm = document.getElementById('feed-filter');
const subscriptionFilter = document.getElementById('feed-subscription');
const statusFilter = document.getElementById('feed-status');
const list = document.getElementById('feed');
const feedState = document.getElementById('feed-state');
const older = document.getElementById('feed-older');

/** Rows on screen by task id: the <li>, its button, and the task and label it last showed. */
const rows = new Map();
let head = [];
let olderPages = [];
let olderCursor = null;
/** Whether the feed has been shown since the last (re)start: only then are changes news. */
let primed = false;
let openTask = () => {};
let tasksChanged = () => {};
let refreshNow = () => {};

/**
 * Wires the feed. `showTask(id)` opens a task; `changedSubscriptions(ids)` hears which
 * subscriptions had tasks change since the last refresh.
 */
export function setUpFeed({ showTask, changedSubscriptions }) {
  openTask = showTask;
  tasksChanged = changedSubscriptions;
  filterForm.addEventListener('change', restart);
  filterForm.addEventListener('submit', (event) => event.preventDefault());
  older.addEventListener('click', loadOlder);
}

/** How the poller is asked to refresh at once (after a filter change). */
export function useRefresh(now) {
  refreshNow = now;
}

/** Fills the subscription filter from the loaded subscriptions, keeping the selection. */
export function refreshFeedChoices() {
  const selected = subscriptionFilter.value;
  fill(subscriptionFilter, el('option', { value: '' }, 'all'),
    ...[...subscriptions.keys()].map((id) => el('option', { value: id }, subscriptionLabel(id))));
  if (selected && !subscriptions.has(selected)) {
    subscriptionFilter.append(el('option', { value: selected }, subscriptionLabel(selected)));
  }
  subscriptionFilter.value = selected;
  // Rows shown before the subscriptions were known name them by id: name them now.
  if (rows.size) render();
}

/** Shows only the deliveries of `id` and brings the feed into view. */
export function filterBySubscription(id) {
  subscriptionFilter.value = id;
  restart();
  filterForm.scrollIntoView({ block: 'start' });
}

function filters() {
  return { subscription_id: subscriptionFilter.value, status: statusFilter.value };
}

/** Whether the filters are still those an answer was asked with (they may change meanwhile). */
function stillAsked(asked) {
  return JSON.stringify(asked) === JSON.stringify(filters());
}

function restart() {
  head = [];
  olderPages = [];
  olderCursor = null;
  primed = false;
  rows.clear();
  fill(list);
  state(feedState, 'Loading deliveries…');
  refreshNow();
}

/** One poll: the newest page again. */
export async function refreshFeed() {
  const asked = filters();
  try {
    const page = await get(`/tasks${query({ ...asked, limit: PAGE_SIZE })}`);
    if (!stillAsked(asked)) return;
    head = page.tasks ?? [];
    if (!olderPages.length) olderCursor = page.next_cursor ?? null;
    // The first rows after a (re)start are not news: statistics were loaded with the cards.
    render(primed);
    primed = true;
  } catch (error) {
    state(feedState, `Could not load deliveries: ${error.message}`, 'error');
  }
}

async function loadOlder() {
  older.disabled = true;
  const asked = filters();
  try {
    const page = await get(`/tasks${query({ ...asked, limit: PAGE_SIZE, cursor: olderCursor })}`);
    if (!stillAsked(asked)) return;
    olderPages.push(...(page.tasks ?? []));
    olderCursor = page.next_cursor ?? null;
    render();
  } catch (error) {
    state(feedState, `Could not load older deliveries: ${error.message}`, 'error');
  } finally {
    older.disabled = false;
  }
}

/** Shows the tasks loaded; with `news`, tells which subscriptions had tasks change. */
function render(news = false) {
  const seen = new Set();
  const tasks = [...head, ...olderPages].filter((task) => !seen.has(task.task_id) && seen.add(task.task_id));
  const changed = new Set();
  const wanted = tasks.map((task) => {
    let row = rows.get(task.task_id);
    if (!row) {
      row = newRow(task.task_id);
      rows.set(task.task_id, row);
    }
    const data = JSON.stringify(task);
    const label = subscriptionLabel(task.subscription_id);
    if (row.data !== data && news) changed.add(task.subscription_id);
    if (row.data !== data || row.label !== label) {
      fill(row.button, ...rowContent(task));
      row.item.dataset.status = task.status;
    }
    Object.assign(row, { data, label });
    return row.item;
  });
  place(wanted);
  for (const [id, row] of rows) {
    if (!row.item.isConnected) rows.delete(id);
  }
  older.hidden = !olderCursor;
  const filtered = filters().subscription_id || filters().status;
  state(feedState, tasks.length ? '' : filtered ? 'No deliveries match these filters.' : 'No deliveries yet.', 'empty');
  if (changed.size) tasksChanged([...changed]);
}

/** Puts `items` in `list` in this order, moving as few nodes as possible. */
function place(items) {
  items.forEach((item, index) => {
    if (list.children[index] !== item) list.insertBefore(item, list.children[index] ?? null);
  });
  while (list.children.length > items.length) list.lastElementChild.remove();
}

function newRow(taskId) {
  const button = el('button', { type: 'button', className: 'feed-row' });
  button.addEventListener('click', () => openTask(taskId));
  return { item: el('li', { attrs: { 'data-task-id': taskId } }, button), button, data: null, label: null };
}

function rowContent(task) {
  const detail = task.last_error
    ? el('span', { className: 'error-text' }, task.last_error)
    : el('span', { className: 'muted' }, task.last_http_status ? `HTTP ${task.last_http_status}` : 'no attempt yet');
  return [
    badge(task.status),
    el('span', { className: 'event-type' }, task.event_type ?? '(no event type)'),
    el('span', { className: 'where' }, subscriptionLabel(task.subscription_id)),
    el('span', { className: 'attempts' }, `${task.attempts_count} attempt${task.attempts_count === 1 ? '' : 's'}`),
    detail,
    el('span', { className: 'when' }, time(task.created_at)),
    el('span', { className: 'visually-hidden' }, `task ${shortId(task.task_id)}`),
  ];
}
