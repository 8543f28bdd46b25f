// Manager dashboard: live numbers from /ws/venues/{id}; controls call the venue API.
import { api, clock, connect, el, flash, format, mergeMinutes, mergePoint, mergeRecent, number, page,
         setLevelClass, T, text, tone } from "./live.js";
import { drawMinuteBars, drawSeries } from "./chart.js";

const venue = page.venue;
const state = { count: null, capacity: venue.capacity, paused: venue.paused, level: "unknown",
                today: null, series: [], recent: [] };

function perMinuteAverage(perMinute, column) {
  const since = Math.floor(Date.now() / 60000) * 60 - 4 * 60;  // this minute and the four before
  let sum = 0;
  for (const row of perMinute || []) if (row[0] >= since) sum += row[column];
  return sum / 5;
}

function renderHeadline() {
  const level = state.level;
  text("count", number(state.count));
  text("capacity", number(state.capacity));
  const hero = document.getElementById("hero");
  setLevelClass(hero, level, state.paused);
  const share = state.capacity ? (100 * (state.count || 0)) / state.capacity : 0;
  document.getElementById("meter").style.width = Math.min(100, share).toFixed(1) + "%";
  // Paused says so instead of the crowd level; the share is rounded down (99.6 % is not "100 %"
  // while nearly full) and goes above 100 % when a lowered capacity leaves more people inside.
  const words = [state.paused ? T.level_paused : T["level_" + level] || ""];
  if (state.capacity && state.count !== null) words.push(`${number(Math.floor(share))} %`);
  const over = state.capacity && state.count !== null ? state.count - state.capacity : 0;
  if (over > 0) words.push(format(T.over_by, { n: number(over) }));
  text("level", words.filter(Boolean).join(" · "));
  hero.classList.toggle("over", over > 0);
  const alert = document.getElementById("over-alert");
  alert.hidden = over <= 0;
  if (over > 0) text("over-alert-text", format(T.over_alert, { n: number(over) }));
  renderLevelAlert(share);
  const input = document.getElementById("capacity-input");
  if (input && document.activeElement !== input && state.capacity) input.value = state.capacity;
  const pause = document.getElementById("pause-button");
  if (pause) {
    pause.textContent = state.paused ? T.resume : T.pause;
    pause.classList.toggle("warn", !state.paused);
    pause.classList.toggle("primary", state.paused);
  }
  document.title = `${number(state.count)} / ${number(state.capacity)} · ${venue.name}`;
}

// --- alerts at the shares the manager picked (this screen, this venue) -----------------------

const ALERTS_KEY = `occupancy.alerts.${venue.id}`;
function loadAlerts() {
  try {
    const kept = JSON.parse(localStorage.getItem(ALERTS_KEY) || "null");
    if (kept && kept.warn > 0 && kept.full > 0) return kept;
  } catch (err) { /* nothing kept */ }
  return { warn: 90, full: 100, sound: false };
}
let alerts = loadAlerts();
let alerted = null;  // the threshold last alerted, so that a sound plays once per crossing

function renderLevelAlert(share) {
  const banner = document.getElementById("level-alert");
  const reached = state.count === null ? null
    : share >= alerts.full ? "full" : share >= alerts.warn ? "warn" : null;
  banner.hidden = !reached;
  if (reached) {
    banner.className = `level-alert ${reached}`;
    banner.textContent = format(T.alert_reached, {
      percent: number(Math.floor(share)), count: number(state.count), capacity: number(state.capacity) });
    if (alerts.sound && reached !== alerted) tone(reached === "full" ? 880 : 660, 0.3, 1);
  }
  alerted = reached;
}

const alertsForm = document.getElementById("alerts-form");
document.getElementById("alert-warn").value = alerts.warn;
document.getElementById("alert-full").value = alerts.full;
document.getElementById("alert-sound").checked = alerts.sound;
alertsForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const warn = Number(document.getElementById("alert-warn").value);
  const full = Number(document.getElementById("alert-full").value);
  if (!(warn > 0 && full > 0)) return;
  alerts = { warn: Math.min(warn, full), full: Math.max(warn, full),
             sound: document.getElementById("alert-sound").checked };
  try { localStorage.setItem(ALERTS_KEY, JSON.stringify(alerts)); } catch (err) { /* this visit only */ }
  flash("control-status", T.saved, "ok");
  renderHeadline();
});

function renderToday() {
  const today = state.today;
  if (!today) return;
  text("entries-per-min", number(perMinuteAverage(today.per_minute, 1), 1));
  text("exits-per-min", number(perMinuteAverage(today.per_minute, 2), 1));
  text("entries-today", number(today.entries));
  text("exits-today", number(today.exits));
  text("visitors-in", today.visitors_in !== undefined ? `${number(today.visitors_in)} ${T.people}` : "");
  text("visitors-out", today.visitors_out !== undefined ? `${number(today.visitors_out)} ${T.people}` : "");
  text("refused-full", number(today.refused_full));
  text("refused-fever", number(today.refused_fever));
  text("avg-stay", today.avg_stay_minutes === null || today.avg_stay_minutes === undefined
    ? "–" : number(today.avg_stay_minutes, 0));
}

