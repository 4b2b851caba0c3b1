// A list of things newest first, kept fresh by the page's poller: each refresh loads the
// newest page again, "load older" appends the pages after it (by the API's cursor), and
// rows are kept by id and redrawn only when what they show changed, so a refresh that
// changes nothing touches nothing and keyboard focus survives one that does.

import { el, fill, state } from './dom.js';

/**
 * Wires a live list. `options`:
 * - `list`, `stateLine`, `older`: the <ul>, its state line and its "load older" button;
 * - `noun`: what the items are, for the state line ("deliveries");
 * - `filters()`: what the list is asked with now (an object);
 * - `fetchPage(filters, cursor)`: resolves to `{ items, next_cursor }`;
 * - `idOf(item)`, `idAttribute`: each row's key and the attribute naming it (`data-task-id`);
 * - `rowClass`: optional, a class for each row besides `feed-row`;
 * - `rowContent(item)`: the children of a row; `looks(item)`: anything else
 *   the row shows besides the item itself (a label), so that a change redraws it;
 * - `open(id)`: optional, what clicking a row does: each row is then one button;
 *   without it a row is plain, and may hold buttons of its own;
 * - `emptyText(filters)`: what to say when nothing is listed;
 * - `changed(items)`: optional, hears the items that changed between two refreshes.
 * Returns `{ restart, refresh, redraw }`.
 */
export function liveList(options) {
  const { list, stateLine, older, noun, filters, fetchPage, idOf, idAttribute, rowContent, open, emptyText } = options;
  const looks = options.looks ?? (() => '');
  const changed = options.changed ?? (() => {});
  /** Rows on screen by id: the <li>, its content (a button or a plain box), and the item and looks it last showed. */
  const rows = new Map();
  let head = [];
  let olderPages = [];
  let olderCursor = null;
  /** Whether the list has been shown since the last (re)start: only then are changes news. */
  let primed = false;
  let refreshNow = () => {};

  /** Whether the filters are still those an answer was asked with (they may change meanwhile). */
  const stillAsked = (asked) => JSON.stringify(asked) === JSON.stringify(filters());

  async function refresh() {
    const asked = filters();
    try {
      const page = await fetchPage(asked, null);
      if (!stillAsked(asked)) return;
      head = page.items ?? [];
      if (!olderPages.length) olderCursor = page.next_cursor ?? null;
      render(primed);
      primed = true;
    } catch (error) {
      state(stateLine, `Could not load ${noun}: ${error.message}`, 'error');
    }
  }

  async function loadOlder() {
    older.disabled = true;
    const asked = filters();
    try {
      const page = await fetchPage(asked, olderCursor);
      if (!stillAsked(asked)) return;
      olderPages.push(...(page.items ?? []));
      olderCursor = page.next_cursor ?? null;
      render();
    } catch (error) {
      state(stateLine, `Could not load older ${noun}: ${error.message}`, 'error');
    } finally {
      older.disabled = false;
    }
  }

  /** Shows the items loaded; with `news`, tells which ones changed. */
  function render(news = false) {
    const seen = new Set();
    const items = [...head, ...olderPages].filter((item) => !seen.has(idOf(item)) && seen.add(idOf(item)));
    const fresh = [];
    const wanted = items.map((item) => {
      const id = idOf(item);
      let row = rows.get(id);
      if (!row) {
        row = newRow(id);
        rows.set(id, row);
      }
      const data = JSON.stringify(item);
      const look = looks(item);
      if (row.data !== data && news) fresh.push(item);
      if (row.data !== data || row.look !== look) fill(row.content, ...rowContent(item));
      Object.assign(row, { data, look });
      return row.item;
    });
    place(wanted);
    for (const [id, row] of rows) {
      if (!row.item.isConnected) rows.delete(id);
    }
    older.hidden = !olderCursor;
    state(stateLine, items.length ? '' : emptyText(filters()), 'empty');
    if (fresh.length) changed(fresh);
  }

  /** Puts `items` in the list in this order, moving as few nodes as possible. */
  function place(items) {
    items.forEach((item, index) => {
      if (list.children[index] !== item) list.insertBefore(item, list.children[index] ?? null);
    });
    while (list.children.length > items.length) list.lastElementChild.remove();
  }

  function newRow(id) {
    const className = ['feed-row', options.rowClass].filter(Boolean).join(' ');
    const content = open ? el('button', { type: 'button', className }) : el('div', { className });
    if (open) content.addEventListener('click', () => open(id));
    return { item: el('li', { attrs: { [idAttribute]: id } }, content), content, data: null, look: null };
  }

  /** Forgets what was loaded and asks again at once (after a filter changed). */
  function restart() {
    head = [];
    olderPages = [];
    olderCursor = null;
    primed = false;
    rows.clear();
    fill(list);
    state(stateLine, `Loading ${noun}…`);
    refreshNow();
  }

  older.addEventListener('click', loadOlder);
  return {
    restart,
    refresh,
    /** Redraws the rows whose looks changed (labels learnt since), without asking again. */
    redraw: () => {
      if (rows.size) render();
    },
    /** How the poller is asked to refresh at once. */
    useRefresh: (now) => {
      refreshNow = now;
    },
  };
}
