// Disabled subscriptions: the tenant chosen's, each with why it was disabled and a
// button that enables it again. The API lists subscriptions a page at a time and
// `enabled=false` thins each page, so a look reads a few pages and "Look further" goes
// on from there. While one look covers every subscription, the poller looks again now
// and then: the delivery role disables subscriptions whose receivers are gone or keep
// failing.
//
// Enabling states the version it builds on: the subscription is read again, and if it
// is no longer what was shown (changed since, by its `updated_at`) the reader is shown
// what it is now instead; otherwise the PUT carries `If-Match` with the version read,
// so a change that lands in between is refused (412) rather than overwritten.

import { describe, query, send } from './api.js';
import { badge, el, fact, fill, state, time } from './dom.js';
import { listedTenant, showsSeveralTenants, tenantLabel } from './tenants.js';

/** Subscriptions examined per request (the API's largest page). */
const PAGE_SIZE = 1000;
/** Requests per look, so that a look at a large tenant stays cheap. */
const PAGES_PER_LOOK = 5;
/** How often the poller looks again, while one look covers every subscription. */
const LOOK_EVERY_MS = 10_000;

const list = document.getElementById('disabled-list');
const listState = document.getElementById('disabled-state');
const further = document.getElementById('disabled-further');
const check = document.getElementById('disabled-check');
const panelNote = document.getElementById('disabled-note');

/** The disabled subscriptions shown, by id, in list order. */
const shown = new Map();
/** What the panel last said about a subscription, by id: it outlives its item being redrawn. */
const notes = new Map();
let nextCursor = null;
let lastLook = 0;
/** The look under way, so that two never interleave. */
let looking = Promise.resolve();
let onChanged = () => {};

/** Wires the panel; `changedHere(subscription)` hears of every subscription that it learnt changed. */
export function setUpDisabled(changedHere) {
  onChanged = changedHere;
  check.addEventListener('click', lookAgain);
  further.addEventListener('click', () => queueLook(nextCursor));
}

/** One poll: looks again when the last look covered everything and is old enough. */
export function refreshDisabled() {
  if (nextCursor || Date.now() - lastLook < LOOK_EVERY_MS) return Promise.resolve();
  return lookAgain();
}

/** Looks from the first subscription again, replacing what is shown (another tenant was chosen). */
export function lookAgain() {
  return queueLook(null);
}

function queueLook(cursor) {
  looking = looking.then(() => look(cursor));
  return looking;
}

async function look(cursor) {
  lastLook = Date.now();
  const fromStart = !cursor;
  const tenant = listedTenant();
  further.disabled = true;
  if (fromStart && !shown.size) state(listState, 'Loading disabled subscriptions…');
  try {
    const found = [];
    let pages = 0;
    do {
      const path = `/subscriptions${query({ tenant_id: tenant, enabled: 'false', limit: PAGE_SIZE, cursor })}`;
      const answer = await send('GET', path);
      if (!answer.ok) throw new Error(describe(answer));
      found.push(...answer.body);
      cursor = answer.headers.get('X-Next-Cursor');
      pages += 1;
    } while (cursor && pages < PAGES_PER_LOOK);
    // Another tenant was chosen meanwhile: its own look shows its subscriptions.
    if (tenant !== listedTenant()) return;
    if (fromStart) {
      shown.clear();
      for (const id of notes.keys()) if (!found.some((subscription) => subscription.id === id)) notes.delete(id);
    }
    for (const subscription of found) shown.set(subscription.id, subscription);
    nextCursor = cursor;
    render();
  } catch (error) {
    state(listState, `Could not load disabled subscriptions: ${error.message}`, 'error');
  } finally {
    further.disabled = false;
  }
}

