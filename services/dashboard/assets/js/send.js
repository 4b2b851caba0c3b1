// The "send a test event" form: a JSON editor validated as you type, the signature
// computed here over the exact bytes sent, and the API's answer shown as it came.

import { send } from './api.js';
import { el, fill } from './dom.js';
import { ingestSignature } from './signature.js';
import { subscriptionLabel, subscriptions } from './subscriptions.js';

const form = document.getElementById('send-form');
const select = document.getElementById('send-subscription');
const eventType = document.getElementById('send-event-type');
const body = document.getElementById('send-body');
const check = document.getElementById('send-body-check');
const sign = document.getElementById('send-sign');
const signNote = document.getElementById('send-sign-note');
const result = document.getElementById('send-result');

/** Wires the form; `showTask(id)` opens a task the API queued. */
export function setUpSend(showTask) {
  body.addEventListener('input', validate);
  select.addEventListener('change', describeSigning);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit(showTask);
  });
  validate();
}

/** Fills the subscription choice from the loaded subscriptions, keeping the selection. */
export function refreshSendChoices() {
  const selected = select.value;
  fill(select, ...[...subscriptions.keys()].map((id) => el('option', { value: id }, subscriptionLabel(id))));
  if (subscriptions.has(selected)) select.value = selected;
  if (!subscriptions.size) select.append(el('option', { value: '' }, 'no subscription yet'));
  describeSigning();
}

/** Chooses `id` in the form and brings the form into view. */
export function chooseSubscription(id) {
  select.value = id;
  describeSigning();
  form.scrollIntoView({ block: 'start' });
  body.focus();
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

async function submit(showTask) {
  const subscription = subscriptions.get(select.value);
  if (!subscription) {
    showAnswer(null, 'Choose a subscription first (create one above).');
    return;
  }
  // The exact bytes that are signed are the bytes that are sent.
  const bytes = new TextEncoder().encode(body.value);
  const headers = { 'Content-Type': 'application/json' };
  if (eventType.value.trim()) headers['X-Event-Type'] = eventType.value.trim();
  try {
    if (sign.checked && subscription.secret) {
      headers['X-Hub-Signature-256'] = await ingestSignature(subscription.secret, bytes);
    }
    fill(result, el('p', { className: 'note' }, 'Sending…'));
    const answer = await send('POST', `/ingest/${encodeURIComponent(subscription.id)}`, { body: bytes, headers });
    showAnswer(answer, null, showTask);
  } catch (error) {
    showAnswer(null, error.message);
  }
}

function showAnswer(answer, failure, showTask) {
  if (!answer) {
    fill(result, el('p', { className: 'note', attrs: { 'data-kind': 'error' } }, failure));
    return;
  }
  const kind = answer.ok ? 'success' : 'error';
  const taskId = answer.body?.task_id;
  const open = taskId ? el('button', { type: 'button', className: 'quiet', textContent: 'Show this task' }) : null;
  open?.addEventListener('click', () => showTask(taskId));
  fill(result,
    el('p', { className: 'answer-status', attrs: { 'data-kind': kind } },
      el('strong', { className: 'http-status' }, String(answer.status)), ' ', answer.body?.message ?? ''),
    el('pre', { className: 'json' }, JSON.stringify(answer.body, null, 2)),
    open);
}
