// A small SVG chart renderer for chart artifacts ({type, x, y, rows}) and tables drawn as charts.
// Types: bar, line, area, scatter, pie. Values may be numbers or numeric strings ("$1,234.50").

import { cellText, toNumber } from "./util.js";

const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16", "#64748b", "#f97316"];
export const CHART_TYPES = ["bar", "line", "area", "scatter", "pie"];
const WIDTH = 640;
const HEIGHT = 320;
const MARGIN = { top: 16, right: 16, bottom: 64, left: 64 };

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function tooltip(node, text) {
  node.append(svg("title", {}, text));
  return node;
}

/** Round tick values covering [min, max]. */
export function niceTicks(min, max, count = 5) {
  if (min === max) {
    const pad = Math.abs(min) || 1;
    min -= pad;
    max += pad;
  }
  const span = max - min;
  const rough = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => span / s <= count) || 10 * magnitude;
  const start = Math.floor(min / step) * step;
  const ticks = [];
  for (let v = start; v <= max + step * 0.5; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function formatNumber(value) {
  const abs = Math.abs(value);
  if (abs >= 1e9) return (value / 1e9).toFixed(1).replace(/\.0$/, "") + "B";
  if (abs >= 1e6) return (value / 1e6).toFixed(1).replace(/\.0$/, "") + "M";
  if (abs >= 1e4) return (value / 1e3).toFixed(1).replace(/\.0$/, "") + "k";
  return Number.isInteger(value) ? String(value) : value.toFixed(2).replace(/0+$/, "").replace(/\.$/, "");
}

/** Check a spec against its rows; returns a message, or null when it can be drawn. */
export function chartProblem(spec) {
  if (!spec || typeof spec !== "object") return "The chart has no data.";
  const rows = Array.isArray(spec.rows) ? spec.rows : null;
  if (!rows || rows.length === 0) return "The chart has no rows to draw.";
  const ys = Array.isArray(spec.y) ? spec.y : [spec.y];
  if (!spec.x || !ys.length || ys.some((y) => !y)) return "The chart does not say which columns to draw (x and y).";
  const missing = [spec.x, ...ys].filter((column) => !rows.some((row) => row && column in row));
  if (missing.length) return `The chart refers to column${missing.length > 1 ? "s" : ""} ${missing.map((m) => `'${m}'`).join(", ")} that the data does not have.`;
  if (!ys.some((y) => rows.some((row) => toNumber(row[y]) !== null))) return `Column '${ys[0]}' has no numbers to draw.`;
  return null;
}

/** An <svg> for the spec, or a <p class="chart-problem"> saying why it cannot be drawn. */
export function renderChart(spec) {
  const problem = chartProblem(spec);
  if (problem) {
    const p = document.createElement("p");
    p.className = "chart-problem";
    p.textContent = problem;
    return p;
  }
  const type = CHART_TYPES.includes(spec.type) ? spec.type : "bar";
  const root = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: `chart chart-${type}`, role: "img" });
  root.append(svg("title", {}, spec.title || `${(Array.isArray(spec.y) ? spec.y.join(", ") : spec.y)} by ${spec.x}`));
  const ys = Array.isArray(spec.y) ? spec.y : [spec.y];
  const rows = spec.rows.filter((row) => row && typeof row === "object");
  if (type === "pie") drawPie(root, rows, spec.x, ys[0]);
  else if (type === "scatter") drawScatter(root, rows, spec.x, ys);
  else drawCartesian(root, rows, spec.x, ys, type);
  return root;
}

function plotArea() {
  return { x0: MARGIN.left, x1: WIDTH - MARGIN.right, y0: HEIGHT - MARGIN.bottom, y1: MARGIN.top };
}

function drawYAxis(root, area, ticks, scale) {
  for (const tick of ticks) {
    const y = scale(tick);
    root.append(svg("line", { x1: area.x0, x2: area.x1, y1: y, y2: y, class: "grid" }));
    root.append(svg("text", { x: area.x0 - 6, y: y + 4, "text-anchor": "end", class: "tick" }, formatNumber(tick)));
  }
}

function drawXLabels(root, area, labels, position) {
  const every = Math.max(1, Math.ceil(labels.length / 12));
  const rotate = labels.length > 6;
  labels.forEach((label, index) => {
    if (index % every !== 0) return;
    const x = position(index);
    const text = label.length > 14 ? label.slice(0, 13) + "…" : label;
    const attrs = rotate
      ? { x, y: area.y0 + 12, "text-anchor": "end", transform: `rotate(-35 ${x} ${area.y0 + 12})`, class: "tick" }
      : { x, y: area.y0 + 16, "text-anchor": "middle", class: "tick" };
    root.append(svg("text", attrs, text));
  });
  root.append(svg("line", { x1: area.x0, x2: area.x1, y1: area.y0, y2: area.y0, class: "axis" }));
}

function legend(root, names) {
  if (names.length < 2) return;
  names.forEach((name, index) => {
    const x = MARGIN.left + index * 130;
    root.append(svg("rect", { x, y: HEIGHT - 14, width: 10, height: 10, fill: PALETTE[index % PALETTE.length] }));
    root.append(svg("text", { x: x + 14, y: HEIGHT - 5, class: "tick" }, name));
  });
}

