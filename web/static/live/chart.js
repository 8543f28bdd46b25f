// Small canvas charts (no library): a day's line of counts, and per-minute entry/exit bars.
import { cityMidnight, cityTime, number } from "./live.js";

const INK = "#5b6470";
const GRID = "#e3e7ec";

function prepare(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.parentElement.clientWidth || 300;
  // The height attribute is the CSS height only until the first drawing sets the canvas's pixel
  // height (the same attribute): kept aside, or every drawing on a 2x screen doubles the chart.
  if (!canvas.dataset.height) canvas.dataset.height = canvas.getAttribute("height") || "200";
  const height = Number(canvas.dataset.height);
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.style.height = height + "px";
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = "12px system-ui, sans-serif";
  return { ctx, width, height };
}

/** A round step so that `parts` steps cover `value` (1, 2 or 5 times a power of ten, at least 1). */
function niceStep(value, parts) {
  const raw = Math.max(value / parts, 1);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  for (const step of [1, 2, 5, 10]) {
    if (step * magnitude >= raw) return step * magnitude;
  }
  return 10 * magnitude;
}

function niceMax(value, parts = 1) {
  return niceStep(value, parts) * parts;
}

/** The y axis for values up to `value`: 4 to 6 round steps, as little room above as that allows
 *  (a capacity of 4,000 gets an axis to 5,000, not 8,000). */
function niceScale(value) {
  let best = null;
  for (const parts of [4, 5, 6]) {
    const step = niceStep(value, parts);
    const max = Math.ceil(value / step) * step;
    if (!best || max < best.max) best = { max, step };
  }
  return best;
}

function hourLabel(epoch) {
  return String(cityTime(epoch).hour).padStart(2, "0") + ":00";
}

/**
 * A day's series [[minute_epoch, value], ...] as a filled line, x from the city's midnight (or the
 * first point) to now, y from 0; `capacity` draws a dashed limit line.
 */
export function drawSeries(canvas, series, { capacity = null, color = "#1769aa" } = {}) {
  const { ctx, width, height } = prepare(canvas);
  const left = 44, right = 10, top = 10, bottom = 22;
  const plotW = width - left - right, plotH = height - top - bottom;
  const now = Date.now() / 1000;
  let start = cityMidnight(now);
  if (series.length && series[0][0] < start) start = series[0][0];
  const end = Math.max(now, series.length ? series[series.length - 1][0] + 60 : now, start + 3600);
  const peak = Math.max(capacity || 0, ...series.map((p) => p[1]), 1);
  const scale = niceScale(peak * 1.05);
  const yMax = scale.max;
  const x = (t) => left + ((t - start) / (end - start)) * plotW;
  const y = (v) => top + plotH - (v / yMax) * plotH;

  ctx.strokeStyle = GRID; ctx.fillStyle = INK; ctx.lineWidth = 1;
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (let v = 0; v <= yMax; v += scale.step) {
    ctx.beginPath(); ctx.moveTo(left, y(v)); ctx.lineTo(width - right, y(v)); ctx.stroke();
    ctx.fillText(number(v), left - 6, y(v));  // as the page's language writes numbers
  }
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  const hours = (end - start) / 3600;
  const every = hours > 12 ? 3 : hours > 6 ? 2 : 1;
  const firstHour = Math.ceil(start / 3600) * 3600;
  for (let t = firstHour; t <= end; t += 3600) {
    if (cityTime(t).hour % every || x(t) > width - right - 16) continue;
    ctx.fillText(hourLabel(t), x(t), height - bottom + 6);
  }

  if (capacity) {
    ctx.save();
    ctx.strokeStyle = "#d62828"; ctx.setLineDash([6, 4]); ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.moveTo(left, y(capacity)); ctx.lineTo(width - right, y(capacity)); ctx.stroke();
    ctx.restore();
  }
  if (!series.length) return;

  // A step line: the count holds until the next minute's value.
  const path = new Path2D();
  path.moveTo(x(series[0][0]), y(series[0][1]));
  for (let i = 1; i < series.length; i++) {
    path.lineTo(x(series[i][0]), y(series[i - 1][1]));
    path.lineTo(x(series[i][0]), y(series[i][1]));
  }
  const lastX = x(Math.min(Math.max(now, series[series.length - 1][0]), end));
  path.lineTo(lastX, y(series[series.length - 1][1]));
  const area = new Path2D(path);
  area.lineTo(lastX, y(0)); area.lineTo(x(series[0][0]), y(0)); area.closePath();
  ctx.fillStyle = color + "33"; ctx.fill(area);
  ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.stroke(path);
  ctx.fillStyle = color;
  ctx.beginPath(); ctx.arc(lastX, y(series[series.length - 1][1]), 3.5, 0, 2 * Math.PI); ctx.fill();
}

