// Bar charts as inline SVG (no chart library): one bar per label, its value written above it,
// and the same numbers in the chart's accessible name and a table beside it for screen readers.

const SVG = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

export interface Bar {
  label: string;
  value: number;
  /** The bar's full name (e.g. a room's id), shown as its tooltip. */
  title?: string;
}

/** A bar chart of `bars` as an SVG element. */
export function barChart(title: string, unit: string, bars: Bar[]): SVGSVGElement {
  const barWidth = 36;
  const gap = 12;
  const top = 22;
  const plot = 140;
  const bottom = 44;
  const width = Math.max(240, bars.length * (barWidth + gap) + gap);
  const height = top + plot + bottom;
  const max = Math.max(1, ...bars.map((b) => b.value));
  // Drawn at its natural size, shrunk (never stretched) to fit a narrow screen by the stylesheet.
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'chart', width, height });
  const total = bars.reduce((s, b) => s + b.value, 0);
  root.appendChild(svg('title', {}, `${title}: ${bars.map((b) => `${b.label} ${b.value} ${unit}`).join(', ')} (total ${total} ${unit})`));
  root.appendChild(svg('line', { x1: 0, x2: width, y1: top + plot + 0.5, y2: top + plot + 0.5, class: 'axis' }));
  bars.forEach((b, i) => {
    const x = gap + i * (barWidth + gap);
    const hgt = Math.round((b.value / max) * plot);
    const g = svg('g', { class: 'bar', 'data-label': b.label, 'data-value': b.value });
    g.appendChild(svg('title', {}, `${b.title ?? b.label}: ${b.value} ${unit}`));
    g.appendChild(svg('rect', { x, y: top + plot - hgt, width: barWidth, height: Math.max(hgt, b.value > 0 ? 1 : 0) }));
    g.appendChild(svg('text', { x: x + barWidth / 2, y: top + plot - hgt - 6, 'text-anchor': 'middle', class: 'value' }, String(b.value)));
    g.appendChild(svg('text', { x: x + barWidth / 2, y: top + plot + 16, 'text-anchor': 'middle', class: 'label' }, b.label));
    root.appendChild(g);
  });
  return root;
}
