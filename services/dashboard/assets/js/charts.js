// Line charts drawn as SVG by the page itself: a series per line over evenly spaced
// intervals, a gap where a value is missing (null), a few horizontal guides with their
// values, and the times at both ends. A chart is drawn for the width it is shown at (in
// CSS pixels, so labels keep their size on a phone) and drawn again when that changes.
// Text goes in as textContent.

const SVG = 'http://www.w3.org/2000/svg';
const HEIGHT = 170;
const PAD = { left: 44, right: 8, top: 8, bottom: 20 };
const GUIDES = 4;

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** 1, 2 or 5 times a power of ten, at least `value` (so guides fall on round numbers). */
function roundUp(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= value);
}

/** A short number for an axis: 1.5k, 20, 0.25. */
export function shortNumber(value) {
  if (value >= 1e6) return `${+(value / 1e6).toFixed(1)}M`;
  if (value >= 1e3) return `${+(value / 1e3).toFixed(1)}k`;
  return `${+value.toFixed(value < 10 ? 2 : 0)}`;
}

function clock(date) {
  return date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

/**
 * Draws `lines` ([{ label, values, className, dashed }], values per interval, null for
 * none) into a new <svg>, the first interval starting at `start` (a Date) and each
 * lasting `intervalSeconds`, `width` CSS pixels wide. `describe` is the chart's
 * accessible name.
 */
export function lineChart({ lines, start, intervalSeconds, describe, width, unit = '' }) {
  const WIDTH = Math.max(200, Math.round(width || 600));
  const chart = svg('svg', {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    // Drawn for its width: stretching only covers the moment before a redraw.
    preserveAspectRatio: 'none',
    class: 'chart-svg',
    role: 'img',
    'aria-label': describe,
  });
  const slots = Math.max(...lines.map((line) => line.values.length), 1);
  const highest = Math.max(0, ...lines.flatMap((line) => line.values.filter((v) => v !== null)));
  const top = roundUp(highest / GUIDES) * GUIDES;
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const x = (slot) => PAD.left + (slots === 1 ? plotWidth : (slot / (slots - 1)) * plotWidth);
  const y = (value) => PAD.top + plotHeight - (value / top) * plotHeight;

  for (let guide = 0; guide <= GUIDES; guide += 1) {
    const value = (top / GUIDES) * guide;
    chart.append(
      svg('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value), class: 'chart-guide' }),
      svg('text', { x: PAD.left - 4, y: y(value) + 4, class: 'chart-label', 'text-anchor': 'end' },
        `${shortNumber(value)}${unit}`),
    );
  }
  const end = new Date(start.getTime() + slots * intervalSeconds * 1000);
  chart.append(
    svg('text', { x: PAD.left, y: HEIGHT - 4, class: 'chart-label' }, clock(start)),
    svg('text', { x: WIDTH - PAD.right, y: HEIGHT - 4, class: 'chart-label', 'text-anchor': 'end' }, clock(end)),
  );
  for (const line of lines) {
    // One polyline per run of values, so that a missing value leaves a gap.
    let run = [];
    const flush = () => {
      if (run.length === 1) {
        const [px, py] = run[0].split(',');
        chart.append(svg('circle', { cx: px, cy: py, r: 2, class: `chart-dot ${line.className}` }));
      } else if (run.length > 1) {
        const attrs = { points: run.join(' '), class: `chart-line ${line.className}` };
        if (line.dashed) attrs['stroke-dasharray'] = '5 3';
        chart.append(svg('polyline', attrs));
      }
      run = [];
    };
    line.values.forEach((value, slot) => {
      if (value === null || value === undefined) flush();
      else run.push(`${x(slot).toFixed(1)},${y(value).toFixed(1)}`);
    });
    flush();
  }
  return chart;
}

/** The legend of a chart's lines, as a list of swatches and names. */
export function legend(lines) {
  const list = document.createElement('ul');
  list.className = 'chart-legend';
  for (const line of lines) {
    const item = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = `chart-swatch ${line.className}${line.dashed ? ' dashed' : ''}`;
    swatch.setAttribute('aria-hidden', 'true');
    item.append(swatch, line.label);
    list.append(item);
  }
  return list;
}
