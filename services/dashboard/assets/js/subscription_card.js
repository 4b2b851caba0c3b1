// One subscription's card: what it is (URL, id, tenant, event types, secret, delivery
// settings, enabled or why not), its delivery statistics, and its actions: copy the
// secret, edit, delete, send a test event, show its deliveries or its dead letters,
// enable it again once disabled.

import { describe, send } from './api.js';
import { settingsBody, settingsInputs, settingsView } from './delivery_settings.js';
import { reenable } from './disabled.js';
import { badge, el, fact } from './dom.js';
import { statsView } from './stats.js';
import { showsSeveralTenants, tenantLabel } from './tenants.js';

/**
 * The card of `subscription`. `actions`: `updated(subscription)`, `deleted(id)`,
 * `sendTest(id)`, `showDeliveries(id)`, `showDeadLetters(id)`.
 */
export function renderCard(subscription, actions) {
  const id = subscription.id;
  const note = el('p', { className: 'note', attrs: { 'aria-live': 'polite' } });
  const say = (text, kind = 'info') => {
    note.textContent = text;
    note.dataset.kind = kind;
  };

  const editForm = editFormFor(subscription, actions, say);
  const confirmBox = confirmDelete(subscription, actions, say);
  const editButton = el('button', { type: 'button', className: 'quiet', textContent: 'Edit' });
  editButton.setAttribute('aria-expanded', 'false');
  editButton.addEventListener('click', () => {
    editForm.hidden = !editForm.hidden;
    editButton.setAttribute('aria-expanded', String(!editForm.hidden));
    if (!editForm.hidden) editForm.querySelector('input').focus();
  });
  const deleteButton = el('button', { type: 'button', className: 'quiet danger', textContent: 'Delete' });
  deleteButton.addEventListener('click', () => {
    confirmBox.hidden = false;
    confirmBox.querySelector('button').focus();
  });
  const sendButton = el('button', { type: 'button', className: 'quiet', textContent: 'Send test event' });
  sendButton.addEventListener('click', () => actions.sendTest(id));
  const feedButton = el('button', { type: 'button', className: 'quiet', textContent: 'Show deliveries' });
  feedButton.addEventListener('click', () => actions.showDeliveries(id));
  const deadLettersButton = el('button', { type: 'button', className: 'quiet', textContent: 'Show dead letters' });
  deadLettersButton.addEventListener('click', () => actions.showDeadLetters(id));

  const status = subscription.enabled
    ? [badge('enabled')]
    : [badge('disabled'), ' ', el('span', { className: 'reason' }, subscription.disabled_reason ?? 'no reason given')];

  return el('li', { className: 'card', attrs: { 'data-subscription-id': id } },
    el('h3', { className: 'target' }, subscription.target_url),
    el('p', { className: 'state-line' }, ...status),
    el('dl', { className: 'facts' },
      ...fact('ID', el('code', {}, id)),
      ...(showsSeveralTenants() ? fact('Tenant', tenantLabel(subscription.tenant_id)) : []),
      ...fact('Event types', ...patternsView(subscription.event_types)),
      ...fact('Ordering', subscription.ordering === 'key' ? 'by ordering key, one at a time' : 'none'),
      ...fact('Secret', ...secretView(subscription.secret, say)),
      ...fact('Delivery', ...settingsView(subscription))),
    statsView(id),
    el('div', { className: 'actions' },
      subscription.enabled ? null : reenableButton(subscription, say),
      sendButton, feedButton, deadLettersButton, editButton, deleteButton),
    editForm,
    confirmBox,
    note);
}

/** Enables the subscription again; the card is replaced once it is (see disabled.js). */
function reenableButton(subscription, say) {
  const button = el('button', { type: 'button', className: 'reenable', textContent: 'Re-enable' });
  button.addEventListener('click', async () => {
    button.disabled = true;
    await reenable(subscription, say);
    button.disabled = false;
  });
  return button;
}

/** Event-type patterns typed comma-separated, as a list, or null for "every event". */
export function patternsFromInput(text) {
  const patterns = text.split(',').map((pattern) => pattern.trim()).filter(Boolean);
  return patterns.length ? patterns : null;
}

function patternsView(patterns) {
  if (!patterns) return ['all'];
  return patterns.flatMap((pattern, index) => [index ? ', ' : null, el('code', { className: 'pattern' }, pattern)]);
}

function subscriptionPath(id) {
  return `/subscriptions/${encodeURIComponent(id)}`;
}

