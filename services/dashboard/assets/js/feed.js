// The live feed of deliveries: the newest tasks of the tenant chosen, filtered by
// subscription and status, refreshed by the page's poller (see live_list.js for how rows are kept).

import { get, query } from './api.js';
import { badge, el, shortId, time } from './dom.js';
import { liveList } from './live_list.js';
import { fillSubscriptionChoices, subscriptionLabel } from './subscriptions.js';
import { listedTenant } from './tenants.js';

const PAGE_SIZE = 25;

const filterForm = document.getElementById('feed-filter');
const subscriptionFilter = document.getElementById('feed-subscription');
const statusFilter = document.getElementById('feed-status');

let feed = null;

/**
 * Wires the feed. `showTask(id)` opens a task; `changedSubscriptions(ids)` hears which
 * subscriptions had tasks change since the last refresh.
 */
export function setUpFeed({ showTask, changedSubscriptions }) {
  feed = liveList({
    list: document.getElementById('feed'),
    stateLine: document.getElementById('feed-state'),
    older: document.getElementById('feed-older'),
    noun: 'deliveries',
    filters,
    fetchPage: async (asked, cursor) => {
      const page = await get(`/tasks${query({ ...asked, limit: PAGE_SIZE, cursor })}`);
      return { items: page.tasks, next_cursor: page.next_cursor };
    },
    idOf: (task) => task.task_id,
    idAttribute: 'data-task-id',
    rowContent,
    looks: (task) => subscriptionLabel(task.subscription_id),
    open: showTask,
    emptyText: (asked) => (asked.subscription_id || asked.status ? 'No deliveries match these filters.' : 'No deliveries yet.'),
    changed: (tasks) => changedSubscriptions([...new Set(tasks.map((task) => task.subscription_id))]),
  });
  filterForm.addEventListener('change', feed.restart);
  filterForm.addEventListener('submit', (event) => event.preventDefault());
}

/** How the poller is asked to refresh at once (after a filter change). */
export function useRefresh(now) {
  feed.useRefresh(now);
}

/** One poll: the newest page again. */
export function refreshFeed() {
  return feed.refresh();
}

/** Fills the subscription filter from the loaded subscriptions, keeping the selection. */
export function refreshFeedChoices() {
  fillSubscriptionChoices(subscriptionFilter, { any: 'all' });
  // Rows shown before the subscriptions were known name them by id: name them now.
  feed.redraw();
}

/** Shows only the deliveries of `id` and brings the feed into view. */
export function filterBySubscription(id) {
  subscriptionFilter.value = id;
  feed.restart();
  filterForm.scrollIntoView({ block: 'start' });
}

/** Lists the deliveries of the tenant now chosen, of any of its subscriptions. */
export function restartFeed() {
  subscriptionFilter.value = '';
  feed.restart();
}

function filters() {
  return { tenant_id: listedTenant(), subscription_id: subscriptionFilter.value, status: statusFilter.value };
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
