// Small DOM helpers shared by every part of the page. Text only ever goes in through
// textContent, never innerHTML, so nothing the API returns can become markup.

/**
 * Builds an element. `props` are set as properties (className, type, htmlFor, …),
 * except `attrs`, an object of attributes (aria-*, data-*, …); children are nodes or text.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  const { attrs, ...rest } = props;
  Object.assign(node, rest);
  for (const [name, value] of Object.entries(attrs ?? {})) node.setAttribute(name, value);
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/** Replaces the children of `node`. */
export function fill(node, ...children) {
  node.replaceChildren(...children.filter((child) => child !== null && child !== undefined));
}

/** A status badge: pending, retrying, succeeded, failed, or an attempt outcome. */
export function badge(word) {
  return el('span', { className: `badge badge-${word}` }, word.replaceAll('_', ' '));
}

/** A term and its description, for a <dl>. */
export function fact(term, ...description) {
  return [el('dt', {}, term), el('dd', {}, ...description)];
}

/** An RFC 3339 timestamp in the reader's time zone, or a dash. */
export function when(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

/** A <time> element for an RFC 3339 timestamp. */
export function time(iso) {
  return iso ? el('time', { dateTime: iso }, when(iso)) : document.createTextNode('—');
}

/** The first part of a UUID, enough to tell ids apart on screen. */
export function shortId(id) {
  return id ? id.slice(0, 8) : '—';
}

/** Shows a loading, empty or error state in `node`; empty text hides it. */
export function state(node, text, kind = 'info') {
  node.textContent = text;
  node.hidden = !text;
  node.dataset.kind = kind;
}