function render() {
  const items = [...shown.values()];
  // Items whose subscription did not change keep their node, and with it any note or focus.
  const kept = new Map([...list.children].map((item) => [item.dataset.subscriptionId, item]));
  fill(list, ...items.map((subscription) => {
    const item = kept.get(subscription.id);
    return item && item.dataset.shown === JSON.stringify(subscription) ? item : itemFor(subscription);
  }));
  further.hidden = !nextCursor;
  const text = nextCursor
    ? 'None disabled among the subscriptions looked at so far.'
    : 'No disabled subscriptions.';
  state(listState, items.length ? '' : text, 'empty');
}

function itemFor(subscription) {
  const id = subscription.id;
  const note = el('p', { className: 'note', attrs: { 'aria-live': 'polite' } });
  note.textContent = notes.get(id)?.text ?? '';
  note.dataset.kind = notes.get(id)?.kind ?? 'info';
  const say = (text, kind = 'info') => {
    notes.set(id, { text, kind });
    // The item shown now, which may be a newer one than this.
    const current = list.querySelector(`li[data-subscription-id="${CSS.escape(id)}"] .note`);
    if (current) {
      current.textContent = text;
      current.dataset.kind = kind;
    }
  };
  const button = el('button', { type: 'button', className: 'reenable', textContent: 'Re-enable' });
  button.addEventListener('click', async () => {
    button.disabled = true;
    panelNote.textContent = '';
    // Once enabled, the item leaves the list: the panel's note says so.
    if (await reenable(subscription, say)) {
      panelNote.dataset.kind = 'success';
      panelNote.textContent = `Enabled ${subscription.target_url}: what was kept for it is being sent.`;
    }
    button.disabled = false;
  });
  const attrs = { 'data-subscription-id': id, 'data-shown': JSON.stringify(subscription) };
  return el('li', { className: 'card', attrs },
    el('h3', { className: 'target' }, subscription.target_url),
    el('p', { className: 'state-line' }, badge('disabled'), ' ',
      el('span', { className: 'reason' }, subscription.disabled_reason ?? 'no reason given')),
    el('dl', { className: 'facts' },
      ...fact('ID', el('code', {}, subscription.id)),
      ...(showsSeveralTenants() ? fact('Tenant', tenantLabel(subscription.tenant_id)) : []),
      ...fact('Since', time(subscription.updated_at))),
    el('div', { className: 'actions' }, button),
    note);
}

/**
 * Enables `subscription` (as the page showed it) again, unless it changed since; says
 * how it went with `say(text, kind)` and returns whether it did. Used by this panel and
 * by the subscription cards.
 */
export async function reenable(subscription, say) {
  const path = `/subscriptions/${encodeURIComponent(subscription.id)}`;
  say('Enabling…');
  try {
    const read = await send('GET', path);
    if (!read.ok) {
      say(`Not enabled: ${describe(read)}`, 'error');
      return false;
    }
    const current = read.body;
    if (current.enabled) {
      say('It was enabled meanwhile.', 'success');
      changed(current);
      return false;
    }
    if (current.updated_at !== subscription.updated_at) {
      changed(current);
      say(`It changed meanwhile and is shown as it is now (${current.disabled_reason ?? 'disabled'}): `
        + 'enable it again if you still want to.', 'error');
      return false;
    }
    const headers = { 'If-Match': read.headers.get('ETag') };
    const answer = await send('PUT', path, { json: { enabled: true }, headers });
    if (answer.status === 412) {
      say('It changed while it was being enabled: look at it again.', 'error');
      return false;
    }
    if (!answer.ok) {
      say(`Not enabled: ${describe(answer)}`, 'error');
      return false;
    }
    say('Enabled: what was kept for it is being sent.', 'success');
    changed(answer.body);
    return true;
  } catch (error) {
    say(`Not enabled: ${error.message}`, 'error');
    return false;
  }
}

/** Shows what a subscription is now, here and wherever else it is shown. */
function changed(subscription) {
  if (subscription.enabled) shown.delete(subscription.id);
  else if (shown.has(subscription.id)) shown.set(subscription.id, subscription);
  render();
  onChanged(subscription);
}
