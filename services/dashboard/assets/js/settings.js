// The settings panel: the API token, kept in localStorage. It opens by itself when the
// API answers 401 for want of a token.

import { onTokenNeeded, setToken, token } from './api.js';

const panel = document.getElementById('settings');
const toggle = document.getElementById('settings-toggle');
const form = document.getElementById('token-form');
const input = document.getElementById('token');
const forget = document.getElementById('token-forget');
const note = document.getElementById('token-status');

function open(isOpen) {
  panel.hidden = !isOpen;
  toggle.setAttribute('aria-expanded', String(isOpen));
}

/** Wires the panel; `onSaved` runs after the token changed, to load everything again. */
export function setUpSettings(onSaved) {
  input.value = token();
  note.textContent = token() ? 'A token is saved in this browser.' : 'No token saved.';
  toggle.addEventListener('click', () => open(panel.hidden));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    note.textContent = input.value.trim() ? 'Token saved.' : 'No token saved.';
    onSaved();
  });
  forget.addEventListener('click', () => {
    input.value = '';
    setToken('');
    note.textContent = 'Token forgotten.';
    onSaved();
  });
  onTokenNeeded((message) => {
    // Polling may ask again every tick: only move the focus the first time.
    const wasHidden = panel.hidden;
    open(true);
    note.textContent = message;
    if (wasHidden) input.focus();
  });
}
