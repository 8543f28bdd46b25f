// City view: totals, the map, venue tiles (most loaded first) and the day's chart from /ws/city;
// the map's districts from /api/city/map; history by hour or day from /api/city/history, and the
// same days' bookings and waiting lines from /api/city/bookings/history and /api/city/line/history.
import { api, cityTime, connect, el, flash, format, mergePoint, number, page, setLevelClass, T, text } from "./live.js";
import { drawBars, drawSeries } from "./chart.js";
import { CityMap } from "./citymap.js";

const venues = new Map();
const state = { totals: null, byDistrict: {}, byCategory: {}, series: [] };
const categoryName = (name) => page.categories[name] || name;

function load(v) {
  return v.capacity ? v.count / v.capacity : 0;
}

function renderTotals() {
  const totals = state.totals || { count: 0, capacity: 0, level: "unknown" };
  text("total-count", number(totals.count));
  text("total-capacity", number(totals.capacity));
  const share = totals.capacity ? Math.min(100, (100 * totals.count) / totals.capacity) : 0;
  document.getElementById("meter").style.width = share.toFixed(1) + "%";
  setLevelClass(document.getElementById("hero"), totals.level, false);
  renderTable("by-district", state.byDistrict, (name) => name || "–");
  renderTable("by-category", state.byCategory, categoryName);
}

function renderTable(id, groups, label) {
  const rows = Object.entries(groups)
    .sort((a, b) => b[1].count - a[1].count || a[0].localeCompare(b[0]))
    .map(([name, group]) => {
      const share = group.capacity ? Math.min(100, (100 * group.count) / group.capacity) : 0;
      const bar = el("div", { class: "bar" }, el("div", { class: "bar-fill level-" + group.level }));
      bar.firstChild.style.width = share.toFixed(1) + "%";
      return el("tr", { dataset: { group: name } },
        el("th", { scope: "row" }, label(name)),
        el("td", { class: "num" }, `${number(group.count)} / ${number(group.capacity)}`),
        el("td", { class: "bar-cell" }, bar));
    });
  document.querySelector(`#${id} tbody`).replaceChildren(...rows);
}

function byLoad() {
  return [...venues.values()].sort((a, b) => load(b) - load(a) || a.name.localeCompare(b.name));
}

// --- map -----------------------------------------------------------------------------------

const map = new CityMap(document.getElementById("city-map"));
const mapState = { loaded: false, failed: false };

function renderMap(sorted) {
  if (!mapState.loaded) return;
  // The emptiest first: drawn in this order, the fullest venues' dots lie on top.
  const hidden = map.update([...sorted].reverse());
  // Venues without a location (or outside the districts drawn) are only in the tiles below.
  text("map-note", mapState.failed ? T.map_failed : hidden ? format(T.map_unplaced, { n: number(hidden) }) : "");
}

async function loadMap() {
  try {
    mapState.failed = !map.setDistricts(await api("GET", "/api/city/map"));
  } catch (err) {
    mapState.failed = true;
  }
  if (mapState.failed) {  // the tiles still list every venue
    for (const id of ["city-map", "map-legend"]) document.getElementById(id).toggleAttribute("hidden", true);
  }
  mapState.loaded = true;
  render();
}

// --- tiles ---------------------------------------------------------------------------------

function renderTiles(sorted) {
  const tiles = sorted.map((v) => {
    const tile = el("a", { class: "tile", href: `/manage/venues/${v.id}`, dataset: { venue: v.code } },
      el("div", { class: "tile-name" }, v.name),
      el("div", { class: "tile-meta" }, [v.district, categoryName(v.category)].filter(Boolean).join(" · ")),
      el("div", { class: "tile-count" }, `${number(v.count)} / ${number(v.capacity)}`),
      v.paused ? el("div", { class: "badge" }, T.paused_badge) : null);
    setLevelClass(tile, v.level, v.paused);
    return tile;
  });
  document.getElementById("tiles").replaceChildren(...tiles);
}

// Venues holding more people than their capacity (it was lowered below the count): named on top.
function renderOverCapacity() {
  const over = [...venues.values()].filter((v) => v.capacity && v.count > v.capacity)
    .sort((a, b) => (b.count - b.capacity) - (a.count - a.capacity));
  const banner = document.getElementById("over-alert");
  banner.hidden = over.length === 0;
  if (over.length) {
    text("over-alert-text", format(T.city_over, { n: over.length,
      venues: over.map((v) => `${v.name} (+${number(v.count - v.capacity)})`).join(", ") }));
  }
  for (const tile of document.querySelectorAll(".tile")) {
    const v = [...venues.values()].find((x) => x.code === tile.dataset.venue);
    tile.classList.toggle("over", Boolean(v && v.capacity && v.count > v.capacity));
  }
}

