// The curves component: metric curves (uPlot), a param-vs-metric scatter (uPlot) and parallel coordinates
// (a plain canvas), drawn in the app's page (Streamlit components v2: no iframe).
//
// Streamlit calls the default export on mount and again with every new payload for the same element; the
// chart made on mount is kept per element and gets the new columns (setData), so zoom, hidden runs and the
// cursor survive a Live refresh. The payload is bytes (see lakehouse/app/components/curves/__init__.py):
//   [uint32 little-endian n][n bytes of JSON header][zero padding to a multiple of 8][float64 columns]
// Each series names its columns by [offset, length] in float64 units.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./curves.css";

const SYNC_KEY = "lakehouse-curves";
const charts = new Map(); // the element Streamlit gives a mount -> its chart state
// Legend groups (runs, or train/validation on Live) hidden from a legend: hidden on every chart of the page,
// and only of that page (the app is one document: switching pages keeps this module).
const hiddenByPage = new Map();
function hidden() {
  const page = window.location.pathname;
  if (!hiddenByPage.has(page)) hiddenByPage.set(page, new Set());
  return hiddenByPage.get(page);
}

export function decode(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + length)));
  const start = 4 + length + ((4 - ((4 + length) % 4)) % 4);
  // A Float32Array needs a 4-aligned offset; the protobuf message's buffer gives no such promise.
  const body = (bytes.byteOffset + start) % 4 === 0 ? bytes.subarray(start) : bytes.slice(start);
  const values = new Float32Array(body.buffer, body.byteOffset, body.byteLength / 4);
  const column = ([offset, count]) => values.subarray(offset, offset + count);
  // x columns hold the distance from x_origin (wall-clock seconds would not fit 32 bits): back to float64.
  const origin = header.x_origin ?? 0;
  const xs = new Map();
  const xColumn = (where) => {
    const key = where.join(",");
    if (!xs.has(key)) xs.set(key, Float64Array.from(column(where), (v) => v + origin));
    return xs.get(key);
  };
  return { header, column, xColumn };
}

function fmtNumber(v) {
  if (v == null || !Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  return String(Number(v.toPrecision(5)));
}

function fmtWall(seconds, withDate, withMs = false) {
  const iso = new Date(seconds * 1000).toISOString();
  const time = iso.slice(11, withMs ? 23 : 19);
  return withDate ? `${iso.slice(0, 10)} ${time}` : time;
}

// Axis labels; uPlot passes null for the ticks a log scale leaves unlabelled.
function fmtTick(v) {
  return v == null ? "" : fmtNumber(v);
}

function fmtX(header, v) {
  if (header.x_format === "wall") return fmtWall(v, true, true);
  if (header.x_format === "category") return header.x_labels[Math.round(v)] ?? "";
  return fmtNumber(v);
}

// A run logged within a minute: milliseconds tell its points apart.
const WITH_MS_BELOW_SECONDS = 60;

function axisValues(header) {
  if (header.x_format === "wall") {
    return (u, splits) =>
      splits.map((v) => (v == null ? "" : fmtWall(v, false, u.scales.x.max - u.scales.x.min < WITH_MS_BELOW_SECONDS)));
  }
  if (header.x_format === "category") {
    return (u, splits) => splits.map((v) => (Number.isInteger(v) ? (header.x_labels[v] ?? "") : ""));
  }
  return (u, splits) => splits.map(fmtTick);
}

// Pixels between x ticks: wide enough for a wall-clock label ("12:34:56.789" or "12:34:56") not to touch the next.
function xSpace(header) {
  if (header.x_format !== "wall") return 50;
  return (u, axis, min, max) => (max - min < WITH_MS_BELOW_SECONDS ? 110 : 80);
}

// The y axis as wide as its widest label (a log scale's lowest tick can be "0.056101"), never under `least`.
let measurer;
function axisSize(least) {
  return (u, values) => {
    if (!values || !values.length) return least;
    measurer ??= document.createElement("canvas").getContext("2d");
    measurer.font = u.axes[1].font?.[0] ?? "12px system-ui";
    const widest = Math.max(...values.map((v) => measurer.measureText(String(v ?? "")).width));
    return Math.max(least, Math.ceil(widest) + 18);
  };
}

function withAlpha(color, alpha) {
  if (alpha >= 1) return color;
  return color + Math.round(alpha * 255).toString(16).padStart(2, "0");
}

// The index of the point whose x is nearest to v in a sorted column (binary search).
function nearest(xs, v) {
  let lo = 0;
  let hi = xs.length - 1;
  if (hi < 0) return -1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < v) lo = mid;
    else hi = mid;
  }
  return Math.abs(xs[lo] - v) <= Math.abs(xs[hi] - v) ? lo : hi;
}

