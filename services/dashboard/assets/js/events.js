// The events panel: the events sent to the tenant chosen, newest first, filtered by
// event type, refreshed by the page's poller (see live_list.js for how rows are kept).
// The API lists one tenant's events at a time, so "all tenants" asks for a choice.

import { get, query } from './api.js';
import { el, shortId, time } from './dom.js';
import { liveList } from './live_list.js';
import { listedTenant, showsSeveralTenants } from './tenants.js';

const PAGE_SIZE = 25;

const filterForm = document.getElementById('events-filter');
const typeFilter = document.getElementById('events-type');

let events = null;
/** The event type the list is asked for: the field's value once submitted or left. */
let eventType = '';

/** Wires the panel; `showEvent(id)` opens an event. */
export function setUpEvents(showEvent) {
  events = liveList({
    list: document.getElementById('events-list'),
    stateLine: document.getElementById('events-state'),
    older: document.getElementById('events-older'),
    noun: 'events',
    filters: () => ({ tenant_id: listedTenant(), event_type: eventType, several: showsSeveralTenants() }),
    fetchPage: async ({ several, ...asked }, cursor) => {
      if (several) return { items: [], next_cursor: null };
      const page = await get(`/events${query({ ...asked, limit: PAGE_SIZE, cursor })}`);
      return { items: page.events, next_cursor: page.next_cursor };
    },
    idOf: (event) => event.event_id,
    idAttribute: 'data-event-id',
    rowClass: 'event-row',
    rowContent,
    open: showEvent,
    emptyText: (asked) => {
      if (asked.several) return 'Choose a tenant above to see its events.';
      return asked.event_type ? `No ${asked.event_type} events.` : 'No events yet.';
    },
  });
  const apply = (event) => {
    event.preventDefault();
    if (typeFilter.value.trim() === eventType) return;
    eventType = typeFilter.value.trim();
    events.restart();
  };
  filterForm.addEventListener('submit', apply);
  filterForm.addEventListener('change', apply);
}

/** How the poller is asked to refresh at once (after a filter changed). */
export function useEventsRefresh(now) {
  events.useRefresh(now);
}

/** One poll: the newest page again. */
export function refreshEvents() {
  return events.refresh();
}

/** Lists the events of the tenant now chosen. */
export function restartEvents() {
  events.restart();
}

function rowContent(event) {
  // One task per subscription the event went to.
  const tasks = event.subscription_ids.length;
  return [
    el('span', { className: 'event-type' }, event.event_type),
    el('span', { className: 'task-count' }, `${tasks} task${tasks === 1 ? '' : 's'}`),
    el('span', { className: 'when' }, time(event.accepted_at)),
    el('span', { className: 'visually-hidden' }, `event ${shortId(event.event_id)}`),
  ];
}
