// Shared by the live pages: page data, a self-healing WebSocket, small DOM and format helpers.

export const page = JSON.parse(document.getElementById("page-data").textContent);
export const T = page.texts;

const MIN_DELAY = 500;
const MAX_DELAY = 10000;
const KEEPALIVE_MS = 20000;

/**
 * Open a WebSocket to `path` on this origin and keep it open: after a drop or a server restart
 * it reconnects with back-off (0.5 s doubling to 10 s) and shows the "reconnecting" banner
 * meanwhile. Every (re)connection starts with a fresh snapshot, handed to onMessage like updates.
 */
export function connect(path, onMessage) {
  const banner = document.getElementById("reconnecting");
  let delay = MIN_DELAY;
  let socket = null;
  let timer = null;
  let stopped = false;

  function setState(state) {
    document.body.dataset.live = state;
    banner.hidden = state !== "reconnecting";
  }

  function retry() {
    if (stopped || timer) return;
    setState("reconnecting");
    timer = setTimeout(() => { timer = null; open(); }, delay);
    delay = Math.min(delay * 2, MAX_DELAY);
  }

  function open() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    try {
      socket = new WebSocket(scheme + location.host + path);
    } catch (err) {
      retry();
      return;
    }
    socket.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (err) { return; }
      if (message.type === "snapshot") {
        delay = MIN_DELAY;
        setState("live");
      }
      onMessage(message);
    };
    socket.onclose = (event) => {
      socket = null;
      if (event.code === 4401) {  // the cookie is gone or revoked: log in again
        stopped = true;
        location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
        return;
      }
      if (event.code === 4403 || event.code === 4404) {  // refused for good: no point retrying
        stopped = true;
        setState("refused");
        showFatal(event.code === 4403 ? T.forbidden_body : (event.reason || String(event.code)));
        return;
      }
      // Anything else (a restart 1012, a drop 1006, 4408 after a stall, 1013) is worth a retry.
      retry();
    };
  }

  // Coming back online or to the tab: try now rather than at the end of a long back-off.
  const hurry = () => {
    if (!socket && timer && !stopped) {
      clearTimeout(timer);
      timer = null;
      delay = MIN_DELAY;
      open();
    }
  };
  window.addEventListener("online", hurry);
  // The network went away: say so now, and start over when it is back. Not from the old
  // socket's onclose: its closing handshake cannot finish offline, and the banner waited for
  // the browser to give up on it (over 5 s in one CI run).
  window.addEventListener("offline", () => {
    if (!socket) return;
    const old = socket;
    socket = null;
    old.onclose = null;
    old.onmessage = null;
    old.close();
    retry();
  });
  // A keep-alive (the server ignores it) lets the browser notice a dead connection sooner.
  setInterval(() => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send("{}");
  }, KEEPALIVE_MS);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) hurry(); });
  open();
}

function showFatal(text) {
  const banner = document.getElementById("reconnecting");
  banner.textContent = text;
  banner.classList.add("fatal");
  banner.hidden = false;
}

/** Put `level-<level>` (and `paused`) on an element, replacing the previous level class. */
export function setLevelClass(element, level, paused) {
  for (const name of [...element.classList]) {
    if (name.startsWith("level-")) element.classList.remove(name);
  }
  element.classList.add("level-" + level);
  element.classList.toggle("paused", Boolean(paused));
}

export function text(id, value) {
  const element = document.getElementById(id);
  if (element && element.textContent !== String(value)) element.textContent = value;
}

export function el(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") element.className = value;
    else if (key === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) element.append(child);
  }
  return element;
}

const locale = () => (page.lang === "en" ? "en-GB" : "id-ID");

export function number(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toLocaleString(locale(), {
    minimumFractionDigits: digits, maximumFractionDigits: digits,
  });
}

export function clock(epochSeconds, withSeconds = false) {
  const options = { hour: "2-digit", minute: "2-digit", timeZone: page.timezone };
  if (withSeconds) options.second = "2-digit";
  return new Date(epochSeconds * 1000).toLocaleTimeString(locale(), options);
}