/** Per-minute entries (up) and exits (down) for the last `minutes` minutes. */
export function drawMinuteBars(canvas, perMinute, minutes = 60) {
  const { ctx, width, height } = prepare(canvas);
  const left = 44, right = 10, top = 6, bottom = 18;
  const plotW = width - left - right, plotH = height - top - bottom;
  const nowMinute = Math.floor(Date.now() / 60000) * 60;
  const start = nowMinute - (minutes - 1) * 60;
  const peak = Math.max(1, ...perMinute.map((p) => Math.max(p[1], p[2])));
  const yMax = niceMax(peak);
  const mid = top + plotH / 2;
  const barW = Math.max(1, plotW / minutes - 1);
  ctx.strokeStyle = GRID; ctx.beginPath(); ctx.moveTo(left, mid); ctx.lineTo(width - right, mid); ctx.stroke();
  ctx.fillStyle = INK; ctx.textAlign = "right"; ctx.textBaseline = "middle";
  ctx.fillText("+" + number(yMax), left - 6, top + 4); ctx.fillText("−" + number(yMax), left - 6, top + plotH - 4);
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  ctx.fillText("−60′", left + 10, height - bottom + 4); ctx.fillText("0′", width - right - 8, height - bottom + 4);
  for (const [minute, entries, exits] of perMinute) {
    if (minute < start) continue;
    const bx = left + ((minute - start) / 60) * (plotW / minutes);
    const hIn = (entries / yMax) * (plotH / 2), hOut = (exits / yMax) * (plotH / 2);
    ctx.fillStyle = "#1a9e4b"; ctx.fillRect(bx, mid - hIn, barW, hIn);
    ctx.fillStyle = "#8a94a3"; ctx.fillRect(bx, mid, barW, hOut);
  }
}

/** Plain bars for a history table: one bar per row, labelled sparsely. */
export function drawBars(canvas, labels, values, color = "#1769aa") {
  const { ctx, width, height } = prepare(canvas);
  const left = 44, right = 10, top = 8, bottom = 20;
  const plotW = width - left - right, plotH = height - top - bottom;
  const yMax = niceMax(Math.max(1, ...values));
  const slot = plotW / Math.max(values.length, 1);
  ctx.fillStyle = INK; ctx.textAlign = "right"; ctx.textBaseline = "middle";
  ctx.fillText(number(yMax), left - 6, top + 4); ctx.fillText("0", left - 6, top + plotH);
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  const labelEvery = Math.ceil(values.length / Math.max(1, Math.floor(plotW / 70)));
  values.forEach((value, i) => {
    const h = (value / yMax) * plotH;
    ctx.fillStyle = color;
    const barW = Math.max(1, Math.min(slot - 2, 48));
    ctx.fillRect(left + i * slot + (slot - barW) / 2, top + plotH - h, barW, h);
    if (i % labelEvery === 0) { ctx.fillStyle = INK; ctx.fillText(labels[i], left + i * slot + slot / 2, height - bottom + 4); }
  });
}