function secretView(secret, say) {
  if (!secret) return ['none (events are not signed)'];
  const copy = el('button', { type: 'button', className: 'quiet', textContent: 'Copy secret' });
  const fallback = el('input', { type: 'text', readOnly: true, value: secret, hidden: true, className: 'secret' });
  fallback.setAttribute('aria-label', 'Secret');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(secret);
      say('Secret copied to the clipboard.', 'success');
    } catch {
      // No clipboard (plain http page, or permission refused): let the reader copy it.
      fallback.hidden = false;
      fallback.select();
      say('The clipboard is not available here: the secret is selected, copy it by hand.', 'error');
    }
  });
  return [el('span', { className: 'masked' }, '••••••••'), ' ', copy, fallback];
}

function editFormFor(subscription, actions, say) {
  const id = subscription.id;
  const field = (name, label, input) => {
    input.id = `edit-${name}-${id}`;
    input.name = name;
    return [el('label', { htmlFor: input.id }, label), input];
  };
  const url = el('input', { type: 'url', value: subscription.target_url, required: true, spellcheck: false });
  const patterns = el('input', { type: 'text', value: (subscription.event_types ?? []).join(', '), spellcheck: false });
  const secret = el('input', { type: 'text', autocomplete: 'off', spellcheck: false, placeholder: 'unchanged' });
  const removeSecret = el('input', { type: 'checkbox', id: `edit-remove-secret-${id}` });
  const enabled = el('input', { type: 'checkbox', id: `edit-enabled-${id}`, checked: subscription.enabled });
  const ordered = el('input', { type: 'checkbox', id: `edit-ordering-${id}`, checked: subscription.ordering === 'key' });
  removeSecret.addEventListener('change', () => {
    secret.disabled = removeSecret.checked;
  });
  const settings = settingsInputs(`edit-${id}`, subscription);

  const form = el('form', { className: 'stack edit', hidden: true, noValidate: true },
    ...field('target_url', 'Target URL', url),
    ...field('event_types', 'Event types (comma-separated patterns such as order.*; empty: all)', patterns),
    ...field('secret', 'New secret (empty: keep the current one)', secret),
    el('label', { className: 'check' }, removeSecret, ' Remove the secret'),
    el('label', { className: 'check' }, enabled, ' Enabled'),
    el('label', { className: 'check' }, ordered, ' Ordered by key (same X-Ordering-Key: one at a time, in order)'),
    settings.group,
    el('button', { type: 'submit', textContent: 'Save changes' }));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    // PUT is partial: only what changed is sent, so nothing else is touched.
    const changes = {};
    if (url.value.trim() !== subscription.target_url) changes.target_url = url.value.trim();
    const newPatterns = patternsFromInput(patterns.value);
    if (JSON.stringify(newPatterns) !== JSON.stringify(subscription.event_types ?? null)) changes.event_types = newPatterns;
    if (removeSecret.checked) changes.secret = null;
    else if (secret.value) changes.secret = secret.value;
    if (enabled.checked !== subscription.enabled) changes.enabled = enabled.checked;
    if (ordered.checked !== (subscription.ordering === 'key')) changes.ordering = ordered.checked ? 'key' : 'none';
    Object.assign(changes, settingsBody(settings.inputs, subscription));
    if (!Object.keys(changes).length) {
      say('Nothing changed.');
      return;
    }
    say('Saving…');
    await answerOf(() => send('PUT', subscriptionPath(id), { json: changes }), say, 'Not saved', actions.updated);
  });
  return form;
}

function confirmDelete(subscription, actions, say) {
  const yes = el('button', { type: 'button', className: 'danger', textContent: 'Yes, delete it' });
  const no = el('button', { type: 'button', className: 'quiet', textContent: 'Cancel' });
  const box = el('div', { className: 'confirm', hidden: true, attrs: { role: 'group', 'aria-label': 'Confirm deletion' } },
    el('p', {}, 'Delete this subscription? Its pending deliveries end as failed.'), yes, no);
  no.addEventListener('click', () => {
    box.hidden = true;
  });
  yes.addEventListener('click', async () => {
    say('Deleting…');
    await answerOf(() => send('DELETE', subscriptionPath(subscription.id)), say, 'Not deleted',
      () => actions.deleted(subscription.id));
  });
  return box;
}

/** Runs a write; on success hands its body to `then`, else says why with the API's message. */
async function answerOf(request, say, failure, then) {
  try {
    const answer = await request();
    if (answer.ok) {
      then(answer.body);
      return;
    }
    say(`${failure}: ${describe(answer)}`, 'error');
  } catch (error) {
    say(`${failure}: ${error.message}`, 'error');
  }
}