let pending = false;
function render() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    renderTotals();
    const sorted = byLoad();
    renderMap(sorted);
    renderTiles(sorted);
    renderOverCapacity();
    drawSeries(document.getElementById("chart-city"), state.series, {});
  });
}

function apply(message) {
  if (message.type === "snapshot") venues.clear();
  else if (message.type !== "update") return;
  for (const v of message.venues || []) venues.set(v.id, { ...(venues.get(v.id) || {}), ...v });
  if (message.totals) state.totals = message.totals;
  if (message.by_district) state.byDistrict = message.by_district;
  if (message.by_category) state.byCategory = message.by_category;
  if (message.series) state.series = message.series.map((p) => [p[0], p[1]]);
  if (message.point) mergePoint(state.series, message.point);
  render();
}

// --- history -------------------------------------------------------------------------------

const fromInput = document.getElementById("history-from");
const toInput = document.getElementById("history-to");
const byInput = document.getElementById("history-by");

function historyQuery() {
  return new URLSearchParams({ from: fromInput.value, to: toInput.value, by: byInput.value }).toString();
}

function updateCsvLink() {
  document.getElementById("history-csv").href = `/api/city/history.csv?${historyQuery()}`;
  const days = new URLSearchParams({ from: fromInput.value, to: toInput.value }).toString();
  document.getElementById("history-bookings-csv").href = `/api/city/bookings/history.csv?${days}`;
  document.getElementById("history-line-csv").href = `/api/city/line/history.csv?${days}`;
}

// The columns shown, in order; other fields of the answer are left to the CSV.
const PERIOD_COLUMNS = ["start", "visitors_in", "visitors_out", "entries", "exits", "peak_count",
                        "refused_full", "refused_fever", "minutes_full", "avg_stay_minutes"];
const VENUE_COLUMNS = ["name", "district", "minutes_full", "hours_full", "refused_full",
                       "refused_fever", "peak_count", "visitors_in"];

function cell(column, value) {
  if (value === null || value === undefined) return "–";
  if (column === "start") return periodLabel(value);
  if (column === "district") return value || "–";
  if (typeof value === "number") return number(value, Number.isInteger(value) ? 0 : 1);
  return String(value);
}

function periodLabel(value) {
  if (byInput.value === "day" || value.length <= 10) return value;
  const at = cityTime(Date.parse(value) / 1000);  // an hour: the city's date and time
  return `${at.date} ${String(at.hour).padStart(2, "0")}:00`;
}

function table(id, columns, rows) {
  const head = el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", { scope: "col" }, T["col_" + c] || c))));
  const body = el("tbody", {}, ...rows.map((row) =>
    el("tr", {}, ...columns.map((c) => el("td", {}, cell(c, row[c]))))));
  document.getElementById(id).replaceChildren(head, body);
}

function renderHistory(answer) {
  const periods = (answer && answer.periods) || [];
  const canvas = document.getElementById("chart-history");
  table("history-table", PERIOD_COLUMNS, periods);
  // No rows: the status says so, and no table of headings alone (nor its empty scroll region).
  document.getElementById("history-table").parentElement.hidden = !periods.length;
  table("history-venues", VENUE_COLUMNS, (answer && answer.venues) || []);
  document.getElementById("history-venues-wrap").hidden = !(answer && answer.venues && answer.venues.length);
  if (!periods.length) {
    canvas.hidden = true;
    flash("history-status", T.history_empty, "neutral");
    return;
  }
  canvas.hidden = false;
  drawBars(canvas, periods.map((row) => periodLabel(row.start).slice(byInput.value === "hour" ? 11 : 5)),
    periods.map((row) => row.visitors_in || 0));
  document.getElementById("history-status").textContent = "";
}

async function loadHistory() {
  updateCsvLink();
  try {
    renderHistory(await api("GET", `/api/city/history?${historyQuery()}`));
  } catch (err) {
    flash("history-status", err.message, "bad");
  }
  await loadDayGroups();
}

// --- bookings and waiting lines of the same days: per day (the city), district and category --

const BOOKING_HISTORY_COLUMNS = ["booked", "claimed", "no_shows", "cancelled", "no_show_rate"];
const LINE_HISTORY_COLUMNS = ["joined", "offered", "claimed", "passed", "left",
                              "longest_wait_minutes", "median_wait_minutes", "longest_line"];

function groupCell(column, value) {
  if (value === null || value === undefined) return "–";
  if (column === "no_show_rate") return `${number(100 * value, 0)} %`;
  return number(value, column.endsWith("_minutes") ? 1 : 0);  // waits in tenths of a minute
}