function lowerBound(xs, v) {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function quantile(sorted, q) {
  const pos = (sorted.length - 1) * q;
  const base = Math.floor(pos);
  const next = sorted[base + 1];
  return next === undefined ? sorted[base] : sorted[base] + (pos - base) * (next - sorted[base]);
}

// The y range of the points of shown series inside [xMin, xMax]: padded, in a log scale only positive
// values count, and ignoring outliers keeps the 5th to 95th percentile (as TensorBoard does).
function yRange(state, xMin, xMax) {
  const { header, series } = state;
  const picked = [];
  for (const s of series) {
    if (!isShown(s)) continue;
    const from = lowerBound(s.x, xMin);
    for (let i = from; i < s.x.length && s.x[i] <= xMax; i++) {
      const y = s.y[i];
      if (Number.isFinite(y) && (!header.log_y || y > 0)) picked.push(y);
    }
  }
  if (!picked.length) return header.log_y ? [0.1, 10] : [0, 1];
  let lo;
  let hi;
  if (header.ignore_outliers && picked.length > 20) {
    const sorted = Float64Array.from(picked).sort();
    lo = quantile(sorted, 0.05);
    hi = quantile(sorted, 0.95);
  } else {
    lo = Infinity;
    hi = -Infinity;
    for (const y of picked) {
      if (y < lo) lo = y;
      if (y > hi) hi = y;
    }
  }
  if (header.log_y) return lo === hi ? [lo / 2, hi * 2] : [lo / 1.15, hi * 1.15];
  if (lo === hi) {
    const margin = Math.abs(lo) * 0.5 || 1; // a constant (a fixed learning rate): a range around it
    return [lo - margin, hi + margin];
  }
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

function xExtent(series, pad) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of series) {
    if (!s.x.length) continue;
    lo = Math.min(lo, s.x[0]);
    hi = Math.max(hi, s.x[s.x.length - 1]);
  }
  if (!Number.isFinite(lo)) return [0, 1];
  if (lo === hi) return [lo - 1, hi + 1];
  // Points (the scatter) get a margin so none sits on the frame.
  const margin = pad === "category" ? 0.5 : pad ? (hi - lo) * 0.08 : 0;
  return [lo - margin, hi + margin];
}

function isShown(s) {
  return !hidden().has(s.group);
}

function readSeries(header, column, xColumn) {
  return header.series.map((s) => ({ ...s, x: xColumn(s.x), y: column(s.y) }));
}

function uplotData(series) {
  return [null, ...series.map((s) => [s.x, s.y])];
}

function setRanges(state) {
  const { u } = state;
  const pad = state.header.style !== "points" ? null : state.header.x_format === "category" ? "category" : "points";
  const [x0, x1] = state.zoom ?? xExtent(state.series, pad);
  u.batch(() => {
    u.setScale("x", { min: x0, max: x1 });
    const [y0, y1] = yRange(state, x0, x1);
    u.setScale("y", { min: y0, max: y1 });
  });
}

// The x of the data point nearest to v among the shown series: the step (or time) the tooltip is about.
function snapX(state, v) {
  let best = v;
  let distance = Infinity;
  for (const s of state.series) {
    if (!isShown(s) || !s.x.length) continue;
    const x = s.x[nearest(s.x, v)];
    if (Math.abs(x - v) < distance) {
      distance = Math.abs(x - v);
      best = x;
    }
  }
  return best;
}

