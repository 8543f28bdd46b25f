// Door staff screen: screen a visit's temperature, check a visit out, count walk-ins, let a
// booked party in. A visit is named by its ticket (scanned from the visitor's QR or pasted) or by
// its short code (typed); a booking by its code (scanned from its QR or typed).
import { api, clock, connect, flash, format, number, page, setLevelClass, T, text, tone } from "./live.js";

const venue = page.venue;
// Tested before TICKET, which would also match a booking code's tail.
const BOOKING = /(B[1-9][0-9]{0,9}\.[A-Za-z0-9_-]{32})/;
const TICKET = /([1-9][0-9]{0,9}\.[A-Za-z0-9_-]{32})/;
// The visitor's "code for the staff": 8 hex digits, any case, with or without the dash.
const SHORT_CODE = /^([0-9a-f]{4})[\s-]?([0-9a-f]{4})$/i;
const ticketInput = document.getElementById("ticket");
const temperatureInput = document.getElementById("temperature");
const result = document.getElementById("result");

function apply(message) {
  if (message.type !== "snapshot" && message.type !== "update") return;
  text("count", number(message.count));
  text("capacity", number(message.capacity));
  const level = message.level;
  setLevelClass(document.getElementById("hero"), level, message.paused);
  const words = [T["level_" + level] || ""];
  if (message.paused) words.unshift(T.level_paused);
  text("level", words.filter(Boolean).join(" · "));
}

/**
 * The requests that screen and check out the visit named in `value`: a ticket (bare, or in a
 * pasted text or link) travels in the body, never in a URL; a short code of this venue's visit
 * in the path. Null for anything else.
 */
function visitRequests(value) {
  const text = value.trim();
  const ticket = TICKET.exec(text);
  if (ticket) {
    const door = `/api/venues/${venue.id}`;
    return { screening: `${door}/screenings`, checkOut: `${door}/door-check-outs`, body: { ticket: ticket[1] } };
  }
  const short = SHORT_CODE.exec(text);
  if (!short) return null;
  const visit = `/api/venues/${venue.id}/visits/by-code/${(short[1] + short[2]).toUpperCase()}`;
  return { screening: `${visit}/screening`, checkOut: `${visit}/check-out`, body: {} };
}

/** High and short for admitted or done, low and long for refused (heard at a noisy door). */
function beep(good) {
  tone(good ? 880 : 220, good ? 0.15 : 0.45);
}

function clearResult() {
  result.hidden = true;
  result.replaceChildren();
}

function show(kind, title, detail) {
  result.hidden = false;
  result.className = "result " + kind;
  result.replaceChildren();
  const strong = document.createElement("strong");
  strong.textContent = title;
  result.append(strong);
  if (detail) {
    const small = document.createElement("span");
    small.textContent = detail;
    result.append(small);
  }
}

// What door staff must tell apart at a glance, by the API's error code.
const OUTCOMES = { visit_ended: "already_ended", other_venue: "other_venue",
                   unknown_ticket: "unknown_ticket", malformed_ticket: "unknown_ticket" };

function fail(err) {
  const outcome = OUTCOMES[err.code];
  if (outcome) show("bad", T["door_" + outcome], err.message);
  else show("bad", format(T.failed, { message: err.message }));
  beep(false);
}

// --- a booked party: its booking claimed, then its visit's ticket ready for the temperature ---

const BOOKING_OUTCOMES = {
  booking_expired: "door_booking_expired", booking_cancelled: "door_booking_cancelled",
  other_venue: "door_other_venue_booking", unknown_booking: "door_unknown_booking",
  malformed_booking: "door_unknown_booking", venue_full: "door_booking_full",
  venue_paused: "door_booking_paused",
};

async function claimBooking(code) {
  clearResult();
  try {
    const answer = await api("POST", `/api/venues/${venue.id}/booking-claims`, { booking: code });
    show("ok", answer.replayed ? T.booking_in_before : T.booking_in, format(T.booking_party, {
      n: answer.party_size, count: number(answer.occupancy.count),
      capacity: number(answer.occupancy.capacity) }));
    beep(true);
    // The party's visit, ready for its temperature or its check-out.
    ticketInput.value = answer.ticket;
    temperatureInput.focus();
  } catch (err) {
    const detail = err.detail || {};
    if (err.code === "claim_too_early") {
      show("bad", format(T.door_claim_too_early, { time: clock(Date.parse(detail.starts_at) / 1000) }));
    } else if (BOOKING_OUTCOMES[err.code]) {
      show("bad", T[BOOKING_OUTCOMES[err.code]], err.message);
    } else {
      show("bad", format(T.failed, { message: err.message }));
    }
    beep(false);
  }
}

// Shown at venues run by time slots only; a scanned or entered booking code is claimed anywhere.
document.getElementById("claim-button")?.addEventListener("click", () => {
  const booking = BOOKING.exec(ticketInput.value);
  if (!booking) { show("bad", T.ticket_needed); ticketInput.focus(); return; }
  claimBooking(booking[1]);
});