// Days and hours are the city's (page.timezone, from the server), never the browser's: the
// statistics and the history are kept in the city's days, and an official may be anywhere.
const cityFormat = new Intl.DateTimeFormat("en-GB", {
  timeZone: page.timezone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit",
});

/** The city's wall clock at an instant: {date: "YYYY-MM-DD", hour, minute, second} (numbers). */
export function cityTime(epochSeconds) {
  const parts = {};
  for (const { type, value } of cityFormat.formatToParts(new Date(epochSeconds * 1000))) parts[type] = value;
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    hour: Number(parts.hour), minute: Number(parts.minute), second: Number(parts.second),
  };
}

/** The first instant (epoch seconds) of the city's day containing `epochSeconds`. */
export function cityMidnight(epochSeconds) {
  const { hour, minute, second } = cityTime(epochSeconds);
  return Math.floor(epochSeconds) - (hour * 3600 + minute * 60 + second);
}

export function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => (key in values ? values[key] : `{${key}}`));
}

/** Merge a `point` ([minute, value]) into a series of [minute, value] pairs, in place. */
export function mergePoint(series, point) {
  if (!point) return series;
  const last = series[series.length - 1];
  if (last && last[0] === point[0]) last[1] = point[1];
  else if (!last || last[0] < point[0]) {
    // Minutes without a change carry the count on, as in a snapshot's series.
    for (let m = last ? last[0] + 60 : point[0]; m < point[0]; m += 60) series.push([m, last[1]]);
    series.push([point[0], point[1]]);
  }
  return series;
}

/**
 * An update's per-minute figures ([minute, entries, exits], only the minutes still counting)
 * merged into the 60 the page holds: by minute, the newer winning, minutes without events as zeros.
 */
export function mergeMinutes(held, fresh) {
  const byMinute = new Map((held || []).map((m) => [m[0], m]));
  for (const m of fresh || []) byMinute.set(m[0], m);
  if (!byMinute.size) return [];
  const last = Math.max(...byMinute.keys());
  const merged = [];
  for (let m = last - 59 * 60; m <= last; m += 60) merged.push(byMinute.get(m) || [m, 0, 0]);
  return merged;
}

/** An update's new events (newest first) in front of those held, each once, at most 20. */
export function mergeRecent(fresh, held) {
  const seen = new Set();
  const merged = [];
  for (const event of [...(fresh || []), ...(held || [])]) {
    const key = `${event.at}|${event.event}|${event.party}`;
    if (!seen.has(key)) {
      seen.add(key);
      merged.push(event);
    }
  }
  return merged.slice(0, 20);
}

/** Call the JSON API with the page's cookie; resolves to the body, rejects with a message. */
export async function api(method, url, body) {
  const options = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    throw new Error(T.network_error);
  }
  let data = null;
  try { data = await response.json(); } catch (err) { data = null; }
  if (!response.ok) {
    const message = (data && data.error && data.error.message) || `HTTP ${response.status}`;
    const error = new Error(message);
    error.code = data && data.error && data.error.code;
    error.field = data && data.error && data.error.field;  // the input at fault, if one is
    error.status = response.status;
    error.detail = (data && data.error) || {};  // the error's own fields (e.g. a time)
    throw error;
  }
  return data;
}

/** Show a short status line that clears itself. */
export function flash(id, message, kind = "ok") {
  const element = document.getElementById(id);
  if (!element) return;
  element.textContent = message;
  element.className = "status " + kind;
  clearTimeout(element._timer);
  element._timer = setTimeout(() => { element.textContent = ""; }, 6000);
}

/** A short tone of `frequency` Hz for `seconds` (door results, dashboard alerts); silent where
 *  the browser plays no sound: the screen says it anyway. */
let audio = null;
export function tone(frequency, seconds, volume = 0.15) {
  try {
    audio = audio || new AudioContext();
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.frequency.value = frequency;
    gain.gain.value = volume;
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start();
    oscillator.stop(audio.currentTime + seconds);
  } catch (err) { /* no sound here */ }
}