function renderLine() {
  const line = state.line;
  if (!line) return;
  text("line-waiting", number(line.waiting));
  text("line-hint", format(T.line_hint, { minutes: number(Math.floor(line.longest_wait_seconds / 60)),
                                          offered: number(line.offered) }));
}

/** Refusals in a row (a crowd at a full door) become one row: "Refused full 12× in 3 min". */
function grouped(events) {
  const rows = [];
  for (const event of events) {
    const last = rows[rows.length - 1];
    if (last && event.event === "full" && last.event === "full") {
      last.times += 1;
      last.first = event.at;
    } else {
      rows.push({ ...event, times: 1, first: event.at });
    }
  }
  return rows;
}

function renderRecent() {
  const list = document.getElementById("recent");
  const newest = state.recent.slice().sort((a, b) => b.at - a.at);
  const items = grouped(newest).map((row) =>
    el("li", { class: "event-" + row.event },
      el("time", {}, clock(row.at, true)),
      el("span", { class: "what" }, T["event_" + row.event] || row.event),
      el("span", { class: "party" }, row.times > 1
        ? format(T.repeated, { n: row.times, minutes: Math.max(1, Math.ceil((row.at - row.first) / 60)) })
        : format(T.party_of, { n: row.party }))));
  if (!items.length) items.push(el("li", { class: "empty" }, T.recent_empty));
  list.replaceChildren(...items);
}

let chartPending = false;
function renderCharts() {
  if (chartPending) return;
  chartPending = true;
  requestAnimationFrame(() => {
    chartPending = false;
    drawSeries(document.getElementById("chart-today"), state.series, { capacity: state.capacity });
    drawMinuteBars(document.getElementById("chart-minutes"), (state.today && state.today.per_minute) || []);
  });
}

function apply(message) {
  if (message.type !== "snapshot" && message.type !== "update") return;
  for (const key of ["count", "capacity", "paused", "level"]) {
    if (message[key] !== undefined) state[key] = message[key];
  }
  if (message.type === "snapshot") {
    state.today = message.today;
    state.recent = message.recent;
  } else {
    // An update carries only the minutes still counting and the events since the last frame.
    const held = state.today ? state.today.per_minute : [];
    state.today = { ...message.today, per_minute: mergeMinutes(held, message.today.per_minute) };
    state.recent = mergeRecent(message.recent, state.recent);
  }
  if (message.series) state.series = message.series.map((p) => [p[0], p[1]]);
  if (message.point) mergePoint(state.series, message.point);
  if (message.line) state.line = message.line;
  renderHeadline();
  renderToday();
  renderLine();
  renderRecent();
  renderCharts();
  // A booking made, cancelled, claimed or expired: the frame says so, and the figures are read
  // again (a snapshot may stand for notices missed).
  if (message.type === "snapshot" || message.bookings_changed) readBookings();
}

// --- controls ------------------------------------------------------------------------------

async function act(promise) {
  try {
    const result = await promise;
    flash("control-status", T.saved, "ok");
    return result;
  } catch (err) {
    flash("control-status", format(T.failed, { message: err.message }), "bad");
    return null;
  }
}

const capacityForm = document.getElementById("capacity-form");
if (capacityForm) {
  capacityForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const capacity = Number(document.getElementById("capacity-input").value);
    const changed = await act(api("PATCH", `/api/venues/${venue.id}`, { capacity }));
    if (changed) {
      state.capacity = changed.capacity;
      renderHeadline();
      renderCharts();
    }
  });
}

const pauseButton = document.getElementById("pause-button");
if (pauseButton) {
  pauseButton.addEventListener("click", async () => {
    // Pausing turns every visitor away: asked once more. Reopening is not.
    if (!state.paused && !window.confirm(T.pause_confirm)) return;
    const change = { paused: !state.paused };
    if (change.paused) {
      const note = document.getElementById("pause-note").value.trim();
      if (note) change.pause_note = note;
      const at = document.getElementById("reopen-time").value;  // the city's clock, HH:MM
      if (at) {
        let reopens = `${page.days.today}T${at}:00${page.utc_offset}`;
        if (Date.parse(reopens) < Date.now()) reopens = `${page.days.tomorrow}T${at}:00${page.utc_offset}`;
        change.reopens_at = reopens;
      }
    }
    const changed = await act(api("PATCH", `/api/venues/${venue.id}`, change));
    if (changed) {
      state.paused = changed.paused;
      renderHeadline();
    }
  });
}