document.getElementById("ticket-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearResult();  // no stale answer under the next one
  const booking = BOOKING.exec(ticketInput.value);
  if (booking) { claimBooking(booking[1]); return; }
  const visit = visitRequests(ticketInput.value);
  if (!visit) { show("bad", T.ticket_needed); ticketInput.focus(); return; }
  const temperature = Number.parseFloat(temperatureInput.value.replace(",", "."));
  if (!Number.isFinite(temperature)) { show("bad", T.temperature_needed); temperatureInput.focus(); return; }
  try {
    const answer = await api("POST", visit.screening, { ...visit.body, temperature });
    const detail = `${number(answer.temperature, 1)} °C`;
    if (answer.result === "admitted") show("ok", T.admitted, detail);
    else show("bad", T.refused_fever_result, `${detail} ≥ ${number(answer.threshold, 1)} °C`);
    beep(answer.result === "admitted");
    ticketInput.value = "";
    temperatureInput.value = "";
    ticketInput.focus();
  } catch (err) { fail(err); }
});

document.getElementById("checkout-button").addEventListener("click", async () => {
  clearResult();
  const visit = visitRequests(ticketInput.value);
  if (!visit) { show("bad", T.ticket_needed); ticketInput.focus(); return; }
  try {
    const answer = await api("POST", visit.checkOut, visit.body);
    show("neutral", T.checked_out, format(T.party_of, { n: answer.party_size }));
    ticketInput.value = "";
    ticketInput.focus();
  } catch (err) { fail(err); }
});

for (const [id, delta] of [["walkin-plus", 1], ["walkin-minus", -1]]) {
  document.getElementById(id).addEventListener("click", async () => {
    try {
      await api("POST", `/api/venues/${venue.id}/walk-ins`, { delta });
      flash("control-status", T.saved, "ok");
    } catch (err) {
      flash("control-status", format(T.failed, { message: err.message }), "bad");
    }
  });
}

// --- scanning the visitor's QR with the camera, in any browser (jsQR, vendored) -------------

const scanButton = document.getElementById("scan-button");
const video = document.getElementById("scan-video");
const SCAN_EVERY_MS = 150;
const frame = document.createElement("canvas");
const frameContext = frame.getContext("2d", { willReadFrequently: true });
let scan = null;

/** The text of a QR code in the video's current frame, or null. */
function readFrame() {
  if (!video.videoWidth || !window.jsQR) return null;
  const scale = Math.min(1, 640 / video.videoWidth);  // enough pixels for a phone held near
  frame.width = Math.round(video.videoWidth * scale);
  frame.height = Math.round(video.videoHeight * scale);
  frameContext.drawImage(video, 0, 0, frame.width, frame.height);
  const pixels = frameContext.getImageData(0, 0, frame.width, frame.height);
  const found = window.jsQR(pixels.data, pixels.width, pixels.height, { inversionAttempts: "dontInvert" });
  return found ? found.data : null;
}

async function startScan() {
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: "environment" }, audio: false,
  });
  const session = { stream, stopped: false };
  scan = session;
  video.srcObject = stream;
  video.hidden = false;
  scanButton.textContent = T.scan_stop;
  await video.play();
  const look = () => {
    if (session.stopped) return;
    const text = readFrame();
    // A booking is let in at once; its visit's ticket then waits for the temperature.
    if (text && BOOKING.test(text)) {
      stopScan();
      claimBooking(BOOKING.exec(text)[1]);
      return;
    }
    // Only a ticket counts: a venue's poster in view is not what the staff are after.
    if (text && TICKET.test(text)) {
      ticketInput.value = TICKET.exec(text)[1];
      stopScan();
      clearResult();
      beep(true);
      temperatureInput.focus();
      return;
    }
    setTimeout(look, SCAN_EVERY_MS);
  };
  look();
}

function stopScan() {
  if (!scan) return;
  scan.stopped = true;
  for (const track of scan.stream.getTracks()) track.stop();
  scan = null;
  video.srcObject = null;
  video.hidden = true;
  scanButton.textContent = T.scan;
}

scanButton.addEventListener("click", async () => {
  if (scan) { stopScan(); return; }
  scanButton.disabled = true;  // one camera request at a time
  try {
    if (!navigator.mediaDevices?.getUserMedia) throw new Error(T.camera_missing);
    await startScan();
  } catch (err) {
    stopScan();
    show("bad", format(T.camera_failed, { message: err.message || err.name }));
  } finally {
    scanButton.disabled = false;
  }
});
// The camera is not left on behind another tab or a locked screen.
document.addEventListener("visibilitychange", () => { if (document.hidden) stopScan(); });

// A new ticket typed or scanned: the last answer belongs to the last visitor.
ticketInput.addEventListener("input", clearResult);
// The full-screen answer goes away with a tap (the next visitor is waiting).
result.addEventListener("click", clearResult);

connect(`/ws/venues/${venue.id}`, apply);

// The rotating door QR code (venues that require it) changes every 30 s: load it every 5 s, so
// the screen never shows a code older than its step allows.
const doorQr = document.getElementById("door-qr");
if (doorQr) {
  setInterval(() => {
    doorQr.src = `/api/venues/${venue.id}/door-qr.svg?at=${Date.now()}`;
  }, 5000);
}
