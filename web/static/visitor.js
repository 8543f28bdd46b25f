/* The visitor page: live crowd level, check-in, the ticket kept on the phone, check-out.
 *
 * Texts come from the page (#page-data), never from this file. Only the ticket, the venue's
 * name, the party size and the check-in time are kept in localStorage; the visitor's name,
 * phone and email leave the form only in the body of the check-in request.
 */
(function () {
  "use strict";

  var page = JSON.parse(document.getElementById("page-data").textContent);
  var T = page.texts;
  var kit = window.occupancyKit, $ = kit.$, fmt = kit.fmt, newKey = kit.newKey;
  var VIEWS = ["form", "ticket", "done", "full", "paused"];
  var STORE = "occupancy.ticket." + page.venue.code;
  var POLL_MS = 10000;
  var locale = page.lang === "id" ? "id-ID" : "en-GB";
  var api = {
    occupancy: "/api/venues/" + encodeURIComponent(page.signed_code) + "/occupancy",
    checkIn: "/api/venues/" + encodeURIComponent(page.signed_code) + "/check-ins",
    // The ticket travels in request bodies, never in a URL that a proxy or server would log.
    checkOut: "/api/check-outs",
    qr: "/api/ticket-qr",
    alternatives: "/api/venues/" + encodeURIComponent(page.signed_code) + "/alternatives",
  };

  var form = $("check-in-form");
  var party = $("party_size");
  var submitButton = $("submit");
  var checkOutButton = $("check-out");

  // The idempotency key of the check-in attempt whose answer has not arrived yet; a retry after
  // a network error reuses it so that the visit counts once, whatever happened to the first try.
  var pendingKey = null;
  var submitted = false;
  var busy = false;
  var current = null;
  var clockTimer = null;
  var view = null;

  // One number format per language, as the staff pages write it: 4.000 (id), 4,000 (en).
  function number(value) {
    return typeof value === "number" ? value.toLocaleString(locale) : String(value);
  }

  // Full: where else of the same kind has room now (its district's first).
  function showAlternatives() {
    fetch(api.alternatives, { cache: "no-store", credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : { venues: [] }; })
      .then(function (data) {
        var list = $("alternatives-list");
        list.replaceChildren();
        data.venues.forEach(function (v) {
          var link = document.createElement("a");
          link.href = v.url;
          link.textContent = v.name;
          var where = document.createElement("span");
          where.className = "alt-meta";
          where.textContent = (v.district ? v.district + " · " : "") +
            fmt(T.people_inside, { count: number(v.count), capacity: number(v.capacity) });
          var item = document.createElement("li");
          item.className = "level-" + v.level;
          item.append(link, where);
          list.append(item);
        });
        $("alternatives").hidden = data.venues.length === 0;
      }, function () { $("alternatives").hidden = true; });
  }

  function show(name) {
    if (name === "full" && view !== "full") showAlternatives();
    view = name;
    VIEWS.forEach(function (v) { $("view-" + v).hidden = v !== name; });
    $("crowd").hidden = name === "ticket" || name === "done";
    document.body.setAttribute("data-view", name);
    if (name === "ticket") startClock(); else stopClock();
  }

  // ---- live crowd level ----

  function renderOccupancy(o) {
    var level = o.paused ? "paused" : (o.level || "unknown");
    var crowd = $("crowd");
    crowd.className = "crowd level-" + level;
    $("crowd-level-text").textContent = T["level_" + level] || T.level_unknown;
    if (typeof o.count === "number" && o.capacity) {
      var numbers = { count: number(o.count), capacity: number(o.capacity) };
      $("crowd-count").textContent = fmt(T.people_inside, numbers);
      $("full-count").textContent = fmt(T.full_count, numbers);
      $("crowd-meter").style.width = Math.min(100, (100 * o.count) / o.capacity) + "%";
    }
    page.occupancy = o;
  }

  function roomNow(o) {
    // This phone's party waits in the line (line.js): its turn comes on the full view.
    if (localStorage.getItem("occupancy.line." + page.venue.code)) return false;
    return !o.paused && o.level !== "full";
  }

  function refreshOccupancy() {
    return fetch(api.occupancy, { cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (o) {
        $("crowd-offline").hidden = true;
        renderOccupancy(o);
        // Opened while full or paused, nothing tried yet: offer the form as soon as there is room.
        if (!submitted && (view === "full" || view === "paused") && roomNow(o)) show("form");
        return o;
      })
      .catch(function () {
        $("crowd-offline").hidden = false;
        return null;
      });
  }

  function poll() {
    // The socket keeps the numbers current; asking the API is the fallback without it.
    if (!document.hidden && !liveOk) refreshOccupancy();
  }

  // ---- the venue's live socket: the numbers at once, and the end of this phone's visit ----

  var socket = null;
  var liveOk = false;
  var reconnectMs = 1000;

  function openSocket() {
    if (!("WebSocket" in window)) return;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + location.host + "/ws/display/" + encodeURIComponent(page.signed_code));
    socket = ws;
    ws.onopen = function () {
      reconnectMs = 1000;
      followTicket();
    };
    ws.onmessage = function (message) {
      var frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      if (frame.type === "snapshot" || frame.type === "update") {
        liveOk = true;
        $("crowd-offline").hidden = true;
        renderOccupancy(frame);
        // The waiting line's script (line.js) asks for its party's place when the line moves.
        if (frame.line) document.dispatchEvent(new CustomEvent("occupancy:line", { detail: frame.line }));
        if (!submitted && (view === "full" || view === "paused") && roomNow(frame)) show("form");
      } else if (frame.type === "visit") {
        visitChanged(frame);
      }
    };
    ws.onclose = function () {
      liveOk = false;
      if (socket !== ws) return;
      socket = null;
      setTimeout(openSocket, reconnectMs);
      reconnectMs = Math.min(30000, reconnectMs * 2);
    };
  }

  // The ticket goes in a message on the socket, never in its URL.
  function followTicket() {
    if (socket && socket.readyState === 1 && current && !current.ended) {
      socket.send(JSON.stringify({ ticket: current.ticket }));
    }
  }

  function visitChanged(frame) {
    if (!current || current.ended) return;
    if (frame.state === "ended" && frame.reason === "visitor") {
      forgetTicket();
      $("done-body").textContent = fmt(T.done_body, { venue: current.venue });
      $("done-auto").hidden = true;
      current = null;
      show("done");
    } else if (frame.state === "ended") {
      current.ended = frame.reason || "staff";
      saveTicket(current);  // a reload shows the ended ticket too, until "check in again"
      showEnded(current);
    } else if (frame.state === "unknown") {
      forgetTicket();
      current = null;
      show("form");
      formError(T.error_unknown_ticket);
    }
  }

  function showEnded(t) {
    var ticket = $("ticket");
    ticket.classList.add("ticket-ended");
    ticket.classList.toggle("ticket-fever", t.ended === "fever");
    $("ticket-check").innerHTML = t.ended === "fever" ? "&#10005;" : "&#8212;";
    $("ticket-ok").textContent = T.ended_title;
    $("ticket-ended-reason").textContent = T["ended_" + t.ended] || T.ended_staff;
    $("ticket-ended-reason").hidden = false;
    $("ticket-door").hidden = true;
    checkOutButton.hidden = true;
    $("check-out-confirm").hidden = true;
    $("ticket-again").hidden = false;
    stopClock();
  }

  // ---- the ticket kept on this phone ----

  function saveTicket(t) {
    t.signed_code = page.signed_code;  // the landing page links back to this venue's page
    try { localStorage.setItem(STORE, JSON.stringify(t)); } catch (e) { /* private mode: memory only */ }
  }

  function loadTicket() {
    var t = null;
    try { t = JSON.parse(localStorage.getItem(STORE) || "null"); } catch (e) { t = null; }
    if (!t || typeof t.ticket !== "string" || !t.checked_in_at) return null;
    // Past the longest stay the visit has been checked out automatically: forget the ticket.
    var age = Date.now() - new Date(t.checked_in_at).getTime();
    if (!(age < page.venue.max_stay_minutes * 60000)) {
      forgetTicket();
      return null;
    }
    return t;
  }

  function forgetTicket() {
    try { localStorage.removeItem(STORE); } catch (e) { /* nothing kept */ }
  }

  // The code door staff can type: the first 8 hex digits of the ticket's SHA-256, as 3F9A-07C2.
  // Given by the check-in answer; worked out again after a reload (Web Crypto: HTTPS, localhost).
  function shortCodeOf(ticket, known) {
    if (known) return Promise.resolve(known);
    if (!window.crypto || !crypto.subtle || !window.TextEncoder) return Promise.resolve(null);
    return crypto.subtle.digest("SHA-256", new TextEncoder().encode(ticket)).then(function (buffer) {
      var bytes = new Uint8Array(buffer, 0, 4);
      var hex = "";
      for (var i = 0; i < bytes.length; i++) hex += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
      hex = hex.toUpperCase();
      return hex.slice(0, 4) + "-" + hex.slice(4);
    }, function () { return null; });
  }

  function postTicket(url, ticket) {
    return fetch(url, {
      method: "POST", cache: "no-store", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ ticket: ticket }),
    });
  }

  function showDoorCodes(t, knownCode) {
    // Shown once its picture has loaded: an empty frame would look like a broken code.
    var qr = $("ticket-qr");
    qr.hidden = true;
    qr.onload = function () { qr.hidden = current !== t; };
    qr.onerror = function () { qr.hidden = true; };
    postTicket(api.qr, t.ticket).then(function (response) {
      if (!response.ok) throw new Error("qr");
      return response.text();
    }).then(function (svg) {
      if (current === t) qr.src = "data:image/svg+xml;base64," + btoa(svg);
    }, function () { qr.hidden = true; });
    $("ticket-door-code").hidden = true;
    shortCodeOf(t.ticket, knownCode).then(function (code) {
      if (current !== t || !code) return;
      $("ticket-short-code").textContent = code;
      $("ticket-door-code").hidden = false;
    });
  }

  function showTicket(t, knownCode) {
    current = t;
    $("ticket-venue").textContent = t.venue;
    $("ticket-time").textContent = new Date(t.checked_in_at).toLocaleString(locale, {
      weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
      timeZone: page.timezone,  // the city's time, as the guard's clock shows it
    });
    $("ticket-party").textContent = fmt(T.party_people, { n: t.party_size });
    // One code for the guard to read or type: the staff short code (kept with the ticket, so it
    // shows after a reload on plain HTTP too, where Web Crypto cannot work it out again).
    knownCode = knownCode || t.short_code;
    showDoorCodes(t, knownCode);
    $("check-out-error").hidden = true;
    checkOutButton.disabled = false;
    checkOutButton.textContent = T.check_out;
    var ticket = $("ticket");
    ticket.classList.remove("ticket-ended", "ticket-fever");
    $("ticket-check").innerHTML = "&#10003;";
    $("ticket-ok").textContent = T.ticket_ok;
    $("ticket-ended-reason").hidden = true;
    $("ticket-door").hidden = false;
    checkOutButton.hidden = false;
    $("check-out-confirm").hidden = true;
    $("ticket-again").hidden = true;
    show("ticket");
    if (t.ended) showEnded(t); else followTicket();
  }

  // A ticking clock shows the guard a live screen, not a screenshot.
  function tick() {
    $("ticket-clock").textContent = new Date().toLocaleTimeString(locale, {
      hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone: page.timezone,
    });
    if (current) {
      var minutes = Math.max(0, Math.floor((Date.now() - new Date(current.checked_in_at).getTime()) / 60000));
      $("ticket-stay").textContent = fmt(T.stay_hm, { h: Math.floor(minutes / 60), m: String(minutes % 60).padStart(2, "0") });
    }
  }

  function startClock() {
    tick();
    if (!clockTimer) clockTimer = setInterval(tick, 1000);
  }

  function stopClock() {
    if (clockTimer) clearInterval(clockTimer);
    clockTimer = null;
  }

  // ---- check-in ----

  function clearErrors() {
    ["name", "phone", "email", "party_size"].forEach(function (field) {
      $(field + "-error").hidden = true;
      $(field).removeAttribute("aria-invalid");
    });
    $("form-error").hidden = true;
  }

  function fieldError(field, message, focus) {
    var input = $(field);
    var slot = $(field + "-error");
    if (!input || !slot) return formError(message);
    slot.textContent = message;
    slot.hidden = false;
    input.setAttribute("aria-invalid", "true");
    if (focus !== false) input.focus();
  }

  function formError(message) {
    var slot = $("form-error");
    slot.textContent = message;
    slot.hidden = false;
    show("form");
  }

  function setBusy(on) {
    busy = on;
    submitButton.disabled = on;
    submitButton.textContent = on ? T.sending : T.submit;
    $("full-retry-button").disabled = on;
    $("paused-retry-button").disabled = on;
  }

  function requestBody() {
    var body = {
      name: form.elements.name.value,
      phone: form.elements.phone.value,
      party_size: parseInt(party.value, 10),
    };
    if (isNaN(body.party_size)) body.party_size = 0;  // empty: refused as a party size, with the rest
    var email = form.elements.email.value.trim();
    if (email) body.email = email;
    // The rotating code of the door screen's QR code, where the venue requires one.
    var door = new URLSearchParams(window.location.search).get("door");
    if (door) body.door_code = door;
    // Places offered to this phone's party of the waiting line (web/static/line.js).
    if (form.dataset.line) body.line = form.dataset.line;
    return body;
  }

  function checkIn() {
    if (busy) return;
    clearErrors();
    submitted = true;
    if (!pendingKey) pendingKey = newKey();
    var body = requestBody();
    body.idempotency_key = pendingKey;
    setBusy(true);
    fetch(api.checkIn, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      cache: "no-store",
      credentials: "same-origin",
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        setBusy(false);
        answered(response, data);
      });
    }, function () {
      // No answer: the check-in may or may not have been recorded; the retry keeps the key.
      setBusy(false);
      formError(T.error_network);
    });
  }

  function answered(response, data) {
    if (response.status >= 500 || !data) {
      formError(T.error_server);
      return;
    }
    pendingKey = null;
    if (response.ok) {
      checkedIn(data);
      form.reset();
      delete form.dataset.line;
      document.dispatchEvent(new CustomEvent("occupancy:checked-in"));
      submitted = false;
      return;
    }
    var error = data.error || {};
    // Full, or others wait in the line for the next places: the full view offers the line.
    if (error.code === "venue_full" || error.code === "line_waiting") {
      $("full-count").textContent = fmt(T.full_count, { count: number(error.count), capacity: number(error.capacity) });
      var minutes = Math.max(1, Math.ceil((error.retry_after_seconds || 60) / 60));
      $("full-retry").textContent = fmt(T.full_retry, { minutes: minutes });
      show("full");
      refreshOccupancy();
    } else if (error.code === "venue_paused") {
      show("paused");
      refreshOccupancy();
    } else if (T["error_field_" + error.field]) {
      // Every field's problem at once, not one per try.
      show("form");
      (error.fields || [error]).forEach(function (problem, i) {
        var text = T["error_field_" + problem.field];
        if (text) fieldError(problem.field, fmt(text, { max: page.venue.max_party }), i === 0);
      });
    } else {
      formError(error.message || T.error_generic);
    }
  }

  // A check-in's answer (this form's, or a booking's claim by booking.js): the ticket, kept.
  function checkedIn(data) {
    var t = {
      ticket: data.ticket,
      venue: data.venue.name,
      party_size: data.party_size,
      checked_in_at: data.checked_in_at,
      short_code: data.short_code,
    };
    saveTicket(t);
    showTicket(t, data.short_code);
    refreshOccupancy();
  }
  window.occupancyVisitor = { checkedIn: checkedIn };

  // Retry from the full or paused screen: send the same details again, or, if nothing was
  // sent yet (the page opened full), look whether there is room now.
  function retry() {
    if (submitted) {
      checkIn();
      return;
    }
    refreshOccupancy().then(function (o) {
      if (o && roomNow(o)) show("form");
    });
  }

  // ---- check-out ----

  function checkOut() {
    if (busy || !current) return;
    busy = true;
    checkOutButton.disabled = true;
    checkOutButton.textContent = T.checking_out;
    $("check-out-error").hidden = true;
    var t = current;
    postTicket(api.checkOut, t.ticket)
      .then(function (response) {
        return response.json().catch(function () { return null; }).then(function (data) {
          busy = false;
          checkedOut(t, response, data);
        });
      }, function () {
        busy = false;
        checkOutFailed(T.error_network);
      });
  }

  function checkOutFailed(message) {
    checkOutButton.disabled = false;
    checkOutButton.textContent = T.check_out;
    $("check-out-error").textContent = message;
    $("check-out-error").hidden = false;
  }

  function checkedOut(t, response, data) {
    if (response.ok && data) {
      forgetTicket();
      current = null;
      $("done-body").textContent = fmt(T.done_body, { venue: t.venue });
      $("done-auto").hidden = data.reason === "visitor";
      show("done");
      refreshOccupancy();
    } else if (response.status === 404 || response.status === 400) {
      forgetTicket();
      current = null;
      formError(T.error_unknown_ticket);
    } else {
      checkOutFailed(response.status >= 500 ? T.error_server : T.error_generic);
    }
  }

  // ---- a visit still open at another venue (its ticket kept on this phone) ----

  var PREFIX = "occupancy.ticket.";
  var elsewhere = null;

  function openElsewhere() {
    for (var i = 0; i < localStorage.length; i++) {
      var key = localStorage.key(i);
      if (!key || key.indexOf(PREFIX) !== 0 || key === STORE) continue;
      var t = null;
      try { t = JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { t = null; }
      // A day old or ended: that visit is over (its venue's time limit checks it out).
      if (t && t.ticket && !t.ended && Date.now() - new Date(t.checked_in_at).getTime() < 86400000) {
        return { key: key, ticket: t };
      }
    }
    return null;
  }

  function offerCheckOutElsewhere() {
    try { elsewhere = openElsewhere(); } catch (e) { elsewhere = null; }
    $("elsewhere").hidden = !elsewhere;
    if (!elsewhere) return;
    $("elsewhere-text").textContent = fmt(T.elsewhere, {
      venue: elsewhere.ticket.venue,
      time: new Date(elsewhere.ticket.checked_in_at).toLocaleTimeString(locale, {
        hour: "2-digit", minute: "2-digit", timeZone: page.timezone }),
    });
  }

  $("elsewhere-out").addEventListener("click", function () {
    if (!elsewhere) return;
    var other = elsewhere;
    postTicket(api.checkOut, other.ticket.ticket).then(function (response) {
      // Done, already ended, or unknown: that ticket is of no more use on this phone.
      if (response.ok || response.status === 404 || response.status === 409 || response.status === 400) {
        try { localStorage.removeItem(other.key); } catch (e) { /* nothing kept */ }
        offerCheckOutElsewhere();
      } else {
        formError(T.error_server);
      }
    }, function () { formError(T.error_network); });
  });

  // ---- party size picker ----

  function stepParty(delta) {
    var value = parseInt(party.value, 10);
    if (isNaN(value)) value = 1;
    party.value = String(Math.min(page.venue.max_party, Math.max(1, value + delta)));
  }

  // ---- wiring ----

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    checkIn();
  });
  $("party-minus").addEventListener("click", function () { stepParty(-1); });
  $("party-plus").addEventListener("click", function () { stepParty(1); });
  checkOutButton.addEventListener("click", function () {
    if (!current) return;
    $("check-out-question").textContent = fmt(T.check_out_confirm, { venue: current.venue });
    checkOutButton.hidden = true;
    $("check-out-confirm").hidden = false;
    $("check-out-yes").focus();
  });
  $("check-out-yes").addEventListener("click", function () {
    $("check-out-confirm").hidden = true;
    checkOutButton.hidden = false;
    checkOut();
  });
  $("check-out-no").addEventListener("click", function () {
    $("check-out-confirm").hidden = true;
    checkOutButton.hidden = false;
    checkOutButton.focus();
  });
  $("full-retry-button").addEventListener("click", retry);
  $("paused-retry-button").addEventListener("click", retry);
  $("full-back").addEventListener("click", function () { show("form"); });
  $("paused-back").addEventListener("click", function () { show("form"); });
  $("again").addEventListener("click", function () {
    clearErrors();
    show("form");
    offerCheckOutElsewhere();
  });
  $("ticket-again").addEventListener("click", function () {
    forgetTicket();
    current = null;
    clearErrors();
    show("form");
    offerCheckOutElsewhere();
  });
  document.addEventListener("visibilitychange", poll);
  // The waiting line's script shows the form when its party claims the places offered.
  document.addEventListener("occupancy:show", function (event) { show(event.detail); });

  renderOccupancy(page.occupancy);
  var kept = loadTicket();
  if (kept) {
    showTicket(kept);
  } else {
    var initial = page.occupancy.paused ? "paused" : (page.occupancy.level === "full" ? "full" : "form");
    show(initial);
    offerCheckOutElsewhere();
  }
  setInterval(poll, POLL_MS);
  openSocket();
})();