const linePauseButton = document.getElementById("line-pause-button");
let linePaused = false;
function renderLinePaused() {
  if (linePauseButton) linePauseButton.textContent = linePaused ? T.line_resume : T.line_pause;
}
if (linePauseButton) {
  api("GET", `/api/venues/${venue.id}/line`).then((line) => {
    linePaused = line.paused;
    renderLinePaused();
    document.getElementById("line-offer-minutes").value = line.offer_minutes;
  }, () => { /* the button still works: its answer tells the state */ });
  // The venue's own time to claim an offer (1 to 30 minutes): the offers made from now on.
  document.getElementById("line-offer-minutes-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const offer_minutes = Number(document.getElementById("line-offer-minutes").value);
    const line = await act(api("PUT", `/api/venues/${venue.id}/line/offer-minutes`, { offer_minutes }));
    if (line) document.getElementById("line-offer-minutes").value = line.offer_minutes;
  });
  linePauseButton.addEventListener("click", async () => {
    const line = await act(api("POST", `/api/venues/${venue.id}/line/${linePaused ? "resume" : "pause"}`));
    if (line) {
      linePaused = line.paused;
      renderLinePaused();
    }
  });
  document.getElementById("line-offer-button").addEventListener("click", () => {
    act(api("POST", `/api/venues/${venue.id}/line/offers`));
  });
}

for (const [id, delta] of [["walkin-plus", 1], ["walkin-minus", -1]]) {
  document.getElementById(id)?.addEventListener("click", () => {
    act(api("POST", `/api/venues/${venue.id}/walk-ins`, { delta }));
  });
}

window.addEventListener("resize", renderCharts);
setInterval(renderCharts, 30000);  // the x axis follows the clock between updates
renderHeadline();
renderCharts();
connect(`/ws/venues/${venue.id}`, apply);

// --- history: yesterday, the last week, or any range (the city's days) ----------------------

const HISTORY_COLUMNS = ["period_start", "entries", "visitors_in", "peak_count", "refused_full",
                         "refused_fever", "minutes_full", "avg_stay_minutes"];
const historyFrom = document.getElementById("venue-history-from");
const historyTo = document.getElementById("venue-history-to");

async function showHistory() {
  const query = new URLSearchParams({ from: historyFrom.value, to: historyTo.value, by: "day" });
  const csv = document.getElementById("venue-history-csv");
  if (csv) csv.href = `/api/venues/${venue.id}/visits.csv?date=${historyFrom.value}`;
  try {
    const answer = await api("GET", `/api/venues/${venue.id}/history?${query}`);
    const rows = answer.periods;
    text("venue-history-status", rows.length ? "" : T.history_empty);
    const head = el("thead", {}, el("tr", {}, ...HISTORY_COLUMNS.map((c) =>
      el("th", { scope: "col" }, T["col_" + (c === "period_start" ? "start" : c)] || c))));
    const body = el("tbody", {}, ...rows.map((row) => el("tr", {}, ...HISTORY_COLUMNS.map((c) =>
      el("td", {}, c === "period_start" ? row[c] : row[c] === null ? "–" : number(row[c], c === "avg_stay_minutes" ? 1 : 0))))));
    const table = document.getElementById("venue-history-table");
    table.replaceChildren(head, body);
    // No rows: the status says so, and no table of headings alone (nor its empty scroll region
    // in the tab order) is left behind.
    table.parentElement.hidden = !rows.length;
  } catch (err) {
    text("venue-history-status", format(T.failed, { message: err.message }));
  }
}

historyFrom.value = page.days.week_ago;
historyTo.value = page.days.today;
document.getElementById("venue-history-form").addEventListener("submit", (event) => {
  event.preventDefault();
  showHistory();
});
for (const button of document.querySelectorAll("#venue-history-form [data-range]")) {
  button.addEventListener("click", () => {
    historyFrom.value = button.dataset.range === "yesterday" ? page.days.yesterday : page.days.week_ago;
    historyTo.value = button.dataset.range === "yesterday" ? page.days.yesterday : page.days.today;
    showHistory();
  });
}
showHistory();

// --- bookings per slot today (a venue run by time slots) --------------------------------------

const BOOKING_COLUMNS = ["bookings", "booked", "claimed", "waiting", "no_shows", "cancelled", "free"];
let bookingsBusy = false;
let bookingsAgain = false;

/** One read at a time; notices that come during it make one more read after it. */
async function readBookings() {
  if (bookingsBusy) { bookingsAgain = true; return; }
  bookingsBusy = true;
  do {
    bookingsAgain = false;
    try {
      renderBookings(await api("GET", `/api/venues/${venue.id}/slot-bookings`));
    } catch (err) {
      if (err.code === "no_slots") document.getElementById("bookings").hidden = true;
      else text("bookings-status", format(T.failed, { message: err.message }));
    }
  } while (bookingsAgain);
  bookingsBusy = false;
}

