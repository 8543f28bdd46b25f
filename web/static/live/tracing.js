// Contact tracing: ask the API with the health office's private key (read here from its file,
// sent in the request body, kept nowhere), show the case's visits and the people who overlapped.
import { api, cityTime, el, T, text } from "./live.js";

const form = document.getElementById("tracing-form");
let lastQuestion = null;

async function question() {
  const [file] = document.getElementById("key-file").files;
  const body = {
    start: form.elements.start.value,
    end: form.elements.end.value,
    private_key: file ? (await file.text()).trim() : "",
  };
  const phone = form.elements.phone.value.trim();
  const ticket = form.elements.ticket.value.trim();
  if (phone) body.phone = phone;
  if (ticket) body.ticket = ticket;
  return body;
}

function row(visit, overlap) {
  const person = visit.person || { name: T.tracing_purged, phone: "", email: "" };
  const times = `${cityTime(Date.parse(visit.checked_in_at) / 1000)} – ${
    visit.checked_out_at ? cityTime(Date.parse(visit.checked_out_at) / 1000) : T.tracing_still_in}`;
  return el("tr", {}, el("td", {}, visit.venue.name), el("td", {}, times),
            el("td", {}, person.name), el("td", {}, person.phone), el("td", {}, person.email || ""),
            el("td", {}, overlap === undefined ? "" : `${overlap} ${T.minutes}`));
}

function show(found) {
  document.getElementById("results").hidden = false;
  document.querySelector("#cases tbody").replaceChildren(...found.cases.map((v) => row(v)));
  document.querySelector("#contacts tbody").replaceChildren(
    ...found.contacts.map((c) => row(c, c.overlap_minutes)));
  text("tracing-status", `${found.people_revealed} ${T.tracing_revealed}`);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  text("tracing-status", "");
  try {
    lastQuestion = await question();
    show(await api("POST", "/api/city/tracing", lastQuestion));
    document.getElementById("download").hidden = false;
  } catch (err) {
    text("tracing-status", err.message);
  }
});

document.getElementById("download").addEventListener("click", async () => {
  const answer = await fetch("/api/city/tracing.csv", {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(lastQuestion),
  });
  if (!answer.ok) return text("tracing-status", T.failed);
  const link = el("a", { href: URL.createObjectURL(await answer.blob()),
                         download: `tracing-${lastQuestion.start}-${lastQuestion.end}.csv` });
  link.click();
  URL.revokeObjectURL(link.href);
});
