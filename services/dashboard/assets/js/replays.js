// The replays of the tenant chosen, newest first: each with its state, what it
// selected, and its progress as a bar (of the tasks matched: delivered, failed, queued
// and not yet ended), refreshed by the page's poller (see live_list.js for how rows are
// kept), with a button that cancels a running one.

import { describe, get, query, send } from './api.js';
import { badge, el, shortId, time } from './dom.js';
import { liveList } from './live_list.js';
import { subscriptionLabel } from './subscriptions.js';
import { listedTenant, showsSeveralTenants, tenantLabel } from './tenants.js';

const PAGE_SIZE = 20;
const SVG = 'http://www.w3.org/2000/svg';
const BAR_WIDTH = 300;
const BAR_HEIGHT = 12;

let replays = null;
let refreshNow = () => {};
/** What the last cancel said, by replay id, shown on its row until the list is restarted. */
const notes = new Map();

export function setUpReplays() {
  replays = liveList({
    list: document.getElementById('replays-list'),
    stateLine: document.getElementById('replays-state'),
    older: document.getElementById('replays-older'),
    noun: 'replays',
    filters: () => ({ tenant_id: listedTenant() }),
    fetchPage: async (asked, cursor) => {
      const page = await get(`/replays${query({ ...asked, limit: PAGE_SIZE, cursor })}`);
      return { items: page.replays, next_cursor: page.next_cursor };
    },
    idOf: (replay) => replay.replay_id,
    idAttribute: 'data-replay-id',
    rowClass: 'replay-row',
    rowContent,
    looks: (replay) => `${scopeLabel(replay)} ${notes.get(replay.replay_id)?.text ?? ''}`,
    emptyText: () => 'No replays yet.',
  });
}

/** How the poller is asked to refresh at once (a replay was started or cancelled). */
export function useReplaysRefresh(now) {
  replays.useRefresh(now);
  refreshNow = now;
}

/** One poll: the newest page again. */
export function refreshReplays() {
  return replays.refresh();
}

/** Lists the replays of the tenant now chosen. */
export function restartReplays() {
  notes.clear();
  replays.restart();
}

/** Shows a replay just started: asks for the list again at once. */
export function replayStarted() {
  refreshNow();
}

function scopeLabel(replay) {
  const subscription = replay.selection?.subscription_id;
  if (subscription) return subscriptionLabel(subscription);
  return `every enabled subscription of ${tenantLabel(replay.tenant_id)}`;
}

function rowContent(replay) {
  const selection = replay.selection ?? {};
  const statuses = (selection.status ?? []).join(', ');
  const types = selection.event_types?.length ? ` · event types ${selection.event_types.join(', ')}` : '';
  const note = notes.get(replay.replay_id);
  return [
    el('p', { className: 'replay-head' },
      badge(replay.state), ' ', el('strong', {}, scopeLabel(replay)),
      showsSeveralTenants() && selection.subscription_id ? ` (${tenantLabel(replay.tenant_id)})` : '',
      el('span', { className: 'visually-hidden' }, ` replay ${shortId(replay.replay_id)}`)),
    el('p', { className: 'muted' },
      `${statuses || 'any'} tasks accepted from `, time(selection.since), ' to ', time(selection.until), types),
    replay.target_url ? el('p', { className: 'muted' }, 'Sent to ', el('code', {}, replay.target_url)) : null,
    progressBar(replay),
    el('p', { className: 'replay-counts' }, counts(replay)),
    el('p', { className: 'muted' }, `At most ${replay.rate_per_second}/s · started `, time(replay.started_at),
      ...(replay.cancelled_at ? [' · cancelled ', time(replay.cancelled_at)] : []),
      ...(replay.finished_at ? [' · ended ', time(replay.finished_at)] : [])),
    replay.reason ? el('p', { className: 'error-text' }, replay.reason) : null,
    replay.state === 'running' ? cancelButton(replay) : null,
    note ? el('p', { className: 'note', attrs: { 'data-kind': note.kind } }, note.text) : null,
  ];
}

/**
 * The replay's numbers. The queued count is recorded after each page the replay walks,
 * the outcomes as attempts end, so an outcome may be known before its task is counted
 * as queued: an ended task was queued, whatever the last count says.
 */
function progress(replay) {
  const delivered = replay.delivered ?? 0;
  const failed = replay.failed ?? 0;
  const queued = Math.max(replay.queued ?? 0, delivered + failed);
  return { matched: replay.matched ?? 0, queued, delivered, failed };
}

function counts(replay) {
  const { matched, queued, delivered, failed } = progress(replay);
  return `${matched} matched · ${queued} queued · ${delivered} delivered · ${failed} failed`;
}

/** Of the tasks matched: delivered, failed, queued and not yet ended, the rest not yet queued. */
function progressBar(replay) {
  const { matched, queued, delivered, failed } = progress(replay);
  const whole = Math.max(matched, queued, 1);
  const parts = [['delivered', delivered], ['failed', failed], ['queued', queued - delivered - failed]];
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${BAR_WIDTH} ${BAR_HEIGHT}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('class', 'progress');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `Progress: ${counts(replay)}`);
  let x = 0;
  for (const [part, n] of parts) {
    const width = (n / whole) * BAR_WIDTH;
    if (width <= 0) continue;
    const rect = document.createElementNS(SVG, 'rect');
    rect.setAttribute('x', String(x));
    rect.setAttribute('y', '0');
    rect.setAttribute('width', String(width));
    rect.setAttribute('height', String(BAR_HEIGHT));
    rect.setAttribute('class', `part-${part}`);
    svg.append(rect);
    x += width;
  }
  return svg;
}

function cancelButton(replay) {
  const id = replay.replay_id;
  const button = el('button', { type: 'button', className: 'quiet danger cancel', textContent: 'Cancel' });
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const answer = await send('DELETE', `/replays/${encodeURIComponent(id)}`);
      notes.set(id, answer.ok
        ? { kind: 'success', text: 'Cancelled: nothing more is queued; what is queued already is still sent.' }
        : { kind: 'error', text: `Not cancelled: ${describe(answer)}` });
    } catch (error) {
      notes.set(id, { kind: 'error', text: `Not cancelled: ${error.message}` });
    } finally {
      button.disabled = false;
    }
    refreshNow();
  });
  return button;
}
