// chart.js -- small SVG charts written for this dashboard (no library):
// vertical bars (one or two series), lines (one or two series, each on its
// own scale when asked), horizontal bars (rankings). Values are plain
// numbers used for geometry only; the labels shown come from fmt(), which
// the caller builds from the API's decimal strings.
//
//   bars(container, {labels, series: [{name, values, fmt}]})
//   lines(container, {labels, series: [{name, values, fmt, right}]})
//   hbars(container, {labels, values, fmt})

const NS = 'http://www.w3.org/2000/svg';
const W = 640, H = 250;
const M = { top: 14, right: 16, bottom: 34, left: 58 };

function s(tag, attrs = {}, text) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  if (text !== undefined) n.textContent = text;
  return n;
}

function svgRoot(label, h = H) {
  return s('svg', { viewBox: `0 0 ${W} ${h}`, class: 'chart', role: 'img', 'aria-label': label || '' });
}

// A "nice" upper bound and step for max (1, 2, 2.5, 5 x 10^k).
function niceScale(max, ticks = 4) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((v) => v >= raw);
  return { top: step * Math.ceil(max / step), step };
}

function compact(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return +(v / 1e9).toFixed(1) + 'G';
  if (a >= 1e6) return +(v / 1e6).toFixed(1) + 'M';
  if (a >= 1e3) return +(v / 1e3).toFixed(1) + 'k';
  return String(+v.toFixed(2));
}

function empty(container, text) {
  const svg = svgRoot(text, 120);
  svg.append(s('text', { x: W / 2, y: 64, 'text-anchor': 'middle' }, text));
  container.replaceChildren(svg);
}

function axes(svg, labels, scales, x0, bandw) {
  const ih = H - M.top - M.bottom;
  const [left, right] = scales;
  for (let v = 0; v <= left.top + 1e-9; v += left.step) {
    const y = M.top + ih - (v / left.top) * ih;
    svg.append(s('line', { x1: M.left, x2: W - M.right, y1: y, y2: y, class: 'grid-line' }));
    svg.append(s('text', { x: M.left - 8, y: y + 4, 'text-anchor': 'end' }, compact(v)));
    if (right) {
      const rv = (v / left.top) * right.top;
      svg.append(s('text', { x: W - M.right + 4, y: y + 4, 'text-anchor': 'start' }, compact(rv)));
    }
  }
  svg.append(s('line', { x1: M.left, x2: W - M.right, y1: M.top + ih, y2: M.top + ih, class: 'axis' }));
  const every = Math.max(1, Math.ceil(labels.length / 12));
  labels.forEach((l, i) => {
    if (i % every) return;
    svg.append(s('text', { x: x0 + bandw * i + bandw / 2, y: H - M.bottom + 16, 'text-anchor': 'middle' }, l));
  });
}

export function bars(container, { labels, series, title, emptyText = '—' }) {
  if (!labels.length) return empty(container, emptyText);
  const svg = svgRoot(title);
  const iw = W - M.left - M.right, ih = H - M.top - M.bottom;
  const max = Math.max(0, ...series.flatMap((se) => se.values));
  const sc = niceScale(max);
  const band = iw / labels.length;
  axes(svg, labels, [sc], M.left, band);
  const gap = Math.min(12, band * 0.25);
  const bw = (band - gap) / series.length;
  series.forEach((se, k) => {
    se.values.forEach((v, i) => {
      const h = (v / sc.top) * ih;
      const r = s('rect', { x: M.left + band * i + gap / 2 + bw * k, y: M.top + ih - h, width: Math.max(1, bw - 1), height: Math.max(0, h), rx: 2, class: 'bar' + (k ? ' s1' : '') });
      r.append(s('title', {}, `${labels[i]} — ${se.name}: ${se.fmt ? se.fmt(i) : v}`));
      svg.append(r);
    });
  });
  container.replaceChildren(svg);
  if (series.length > 1) container.append(legend(series));
}

export function lines(container, { labels, series, title, emptyText = '—' }) {
  if (!labels.length) return empty(container, emptyText);
  const svg = svgRoot(title);
  const iw = W - M.left - M.right, ih = H - M.top - M.bottom;
  const leftS = series.filter((se) => !se.right), rightS = series.filter((se) => se.right);
  const scL = niceScale(Math.max(0, ...leftS.flatMap((se) => se.values)));
  const scR = rightS.length ? niceScale(Math.max(0, ...rightS.flatMap((se) => se.values))) : null;
  const band = iw / labels.length;
  axes(svg, labels, [scL, scR], M.left, band);
  series.forEach((se, k) => {
    const sc = se.right ? scR : scL;
    const pts = se.values.map((v, i) => [M.left + band * i + band / 2, M.top + ih - (v / sc.top) * ih]);
    svg.append(s('polyline', { points: pts.map((p) => p.join(',')).join(' '), class: 'line' + (k ? ' s1' : '') }));
    pts.forEach((p, i) => {
      const c = s('circle', { cx: p[0], cy: p[1], r: 3.5, class: 'pt' + (k ? ' s1' : '') });
      c.append(s('title', {}, `${labels[i]} — ${se.name}: ${se.fmt ? se.fmt(i) : se.values[i]}`));
      svg.append(c);
    });
  });
  container.replaceChildren(svg);
  container.append(legend(series));
}

export function hbars(container, { labels, values, fmt, title, emptyText = '—' }) {
  if (!labels.length) return empty(container, emptyText);
  const row = 26, lw = 150, vw = 110;
  const h = M.top + row * labels.length + 6;
  const svg = svgRoot(title, h);
  const iw = W - lw - vw - 10;
  const max = Math.max(0, ...values) || 1;
  labels.forEach((l, i) => {
    const y = M.top + row * i;
    const label = l.length > 22 ? l.slice(0, 21) + '…' : l;
    svg.append(s('text', { x: lw - 8, y: y + 15, 'text-anchor': 'end' }, label));
    const w = (values[i] / max) * iw;
    const r = s('rect', { x: lw, y: y + 3, width: Math.max(1, w), height: row - 8, rx: 3, class: 'bar' });
    r.append(s('title', {}, `${l}: ${fmt ? fmt(i) : values[i]}`));
    svg.append(r);
    svg.append(s('text', { x: lw + w + 6, y: y + 15, class: 'val' }, fmt ? fmt(i) : String(values[i])));
  });
  container.replaceChildren(svg);
}

function legend(series) {
  const d = document.createElement('div');
  d.className = 'legend';
  series.forEach((se, k) => {
    const sp = document.createElement('span');
    const i = document.createElement('i');
    if (k) i.className = 's1';
    sp.append(i, document.createTextNode(se.name));
    d.append(sp);
  });
  return d;
}