function drawCartesian(root, rows, xColumn, ys, type) {
  const area = plotArea();
  const labels = rows.map((row) => cellText(row[xColumn]));
  const series = ys.map((y) => rows.map((row) => toNumber(row[y])));
  const values = series.flat().filter((v) => v !== null);
  const ticks = niceTicks(Math.min(0, ...values), Math.max(0, ...values));
  const lo = ticks[0];
  const hi = ticks[ticks.length - 1];
  const scaleY = (v) => area.y0 - ((v - lo) / (hi - lo || 1)) * (area.y0 - area.y1);
  drawYAxis(root, area, ticks, scaleY);
  const band = (area.x1 - area.x0) / Math.max(1, labels.length);
  const center = (index) => area.x0 + band * (index + 0.5);
  drawXLabels(root, area, labels, center);
  series.forEach((values, s) => {
    const colour = PALETTE[s % PALETTE.length];
    if (type === "bar") {
      const width = Math.max(1, (band * 0.8) / series.length);
      values.forEach((value, index) => {
        if (value === null) return;
        const top = scaleY(Math.max(0, value));
        const height = Math.max(1, Math.abs(scaleY(value) - scaleY(0)));
        const x = area.x0 + band * index + band * 0.1 + width * s;
        root.append(tooltip(svg("rect", { x, y: top, width, height, fill: colour, class: "bar" }), `${labels[index]}: ${ys[s]} = ${value}`));
      });
      return;
    }
    const points = values.map((value, index) => (value === null ? null : [center(index), scaleY(value)]));
    const drawn = points.filter(Boolean);
    const d = drawn.map(([x, y], index) => `${index ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
    if (type === "area" && drawn.length) {
      const base = scaleY(Math.max(lo, 0));
      const fill = `${d} L${drawn[drawn.length - 1][0].toFixed(1)},${base} L${drawn[0][0].toFixed(1)},${base} Z`;
      root.append(svg("path", { d: fill, fill: colour, "fill-opacity": 0.2, stroke: "none", class: "area" }));
    }
    root.append(svg("path", { d, fill: "none", stroke: colour, "stroke-width": 2, class: "line" }));
    if (drawn.length <= 60) {
      points.forEach((point, index) => {
        if (!point) return;
        root.append(tooltip(svg("circle", { cx: point[0], cy: point[1], r: 3, fill: colour, class: "point" }), `${labels[index]}: ${ys[s]} = ${values[index]}`));
      });
    }
  });
  legend(root, ys);
}

function drawScatter(root, rows, xColumn, ys) {
  const area = plotArea();
  const xs = rows.map((row) => toNumber(row[xColumn]));
  if (!xs.some((v) => v !== null)) return drawCartesian(root, rows, xColumn, ys, "line");
  const yValues = ys.flatMap((y) => rows.map((row) => toNumber(row[y]))).filter((v) => v !== null);
  const yTicks = niceTicks(Math.min(...yValues), Math.max(...yValues));
  const xTicks = niceTicks(Math.min(...xs.filter((v) => v !== null)), Math.max(...xs.filter((v) => v !== null)));
  const scaleY = (v) => area.y0 - ((v - yTicks[0]) / (yTicks[yTicks.length - 1] - yTicks[0] || 1)) * (area.y0 - area.y1);
  const scaleX = (v) => area.x0 + ((v - xTicks[0]) / (xTicks[xTicks.length - 1] - xTicks[0] || 1)) * (area.x1 - area.x0);
  drawYAxis(root, area, yTicks, scaleY);
  for (const tick of xTicks) root.append(svg("text", { x: scaleX(tick), y: area.y0 + 16, "text-anchor": "middle", class: "tick" }, formatNumber(tick)));
  root.append(svg("line", { x1: area.x0, x2: area.x1, y1: area.y0, y2: area.y0, class: "axis" }));
  ys.forEach((y, s) => {
    rows.forEach((row, index) => {
      const value = toNumber(row[y]);
      if (value === null || xs[index] === null) return;
      root.append(tooltip(svg("circle", { cx: scaleX(xs[index]), cy: scaleY(value), r: 4, fill: PALETTE[s % PALETTE.length], "fill-opacity": 0.8, class: "point" }), `${xColumn} = ${xs[index]}, ${y} = ${value}`));
    });
  });
  legend(root, ys);
}

function drawPie(root, rows, xColumn, yColumn) {
  const slices = rows.map((row) => ({ label: cellText(row[xColumn]), value: toNumber(row[yColumn]) })).filter((s) => s.value !== null && s.value > 0);
  const total = slices.reduce((sum, s) => sum + s.value, 0);
  const cx = HEIGHT / 2 + 20;
  const cy = HEIGHT / 2;
  const r = HEIGHT / 2 - 24;
  let angle = -Math.PI / 2;
  slices.forEach((slice, index) => {
    const sweep = (slice.value / total) * Math.PI * 2;
    const colour = PALETTE[index % PALETTE.length];
    const label = `${slice.label}: ${slice.value} (${((slice.value / total) * 100).toFixed(1)}%)`;
    if (slices.length === 1) {
      root.append(tooltip(svg("circle", { cx, cy, r, fill: colour, class: "slice" }), label));
    } else {
      const [x0, y0] = [cx + r * Math.cos(angle), cy + r * Math.sin(angle)];
      const [x1, y1] = [cx + r * Math.cos(angle + sweep), cy + r * Math.sin(angle + sweep)];
      const d = `M${cx},${cy} L${x0.toFixed(2)},${y0.toFixed(2)} A${r},${r} 0 ${sweep > Math.PI ? 1 : 0} 1 ${x1.toFixed(2)},${y1.toFixed(2)} Z`;
      root.append(tooltip(svg("path", { d, fill: colour, stroke: "#fff", "stroke-width": 1, class: "slice" }), label));
    }
    angle += sweep;
    if (index < 12) {
      const ly = 24 + index * 20;
      root.append(svg("rect", { x: cx + r + 30, y: ly - 10, width: 12, height: 12, fill: colour }));
      root.append(svg("text", { x: cx + r + 48, y: ly, class: "tick" }, label.length > 40 ? label.slice(0, 39) + "…" : label));
    }
  });
}