function tooltipHtml(state, cursorX) {
  const { header, series } = state;
  const xValue = snapX(state, cursorX);
  const rows = [];
  for (const s of series) {
    if (s.role === "raw" || !isShown(s) || !s.x.length) continue;
    const i = nearest(s.x, xValue);
    const raw = series.find((r) => r.role === "raw" && r.group === s.group && r.name === s.name);
    const extra = raw && raw.y.length > i ? ` <span class="lh-raw">(raw ${fmtNumber(raw.y[i])})</span>` : "";
    rows.push(
      `<div class="lh-row" data-group="${s.group}"><span class="lh-swatch" style="background:${s.color}"></span>` +
        `<span class="lh-name">${escapeHtml(s.name)}</span> <span class="lh-value">${fmtNumber(s.y[i])}</span>` +
        `${extra}</div>`,
    );
  }
  const head = `<div class="lh-head">${escapeHtml(header.x_label)} ${fmtX(header, xValue)}</div>`;
  return head + rows.join("");
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

function showTooltip(state) {
  const { u, tooltip } = state;
  const { left, top } = u.cursor;
  if (left == null || left < 0) {
    tooltip.style.display = "none";
    return;
  }
  const xValue = u.posToVal(left, "x");
  tooltip.innerHTML = tooltipHtml(state, xValue);
  tooltip.style.display = "block";
  const bbox = u.over.getBoundingClientRect();
  const box = state.root.getBoundingClientRect();
  const x = bbox.left - box.left + left;
  const flip = left > bbox.width / 2;
  tooltip.style.left = `${flip ? x - tooltip.offsetWidth - 12 : x + 12}px`;
  tooltip.style.top = `${bbox.top - box.top + Math.max(0, Math.min(top ?? 0, bbox.height - tooltip.offsetHeight))}px`;
}

function buildLegend(state) {
  const { header, legend } = state;
  legend.innerHTML = "";
  const seen = new Set();
  for (const s of header.series) {
    if (s.role === "raw" || seen.has(s.group)) continue;
    seen.add(s.group);
    const item = document.createElement("span");
    item.className = "lh-legend-item";
    item.dataset.group = s.group;
    item.title = "click to hide or show this run on every chart";
    item.innerHTML =
      `<span class="lh-swatch" style="background:${s.color};${s.dash ? "opacity:.6" : ""}"></span>` +
      `${escapeHtml(s.legend ?? s.name)}`;
    item.addEventListener("click", () => {
      if (hidden().has(s.group)) hidden().delete(s.group);
      else hidden().add(s.group);
      for (const other of charts.values()) other.applyHidden();
    });
    legend.appendChild(item);
  }
}

function lineOptions(state, width) {
  const { header, series } = state;
  const isScatter = header.style === "points";
  return {
    mode: 2,
    width,
    height: header.height,
    title: header.title || undefined,
    legend: { show: false },
    // Room on the right for half of the last x label, centred on its tick (a wall time with milliseconds).
    padding: [8, header.x_format === "wall" ? 44 : 12, 0, 4],
    cursor: {
      drag: { x: !isScatter, y: false, setScale: false },
      // Every time-series chart of the page shares one cursor (by x value); the scatter has its own x.
      sync: isScatter ? undefined : { key: SYNC_KEY, scales: ["x", null] },
      points: { show: false },
      bind: {
        // Shift + drag pans; a plain drag selects a range to zoom into (handled in the setSelect hook).
        mousedown: (u, target, handler) => (e) => {
          if (e.shiftKey && !isScatter) {
            startPan(state, e);
            return null;
          }
          return handler(e);
        },
        dblclick: () => () => {
          state.zoom = null;
          setRanges(state);
          return null;
        },
      },
    },
    scales: {
      x: { time: false, auto: false },
      y: { auto: false, distr: header.log_y ? 3 : 1, log: 10 },
    },
    axes: [
      { label: header.x_label, values: axisValues(header), space: xSpace(header), size: 40, labelSize: 20, stroke: "#555" },
      { label: header.y_label || undefined, values: (u, splits) => splits.map(fmtTick), size: axisSize(48), stroke: "#555" },
    ],
    series: [
      {},
      ...series.map((s) => ({
        label: s.name,
        stroke: withAlpha(s.color, s.alpha ?? 1),
        width: s.width ?? 2,
        dash: s.dash ? [6, 4] : undefined,
        fill: isScatter ? s.color : undefined,
        show: isShown(s),
        facets: [
          { scale: "x", auto: false },
          { scale: "y", auto: false },
        ],
        paths: isScatter ? uPlot.paths.points() : uPlot.paths.linear(),
        points: isScatter
          ? { show: true, size: 11, width: 1, fill: s.color, stroke: s.color }
          : { show: s.x.length <= 50 && s.role !== "raw", size: 5, fill: s.color, stroke: s.color },
      })),
    ],
    hooks: {
      setCursor: [() => showTooltip(state)],
      setSelect: [
        (u) => {
          if (u.select.width < 3) return;
          const min = u.posToVal(u.select.left, "x");
          const max = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
          state.zoom = [min, max];
          setRanges(state);
        },
      ],
      setScale: [
        (u, key) => {
          if (key === "x") state.root.dataset.xRange = `${u.scales.x.min},${u.scales.x.max}`;
        },
      ],
    },
  };
}

function startPan(state, down) {
  const { u } = state;
  const [x0, x1] = [u.scales.x.min, u.scales.x.max];
  const perPixel = (x1 - x0) / u.over.clientWidth;
  const move = (e) => {
    const dx = (e.clientX - down.clientX) * perPixel;
    state.zoom = [x0 - dx, x1 - dx];
    setRanges(state);
  };
  const up = () => {
    window.removeEventListener("mousemove", move);
    window.removeEventListener("mouseup", up);
  };
  window.addEventListener("mousemove", move);
  window.addEventListener("mouseup", up);
}

function mountLines(state) {
  const width = Math.max(200, state.root.clientWidth || 600);
  state.u = new uPlot(lineOptions(state, width), uplotData(state.series), state.plot);
  state.applyHidden = () => {
    state.u.batch(() => {
      state.series.forEach((s, i) => state.u.setSeries(i + 1, { show: isShown(s) }, false));
      setRanges(state);
    });
    markLegend(state);
  };
  state.resize = (w) => state.u.setSize({ width: w, height: state.header.height });
  state.update = () => {
    state.u.setData(uplotData(state.series), false);
    setRanges(state);
  };
  setRanges(state);
}

function markLegend(state) {
  for (const item of state.legend.querySelectorAll(".lh-legend-item")) {
    item.classList.toggle("lh-hidden", hidden().has(item.dataset.group));
  }
}

// Parallel coordinates: one vertical axis per param and the metric last, one polyline per run.
function mountParallel(state) {
  const title = document.createElement("div");
  title.className = "u-title";
  title.textContent = state.header.title;
  state.plot.appendChild(title);
  const canvas = document.createElement("canvas");
  canvas.className = "lh-parallel";
  state.plot.appendChild(canvas);
  state.draw = () => drawParallel(state, canvas);
  state.applyHidden = () => {
    state.draw();
    markLegend(state);
  };
  state.resize = () => state.draw();
  state.update = () => state.draw();
  state.draw();
}

function drawParallel(state, canvas) {
  const { header, series } = state;
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(200, state.root.clientWidth || 600);
  const height = header.height;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, width, height);
  const axes = header.axes;
  const top = 40;
  const bottom = height - 30;
  const left = 60;
  const right = width - 60;
  const step = axes.length > 1 ? (right - left) / (axes.length - 1) : 0;
  const scales = axes.map((axis, a) => {
    if (axis.labels) return [0, Math.max(1, axis.labels.length - 1)];
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of series) {
      const v = s.y[a];
      if (Number.isFinite(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    if (!Number.isFinite(lo)) return [0, 1];
    return lo === hi ? [lo - 1, hi + 1] : [lo, hi];
  });
  const yOf = (a, v) => {
    const [lo, hi] = scales[a];
    return bottom - ((v - lo) / (hi - lo)) * (bottom - top);
  };
  ctx.font = "12px sans-serif";
  ctx.textAlign = "center";
  axes.forEach((axis, a) => {
    const x = left + a * step;
    ctx.strokeStyle = "#999";
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, bottom);
    ctx.stroke();
    ctx.fillStyle = "#333";
    ctx.fillText(axis.name, x, top - 22);
    const [lo, hi] = scales[a];
    ctx.fillStyle = "#666";
    if (axis.labels) {
      axis.labels.forEach((label, i) => ctx.fillText(label, x, yOf(a, i) + (i === 0 ? 14 : -4)));
    } else {
      ctx.fillText(fmtNumber(hi), x, top - 6);
      ctx.fillText(fmtNumber(lo), x, bottom + 16);
    }
  });
  ctx.lineWidth = 2;
  for (const s of series) {
    if (!isShown(s)) continue;
    ctx.strokeStyle = s.color;
    ctx.beginPath();
    let pen = false;
    axes.forEach((axis, a) => {
      const v = s.y[a];
      if (!Number.isFinite(v)) {
        pen = false;
        return;
      }
      const x = left + a * step;
      if (pen) ctx.lineTo(x, yOf(a, v));
      else ctx.moveTo(x, yOf(a, v));
      pen = true;
    });
    ctx.stroke();
  }
}

function configOf(header) {
  // What needs a new chart when it changes (anything else is new data for the same chart).
  return JSON.stringify({ ...header, series: header.series.map((s) => [s.group, s.name, s.role, s.color]) });
}

function create(parentElement, header, column, xColumn) {
  const root = document.createElement("div");
  root.className = "lh-chart";
  root.dataset.kind = header.kind;
  root.dataset.title = header.title ?? "";
  const plot = document.createElement("div");
  const legend = document.createElement("div");
  legend.className = "lh-legend";
  const tooltip = document.createElement("div");
  tooltip.className = "lh-tooltip";
  root.append(plot, legend, tooltip);
  parentElement.appendChild(root);
  const state = { root, plot, legend, tooltip, header, series: readSeries(header, column, xColumn), config: configOf(header) };
  if (header.kind === "parallel") mountParallel(state);
  else mountLines(state);
  buildLegend(state);
  markLegend(state);
  state.observer = new ResizeObserver(() => {
    const w = Math.max(200, root.clientWidth);
    if (w !== state.width) {
      state.width = w;
      state.resize(w);
    }
  });
  state.observer.observe(root);
  return state;
}

function destroy(state) {
  state.observer.disconnect();
  state.u?.destroy();
  state.root.remove();
}

// Whether two payloads hold the same bytes. A rerun that changed nothing in a chart (a page redrawn for
// another reason) sends the chart's bytes again; they are not decoded or drawn a second time.
function sameBytes(a, b) {
  if (!a || a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

export default function curves({ data, parentElement }) {
  if (!data) return undefined;
  let state = charts.get(parentElement);
  if (state && sameBytes(state.bytes, data)) return () => forget(parentElement);
  const { header, column, xColumn } = decode(data);
  if (state && state.config !== configOf(header)) {
    destroy(state);
    state = undefined;
  }
  if (state) {
    // New points for the same chart (a Live refresh): new columns, same chart, zoom and hidden runs kept.
    state.header = header;
    state.series = readSeries(header, column, xColumn);
    state.update();
  } else {
    state = create(parentElement, header, column, xColumn);
    charts.set(parentElement, state);
  }
  state.bytes = data;
  // When it was drawn (wall clock) and up to which x: what the tests and benchmarks read.
  state.root.dataset.drawnAt = String(Date.now());
  state.root.dataset.lastX = String(Math.max(...state.series.map((s) => (s.x.length ? s.x[s.x.length - 1] : -Infinity))));
  return () => forget(parentElement);
}

function forget(parentElement) {
  const current = charts.get(parentElement);
  if (current) destroy(current);
  charts.delete(parentElement);
}
