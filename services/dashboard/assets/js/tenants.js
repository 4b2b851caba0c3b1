// Whose things the page shows. The API tells what kind of caller this is by what it
// lists: an operator sees every tenant (the default one at least) and chooses one, or
// all of them, here; a tenant token sees only its own tenant, which is then simply
// named. The choice scopes the lists, and is where new subscriptions and events go.

import { get, query } from './api.js';
import { el, fill, state } from './dom.js';

/** The tenant that always exists, where an operator's new things go while viewing all. */
const DEFAULT_TENANT = 'default';
const PAGE_SIZE = 100;

const chooser = document.getElementById('tenant-chooser');
const select = document.getElementById('tenant');
const own = document.getElementById('tenant-own');
const ownName = document.getElementById('tenant-name');
const tenantState = document.getElementById('tenant-state');

/** The tenants listed, by id, in the API's order. */
const tenants = new Map();
/** Whether there is a choice to make: an operator's view of several tenants. */
let choosing = false;
const changeListeners = new Set();

/** `listener()` runs when the tenant chosen changes, or the tenants were loaded again. */
export function onTenantChanged(listener) {
  changeListeners.add(listener);
}

function changed() {
  for (const listener of changeListeners) listener();
}

export function setUpTenants() {
  select.addEventListener('change', () => {
    // In the address, so that a reload or a shared link shows the same tenant.
    history.replaceState(null, '', select.value ? `#tenant=${encodeURIComponent(select.value)}` : location.pathname);
    changed();
  });
}

/** The tenant named in the address, if any. */
function tenantInAddress() {
  return new URLSearchParams(location.hash.slice(1)).get('tenant') ?? '';
}

/** Loads the tenants (every page) and shows the chooser or the one tenant's name. */
export async function loadTenants() {
  const chosen = select.value || tenantInAddress();
  state(tenantState, 'Loading tenants…');
  try {
    const listed = [];
    let cursor = null;
    do {
      const page = await get(`/tenants${query({ limit: PAGE_SIZE, cursor })}`);
      listed.push(...(page.tenants ?? []));
      cursor = page.next_cursor ?? null;
    } while (cursor);
    tenants.clear();
    for (const tenant of listed) tenants.set(tenant.id, tenant);
    state(tenantState, '');
  } catch (error) {
    tenants.clear();
    state(tenantState, `Could not load tenants: ${error.message}`, 'error');
  }
  choosing = tenants.size > 1;
  chooser.hidden = !choosing;
  own.hidden = tenants.size !== 1;
  if (tenants.size === 1) ownName.textContent = tenantLabel([...tenants.keys()][0]);
  fill(select, el('option', { value: '' }, 'All tenants'),
    ...[...tenants.keys()].map((id) => el('option', { value: id }, tenantLabel(id))));
  select.value = tenants.has(chosen) ? chosen : '';
  changed();
}

/** The tenant the lists are asked for: '' for every one the caller may see. */
export function listedTenant() {
  return choosing ? select.value : '';
}

/** The tenant named on new subscriptions and events: '' to leave it to the API (the caller's own). */
export function targetTenant() {
  return choosing ? select.value || DEFAULT_TENANT : '';
}

/** Says which tenant new things go to, when it is known. */
export function targetTenantNote() {
  if (!choosing && tenants.size !== 1) return '';
  return `For tenant ${tenantLabel(choosing ? targetTenant() : [...tenants.keys()][0])}.`;
}

/** The one tenant the page shows (the one chosen, or a tenant token's own); '' while it shows several. */
export function shownTenant() {
  if (choosing) return select.value;
  return tenants.size === 1 ? [...tenants.keys()][0] : '';
}

/** Whether things of several tenants are listed together, so that each must say whose it is. */
export function showsSeveralTenants() {
  return choosing && !select.value;
}

/** A tenant's name and id, as lists and choices show it. */
export function tenantLabel(id) {
  const tenant = tenants.get(id);
  return tenant && tenant.name !== id ? `${tenant.name} (${id})` : id;
}
