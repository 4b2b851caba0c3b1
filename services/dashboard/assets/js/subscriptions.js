// The subscriptions panel: the list (paged with the API's cursor), the create form
// (delivery settings included), and the one copy of the loaded subscriptions that the other panels read.

import { call, describe, query, send } from './api.js';
import { settingsBody, settingsInputs } from './delivery_settings.js';
import { el, fill, state } from './dom.js';
import { patternsFromInput, renderCard } from './subscription_card.js';
import { listedTenant, targetTenant, targetTenantNote } from './tenants.js';

const PAGE_SIZE = 20;

const list = document.getElementById('subscription-list');
const listState = document.getElementById('subscriptions-state');
const more = document.getElementById('subscriptions-more');
const createForm = document.getElementById('create-form');
const createResult = document.getElementById('create-result');
const createSecret = document.getElementById('create-secret');
const createGenerate = document.getElementById('create-generate');
const createTenant = document.getElementById('create-tenant');
const createSettings = settingsInputs('create');

/** Loaded subscriptions by id, in list order. */
export const subscriptions = new Map();
const cards = new Map();
const changeListeners = new Set();
let nextCursor = null;
let actions = {};

/** `listener()` runs whenever subscriptions are loaded, created, edited or deleted. */
export function onSubscriptionsChanged(listener) {
  changeListeners.add(listener);
}

function changed() {
  for (const listener of changeListeners) listener();
}

/** Wires the panel; `pageActions` lets a card open the send form, the feed or the dead letters on its subscription. */
export function setUpSubscriptions(pageActions) {
  actions = pageActions;
  more.addEventListener('click', () => loadPage(nextCursor));
  createForm.querySelector('button[type="submit"]').before(createSettings.group);
  createGenerate.addEventListener('change', () => {
    createSecret.disabled = createGenerate.checked;
  });
  createForm.addEventListener('submit', (event) => {
    event.preventDefault();
    create();
  });
}

/** Loads the first page again, replacing what was shown (the tenant chosen may have changed). */
export async function reloadSubscriptions() {
  createTenant.textContent = targetTenantNote();
  await loadPage(null);
}

async function loadPage(cursor) {
  more.disabled = true;
  if (!cursor) state(listState, 'Loading subscriptions…');
  try {
    const tenant = listedTenant();
    const answer = await call('GET', `/subscriptions${query({ tenant_id: tenant, limit: PAGE_SIZE, cursor })}`);
    // Another tenant was chosen meanwhile: its own load shows its subscriptions.
    if (tenant !== listedTenant()) return;
    if (!cursor) {
      subscriptions.clear();
      cards.clear();
      fill(list);
    }
    for (const subscription of answer.body) {
      // One created here meanwhile is already shown, at the top.
      if (cards.has(subscription.id)) continue;
      subscriptions.set(subscription.id, subscription);
      addCard(subscription);
    }
    nextCursor = answer.headers.get('X-Next-Cursor');
    more.hidden = !nextCursor;
    state(listState, subscriptions.size ? '' : 'No subscriptions yet: create one above.', 'empty');
    changed();
  } catch (error) {
    state(listState, `Could not load subscriptions: ${error.message}`, 'error');
  } finally {
    more.disabled = false;
  }
}

/** Shows `updated` on its card, if it is loaded (changed elsewhere on the page). */
export function showUpdated(updated) {
  if (!subscriptions.has(updated.id)) return;
  subscriptions.set(updated.id, updated);
  const replacement = cardFor(updated);
  cards.get(updated.id)?.replaceWith(replacement);
  cards.set(updated.id, replacement);
  changed();
}

function cardFor(subscription) {
  return renderCard(subscription, {
    ...actions,
    updated: showUpdated,
    deleted: (id) => {
      subscriptions.delete(id);
      cards.get(id)?.remove();
      cards.delete(id);
      if (!subscriptions.size) state(listState, 'No subscriptions yet: create one above.', 'empty');
      changed();
    },
  });
}

function addCard(subscription, { first = false } = {}) {
  const card = cardFor(subscription);
  cards.set(subscription.id, card);
  if (first) list.prepend(card);
  else list.append(card);
}

async function create() {
  const form = new FormData(createForm);
  const body = { target_url: String(form.get('target_url')).trim() };
  if (createGenerate.checked) {
    body.generate_secret = true;
  } else if (String(form.get('secret') ?? '')) {
    body.secret = String(form.get('secret'));
  }
  const patterns = patternsFromInput(String(form.get('event_types')));
  if (patterns) body.event_types = patterns;
  if (form.get('ordering')) body.ordering = 'key';
  if (targetTenant()) body.tenant_id = targetTenant();
  Object.assign(body, settingsBody(createSettings.inputs));

  createResult.textContent = 'Creating…';
  createResult.dataset.kind = 'info';
  let answer;
  try {
    answer = await send('POST', '/subscriptions', { json: body });
  } catch (error) {
    showCreateError(error.message);
    return;
  }
  if (!answer.ok) {
    showCreateError(describe(answer));
    return;
  }
  const created = answer.body;
  subscriptions.set(created.id, created);
  addCard(created, { first: true });
  state(listState, '');
  createForm.reset();
  createSecret.disabled = false;
  createResult.dataset.kind = 'success';
  createResult.textContent = created.secret && body.generate_secret
    ? 'Subscription created with a generated secret: copy it from its card.'
    : 'Subscription created.';
  changed();
}

function showCreateError(message) {
  createResult.dataset.kind = 'error';
  createResult.textContent = `Not created: ${message}`;
}

/** A short human name for a subscription in lists and selects. */
export function subscriptionLabel(id) {
  const subscription = subscriptions.get(id);
  return subscription ? subscription.target_url : `subscription ${id.slice(0, 8)}`;
}


/**
 * Fills a subscription <select> with the loaded subscriptions, first an option '' named
 * `any` when given, keeping the selection (even one of a subscription not loaded).
 */
export function fillSubscriptionChoices(select, { any } = {}) {
  const selected = select.value;
  fill(select, any ? el('option', { value: '' }, any) : null,
    ...[...subscriptions.keys()].map((id) => el('option', { value: id }, subscriptionLabel(id))));
  if (selected && !subscriptions.has(selected)) select.append(el('option', { value: selected }, subscriptionLabel(selected)));
  // Without a choice yet, a select without `any` shows its first subscription.
  if (selected || any) select.value = selected;
}
