// Door display: the count, the capacity and the traffic light from /ws/display/{signed_code}.
import { connect, number, page, setLevelClass, text } from "./live.js";

// The display speaks to everyone at the door, so it shows both languages at once.
const MESSAGES = {
  enter: ["Silakan masuk", "Please enter"],
  full: ["Penuh", "Full, please wait"],
  paused: ["Masuk ditutup sementara", "Entry paused"],
};

function apply(message) {
  if (message.type !== "snapshot" && message.type !== "update") return;
  const level = message.level;
  text("count", number(message.count));
  text("capacity", number(message.capacity));
  // Places offered to the waiting line are not free; while parties wait, the line is shown.
  const line = message.line || { waiting: 0, offered: 0 };
  const left = message.capacity - message.count - line.offered;
  if (line.waiting > 0 && !message.paused) {
    text("left", `${number(line.waiting)} rombongan antre · ${number(line.waiting)} `
      + `${line.waiting === 1 ? "party" : "parties"} in line`);
  } else {
    text("left", message.paused || left <= 0 ? "\u00a0"
      : `${number(left)} tempat tersisa · ${number(left)} ${left === 1 ? "place" : "places"} left`);
  }
  setLevelClass(document.body, level, message.paused);
  const [id, en] = message.paused ? MESSAGES.paused : level === "full" ? MESSAGES.full : MESSAGES.enter;
  text("message-id", id);
  text("message-en", en);
}

connect(`/ws/display/${encodeURIComponent(page.signed_code)}`, apply);

// The rotating door code changes every 30 s: drawn again every 5 s while this display may have
// it (a data: URL: the page's policy allows no other image source than this site and data:).
async function showDoorCode() {
  const answer = await fetch(`/api/venues/${page.venue_id}/door-qr.svg`,
                             { credentials: "same-origin", cache: "no-store" }).catch(() => null);
  if (answer && (answer.status === 401 || answer.status === 403)) return false;  // not staff's
  if (answer && answer.ok) {
    const svg = await answer.text();
    document.getElementById("door-qr-img").src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg);
    document.getElementById("door-qr").hidden = false;
  }
  return true;
}

if (page.door_code_required) {
  showDoorCode().then((mayShow) => {
    if (mayShow) setInterval(showDoorCode, 5000);
  });
}