function groupRow(kind, name, label, columns, group) {
  return el("tr", { dataset: { [kind]: name } }, el("th", { scope: "row" }, label),
    ...columns.map((c) => el("td", { "data-column": c }, groupCell(c, group[c]))));
}

// One table: a row per day (the city's figures), then per district and category over the
// period, and the period's total at the foot; hidden while the period has none.
function renderDayGroups(id, answer, columns, prefix) {
  const head = el("thead", {}, el("tr", {}, el("th", { scope: "col" }, T.history_group),
    ...columns.map((c) => el("th", { scope: "col" }, T[prefix + c]))));
  const days = el("tbody", {}, ...answer.days.map((d) => groupRow("day", d.day, d.day, columns, d.totals)));
  const groups = el("tbody", {},
    ...Object.entries(answer.by_district).map(([name, g]) => groupRow("district", name, name || "–", columns, g)),
    ...Object.entries(answer.by_category).map(([name, g]) => groupRow("category", name, categoryName(name), columns, g)));
  const foot = el("tfoot", {}, groupRow("total", "period", T.bk_total, columns, answer.totals));
  document.getElementById(id).replaceChildren(head, days, groups, foot);
  document.getElementById(id + "-wrap").hidden = !answer.days.length;
}

async function loadDayGroups() {
  const days = new URLSearchParams({ from: fromInput.value, to: toInput.value }).toString();
  try {
    const [booked, lines] = await Promise.all([api("GET", `/api/city/bookings/history?${days}`),
                                               api("GET", `/api/city/line/history?${days}`)]);
    renderDayGroups("history-bookings", booked, BOOKING_HISTORY_COLUMNS, "bk_");
    renderDayGroups("history-line", lines, LINE_HISTORY_COLUMNS, "hl_");
  } catch (err) {
    flash("history-status", err.message, "bad");
  }
}

// The last seven days, in the city's days, as the server gives them (the history is kept in the
// city's days; the browser's own date can be another, e.g. in UTC).
fromInput.value = page.history_from;
toInput.value = page.history_to;
for (const input of [fromInput, toInput, byInput]) input.addEventListener("change", updateCsvLink);
document.getElementById("history-form").addEventListener("submit", (event) => {
  event.preventDefault();
  loadHistory();
});
updateCsvLink();
loadHistory();

loadMap();
window.addEventListener("resize", render);
setInterval(render, 30000);
connect("/ws/city", apply);

// --- today's bookings at the venues run by time slots ----------------------------------------
// Read from /api/city/bookings (SQL) on load and every 30 s: the city's socket carries counts,
// not bookings.

const CITY_BOOKING_COLUMNS = ["booked", "claimed", "waiting", "no_shows", "no_show_rate"];

// A live table: a row per district and category, the city's total at the foot; hidden while no
// venue has any.
function renderLiveGroups(id, answer, columns, prefix) {
  const row = (kind, name, group) => groupRow(kind, name, name, columns, group);
  const head = el("thead", {}, el("tr", {}, el("th", { scope: "col" }, T.bk_group),
    ...columns.map((c) => el("th", { scope: "col" }, T[prefix + c]))));
  const body = el("tbody", {},
    ...Object.entries(answer.by_district).map(([name, g]) => row("district", name || "–", g)),
    ...Object.entries(answer.by_category).map(([name, g]) => row("category", categoryName(name), g)));
  const foot = el("tfoot", {}, row("total", T.bk_total, answer.totals));
  const table = document.getElementById(id);
  table.replaceChildren(head, body, foot);
  table.parentElement.hidden = !answer.venues.length;
}

async function loadBookings() {
  try {
    const answer = await api("GET", "/api/city/bookings");
    text("city-bookings-status", answer.venues.length ? "" : T.city_bookings_none);
    renderLiveGroups("city-bookings-table", answer, CITY_BOOKING_COLUMNS, "bk_");
  } catch (err) {
    text("city-bookings-status", format(T.failed, { message: err.message }));
  }
}

loadBookings();
setInterval(loadBookings, 30000);

// --- the waiting lines now -------------------------------------------------------------------
// Read from /api/city/line (Redis) on load and every 10 s: the city's socket carries counts,
// not lines.

const CITY_LINE_COLUMNS = ["waiting", "places_offered"];

async function loadLines() {
  try {
    const answer = await api("GET", "/api/city/line");
    text("city-line-status", answer.venues.length ? "" : T.city_line_none);
    renderLiveGroups("city-line-table", answer, CITY_LINE_COLUMNS, "ln_");
  } catch (err) {
    text("city-line-status", format(T.failed, { message: err.message }));
  }
}

loadLines();
setInterval(loadLines, 10000);