function renderBookings(answer) {
  document.getElementById("bookings").hidden = false;
  text("bookings-status", answer.slots.length ? "" : T.bookings_none);
  const cells = (row) => BOOKING_COLUMNS.map((c) => el("td", { "data-column": c }, number(row[c])));
  const head = el("thead", {}, el("tr", {}, el("th", { scope: "col" }, T.bk_slot),
    ...BOOKING_COLUMNS.map((c) => el("th", { scope: "col" }, T["bk_" + c]))));
  const body = el("tbody", {}, ...answer.slots.map((slot) => el("tr", { "data-slot": slot.slot },
    el("th", { scope: "row" }, slot.end ? `${slot.start}–${slot.end}` : slot.start), ...cells(slot))));
  const foot = el("tfoot", {}, el("tr", {}, el("th", { scope: "row" }, T.bk_total), ...cells(answer.totals)));
  const table = document.getElementById("bookings-table");
  table.replaceChildren(head, body, foot);
  table.parentElement.hidden = !answer.slots.length;
  const csv = document.getElementById("bookings-csv");
  if (csv) csv.href = `/api/venues/${venue.id}/bookings.csv?from=${answer.date}&to=${answer.date}`;
}

setInterval(readBookings, 300000);  // the day turns over with no booking to announce it

// --- the slot plan's editor (the manager): a form over PUT / DELETE /api/venues/{id}/slots -----

const planForm = document.getElementById("slot-plan-form");
const PLAN_NUMBERS = ["capacity", "advance_percent", "hold_minutes", "per_phone", "days_ahead"];

function planInput(field) {
  return field === "weekdays" ? document.getElementById("plan-weekdays")
    : document.getElementById(`plan-${field}`);
}

function clearPlanErrors() {
  for (const field of ["ranges", "weekdays", ...PLAN_NUMBERS]) {
    planInput(field).removeAttribute("aria-invalid");
    text(`plan-${field}-error`, "");
  }
}

/** The server names the field at fault (invalid_slots' `field`): its message goes under it. */
function showPlanError(err) {
  let field = (err.field || "").split(".")[0];
  if (field === "starts" || field === "slot_minutes") field = "ranges";
  const input = field && planInput(field);
  if (input) {
    input.setAttribute("aria-invalid", "true");
    text(`plan-${field}-error`, err.message);
    (input.querySelector ? input.querySelector("input") || input : input).focus();
  }
  flash("slot-plan-status", format(T.failed, { message: err.message }), "bad");
}

function fillPlan(plan) {
  const shown = plan || { ranges: [], capacity: venue.capacity, advance_percent: 100,
                          hold_minutes: 15, per_phone: 1, days_ahead: 7,
                          weekdays: [1, 2, 3, 4, 5, 6, 7] };
  document.getElementById("plan-ranges").value = shown.ranges.join(", ");
  for (const field of PLAN_NUMBERS) document.getElementById(`plan-${field}`).value = shown[field];
  for (const box of planForm.querySelectorAll("input[name=weekdays]")) {
    box.checked = shown.weekdays.includes(Number(box.value));
  }
  text("slot-plan-state", plan ? T.slots_on : T.slots_off);
  document.getElementById("plan-remove").hidden = !plan;
}

async function loadPlan() {
  try {
    fillPlan(await api("GET", `/api/venues/${venue.id}/slots`));
  } catch (err) {
    if (err.code === "no_slots") fillPlan(null);
    else flash("slot-plan-status", format(T.failed, { message: err.message }), "bad");
  }
}

if (planForm) {
  planForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearPlanErrors();
    const body = {
      ranges: document.getElementById("plan-ranges").value.split(/[,;\n]+/)
        .map((range) => range.replace(/\s+/g, "")).filter(Boolean),
      weekdays: [...planForm.querySelectorAll("input[name=weekdays]:checked")].map((b) => Number(b.value)),
    };
    for (const field of PLAN_NUMBERS) {
      const value = document.getElementById(`plan-${field}`).value.trim();
      body[field] = value === "" ? null : Number(value);
    }
    try {
      fillPlan(await api("PUT", `/api/venues/${venue.id}/slots`, body));
      flash("slot-plan-status", T.saved, "ok");
      readBookings();
    } catch (err) {
      showPlanError(err);
    }
  });
  document.getElementById("plan-remove").addEventListener("click", async () => {
    if (!window.confirm(T.slots_remove_confirm)) return;
    try {
      await api("DELETE", `/api/venues/${venue.id}/slots`);
      clearPlanErrors();
      fillPlan(null);
      flash("slot-plan-status", T.slots_removed, "ok");
      readBookings();
    } catch (err) {
      flash("slot-plan-status", format(T.failed, { message: err.message }), "bad");
    }
  });
  loadPlan();
}
