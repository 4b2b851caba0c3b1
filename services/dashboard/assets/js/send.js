// The "send a test event" form: a JSON editor validated as you type, then either a
// webhook to one subscription (signed here over the exact bytes sent) or an event to
// the tenant, for every subscription of it that wants its type. The API's answer is
// shown as it came, with a way to the tasks (and event) it made.

import { query, send } from './api.js';
import { el, fill, shortId } from './dom.js';
import { ingestSignature } from './signature.js';
import { subscriptionLabel, subscriptions } from './subscriptions.js';
import { targetTenant, targetTenantNote } from './tenants.js';

const form = document.getElementById('send-form');
const toTenant = document.getElementById('send-to-tenant');
const select = document.getElementById('send-subscription');
const tenantNote = document.getElementById('send-tenant');
const eventType = document.getElementById('send-event-type');
const eventTypeLabel = document.getElementById('send-event-type-label');
const idempotencyKey = document.getElementById('send-idempotency');
const body = document.getElementById('send-body');
const check = document.getElementById('send-body-check');
const sign = document.getElementById('send-sign');
const signNote = document.getElementById('send-sign-note');
const result = document.getElementById('send-result');

let open = { showTask: () => {}, showEvent: () => {} };

/** Wires the form; `showTask(id)` and `showEvent(id)` open what the API made. */
export function setUpSend(opener) {
  open = opener;
  body.addEventListener('input', validate);
  select.addEventListener('change', describeSigning);
  form.addEventListener('change', (event) => {
    if (event.target.name === 'send_to') showDestination();
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });
  validate();
  showDestination();
}

/** Fills the subscription choice from the loaded subscriptions, keeping the selection. */
export function refreshSendChoices() {
  const selected = select.value;
  fill(select, ...[...subscriptions.keys()].map((id) => el('option', { value: id }, subscriptionLabel(id))));
  if (subscriptions.has(selected)) select.value = selected;
  if (!subscriptions.size) select.append(el('option', { value: '' }, 'no subscription yet'));
  describeSigning();
}

/** Says which tenant an event goes to (the one chosen may have changed). */
export function refreshSendTenant() {
  tenantNote.textContent = targetTenantNote();
}

/** Chooses `id` in the form and brings the form into view. */
export function chooseSubscription(id) {
  document.getElementById('send-to-subscription').checked = true;
  showDestination();
  select.value = id;
  describeSigning();
  form.scrollIntoView({ block: 'start' });
  body.focus();
}

/** Shows only the fields of the destination chosen. */
function showDestination() {
  const destination = toTenant.checked ? 'tenant' : 'subscription';
  for (const part of form.querySelectorAll('[data-send-to]')) part.hidden = part.dataset.sendTo !== destination;
  eventType.required = toTenant.checked;
  eventTypeLabel.textContent = toTenant.checked ? 'Event type (required)' : 'Event type (optional)';
}

function validate() {
  try {
    JSON.parse(body.value);
    const size = new TextEncoder().encode(body.value).length;
    check.textContent = `Valid JSON, ${size} byte${size === 1 ? '' : 's'}.`;
    check.dataset.kind = 'success';
    body.removeAttribute('aria-invalid');
  } catch (error) {
    // Still sendable: the API's own answer to a body that is not JSON is worth seeing.
    check.textContent = `Not valid JSON: ${error.message}`;
    check.dataset.kind = 'error';
    body.setAttribute('aria-invalid', 'true');
  }
}

function describeSigning() {
  const subscription = subscriptions.get(select.value);
  sign.disabled = !subscription?.secret;
  signNote.textContent = subscription && !subscription.secret
    ? 'This subscription has no secret: events go unsigned.'
    : '';
}

async function submit() {
  // The exact bytes that are signed are the bytes that are sent.
  const bytes = new TextEncoder().encode(body.value);
  try {
    const request = toTenant.checked ? eventRequest() : await webhookRequest(bytes);
    if (request.problem) {
      showFailure(request.problem);
      return;
    }
    fill(result, el('p', { className: 'note' }, 'Sending…'));
    showAnswer(await send('POST', request.path, { body: bytes, headers: request.headers }));
  } catch (error) {
    showFailure(error.message);
  }
}

async function webhookRequest(bytes) {
  const subscription = subscriptions.get(select.value);
  if (!subscription) return { problem: 'Choose a subscription first (create one above).' };
  const headers = { 'Content-Type': 'application/json' };
  if (eventType.value.trim()) headers['X-Event-Type'] = eventType.value.trim();
  if (sign.checked && subscription.secret) {
    headers['X-Hub-Signature-256'] = await ingestSignature(subscription.secret, bytes);
  }
  return { path: `/ingest/${encodeURIComponent(subscription.id)}`, headers };
}

function eventRequest() {
  if (!eventType.value.trim()) return { problem: 'An event needs an event type.' };
  const headers = { 'Content-Type': 'application/json', 'X-Event-Type': eventType.value.trim() };
  if (idempotencyKey.value.trim()) headers['Idempotency-Key'] = idempotencyKey.value.trim();
  return { path: `/events${query({ tenant_id: targetTenant() })}`, headers };
}

function showFailure(message) {
  fill(result, el('p', { className: 'note', attrs: { 'data-kind': 'error' } }, message));
}

function showAnswer(answer) {
  const kind = answer.ok ? 'success' : 'error';
  fill(result,
    el('p', { className: 'answer-status', attrs: { 'data-kind': kind } },
      el('strong', { className: 'http-status' }, String(answer.status)), ' ', answer.body?.message ?? ''),
    ...madeBy(answer.body ?? {}),
    el('pre', { className: 'json' }, JSON.stringify(answer.body, null, 2)));
}

/** What an accepted webhook or event made, with buttons that open it. */
function madeBy({ task_id: taskId, event_id: eventId, task_ids: taskIds }) {
  const opener = (text, action) => {
    const button = el('button', { type: 'button', className: 'quiet', textContent: text });
    button.addEventListener('click', action);
    return button;
  };
  if (taskId) return [opener('Show this task', () => open.showTask(taskId))];
  if (!eventId) return [];
  const tasks = taskIds ?? [];
  return [
    el('p', { className: 'event-made' }, 'Event ', el('code', { className: 'event-id' }, eventId),
      ` made ${tasks.length} task${tasks.length === 1 ? '' : 's'}${tasks.length ? ':' : '.'}`),
    tasks.length
      ? el('ul', { className: 'made-tasks' }, ...tasks.map((id) =>
        el('li', { attrs: { 'data-task-id': id } }, opener(`Show task ${shortId(id)}`, () => open.showTask(id)))))
      : null,
    opener('Show this event', () => open.showEvent(eventId)),
  ];
}
