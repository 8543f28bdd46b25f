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
  setLevelClass(document.body, level, message.paused);
  const [id, en] = message.paused ? MESSAGES.paused : level === "full" ? MESSAGES.full : MESSAGES.enter;
  text("message-id", id);
  text("message-en", en);
}

connect(`/ws/display/${encodeURIComponent(page.signed_code)}`, apply);
