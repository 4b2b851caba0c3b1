// The dead letters: the deliveries of the tenant chosen (or of one of its subscriptions)
// that failed for good, newest first, with their last error and when they failed,
// refreshed by the page's poller (see live_list.js for how rows are kept). A row opens
// its task, where it can be retried.

import { get, query } from './api.js';
import { el, shortId, time } from './dom.js';
import { liveList } from './live_list.js';
import { fillSubscriptionChoices, subscriptionLabel } from './subscriptions.js';
import { listedTenant } from './tenants.js';

const PAGE_SIZE = 25;

const filterForm = document.getElementById('dead-letters-filter');
const subscriptionFilter = document.getElementById('dead-letters-subscription');

let deadLetters = null;

/** Wires the panel; `showTask(id)` opens a dead letter's task. */
export function setUpDeadLetters(showTask) {
  deadLetters = liveList({
    list: document.getElementById('dead-letters-list'),
    stateLine: document.getElementById('dead-letters-state'),
    older: document.getElementById('dead-letters-older'),
    noun: 'dead letters',
    filters: () => ({ tenant_id: listedTenant(), subscription_id: subscriptionFilter.value }),
    fetchPage: async (asked, cursor) => {
      const page = await get(`/dead-letters${query({ ...asked, limit: PAGE_SIZE, cursor })}`);
      return { items: page.dead_letters, next_cursor: page.next_cursor };
    },
    idOf: (deadLetter) => deadLetter.task_id,
    idAttribute: 'data-task-id',
    rowClass: 'dead-letter-row',
    rowContent,
    looks: (deadLetter) => subscriptionLabel(deadLetter.subscription_id),
    open: showTask,
    emptyText: (asked) => (asked.subscription_id ? 'No dead letters for this subscription.' : 'No dead letters.'),
  });
  filterForm.addEventListener('change', deadLetters.restart);
  filterForm.addEventListener('submit', (event) => event.preventDefault());
}

/** How the poller is asked to refresh at once (after a filter change). */
export function useDeadLettersRefresh(now) {
  deadLetters.useRefresh(now);
}

/** One poll: the newest page again. */
export function refreshDeadLetters() {
  return deadLetters.refresh();
}

/** Lists the dead letters of the tenant now chosen, of any of its subscriptions. */
export function restartDeadLetters() {
  subscriptionFilter.value = '';
  deadLetters.restart();
}

/** Fills the subscription filter from the loaded subscriptions, keeping the selection. */
export function refreshDeadLetterChoices() {
  fillSubscriptionChoices(subscriptionFilter, { any: 'all' });
  deadLetters.redraw();
}

/** Shows only the dead letters of `id` and brings them into view. */
export function showDeadLettersOf(id) {
  subscriptionFilter.value = id;
  deadLetters.restart();
  filterForm.scrollIntoView({ block: 'start' });
}

function rowContent(deadLetter) {
  // The error names the receiver's status when there was one.
  const why = deadLetter.last_error
    ?? (deadLetter.last_http_status ? `HTTP ${deadLetter.last_http_status}` : 'no error recorded');
  return [
    el('span', { className: 'event-type' }, deadLetter.event_type ?? '(no event type)'),
    el('span', { className: 'where' }, subscriptionLabel(deadLetter.subscription_id)),
    el('span', { className: 'attempts' }, `${deadLetter.attempts} attempt${deadLetter.attempts === 1 ? '' : 's'}`),
    el('span', { className: 'error-text' }, why),
    el('span', { className: 'when' }, 'failed ', time(deadLetter.failed_at)),
    el('span', { className: 'visually-hidden' }, `task ${shortId(deadLetter.task_id)}`),
  ];
}
