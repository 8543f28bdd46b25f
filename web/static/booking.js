/* The venue page's time slots: pick a day and a free slot, book it, keep the booking on the
 * phone (its QR code for the door staff), cancel it, or use it to enter when scanning the poster.
 *
 * Texts come from the page (#page-data), never from this file. Only the booking code, its slot
 * and party size are kept in localStorage; name, phone and email leave the form only in the
 * body of the booking request. A claimed booking becomes a visit whose ticket visitor.js shows.
 */
(function () {
  "use strict";

  var page = JSON.parse(document.getElementById("page-data").textContent);
  var T = page.texts;
  var kit = window.occupancyKit, $ = kit.$, fmt = kit.fmt, newKey = kit.newKey,
      postJson = kit.postJson;
  var plan = page.booking;
  var STORE = "occupancy.booking." + page.venue.code;
  var locale = page.lang === "id" ? "id-ID" : "en-GB";
  var venueApi = "/api/venues/" + encodeURIComponent(page.signed_code);
  var api = {
    freeSlots: venueApi + "/free-slots",
    book: venueApi + "/bookings",
    checkIn: venueApi + "/check-ins",
    // Booking codes travel in request bodies, never in a URL that a proxy or server would log.
    cancel: "/api/booking-cancellations",
    qr: "/api/booking-qr",
  };
  var FIELDS = ["name", "phone", "email", "party_size"];
  var form = $("booking-form");
  var party = $("b-party_size");
  var submitButton = $("b-submit");
  var held = null;
  var busy = false;
  // The idempotency key of the booking whose answer has not arrived: a retry books once.
  var pendingKey = null;
  var slotsAsked = 0;
  var shownSlots = {};  // the day's slots last listed, by name (their times, for next_free)

  // Days and times on the city's clock, whatever the phone's zone.
  function clock(iso) {
    return new Date(iso).toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit", timeZone: page.timezone });
  }

  function dayOf(iso) {
    return new Date(iso).toLocaleDateString(locale, { weekday: "long", day: "numeric", month: "long", timeZone: page.timezone });
  }

  // A local day given as YYYY-MM-DD: its noon in UTC names the same calendar day.
  function dayLabel(isoDay) {
    return new Date(isoDay + "T12:00:00Z").toLocaleDateString(locale, {
      weekday: "long", day: "numeric", month: "long", timeZone: "UTC" });
  }

  function isToday(iso) {
    var today = new Date().toLocaleDateString(locale, { timeZone: page.timezone });
    return new Date(iso).toLocaleDateString(locale, { timeZone: page.timezone }) === today;
  }

  // ---- the booking kept on this phone ----

  function save(b) {
    try { localStorage.setItem(STORE, JSON.stringify(b)); } catch (e) { /* private mode: memory only */ }
  }

  function load() {
    var b = null;
    try { b = JSON.parse(localStorage.getItem(STORE) || "null"); } catch (e) { b = null; }
    return b && typeof b.booking === "string" && b.starts_at && b.held_until ? b : null;
  }

  function forget() {
    try { localStorage.removeItem(STORE); } catch (e) { /* nothing kept */ }
    held = null;
  }

  // ---- the three states: nothing booked, the booking form, the booking screen ----

  function showStart(note) {
    $("booking-start").hidden = false;
    $("book-panel").hidden = true;
    $("booking-held").hidden = true;
    $("book-open").setAttribute("aria-expanded", "false");
    $("booking-note").textContent = note || "";
    $("booking-note").hidden = !note;
  }

  function openPanel() {
    $("booking-start").hidden = true;
    $("book-panel").hidden = false;
    $("booking-held").hidden = true;
    $("book-open").setAttribute("aria-expanded", "true");
    loadSlots();
    $("b-day").focus();
  }

  function showHeld(b) {
    held = b;
    $("booking-start").hidden = true;
    $("book-panel").hidden = true;
    $("booking-held").hidden = false;
    $("booking-day").textContent = dayOf(b.starts_at);
    $("booking-time").textContent = clock(b.starts_at) + "–" + clock(b.ends_at);
    $("booking-party").textContent = fmt(T.party_people, { n: b.party_size });
    $("booking-come").textContent = fmt(T.booking_come, { start: clock(b.starts_at), until: clock(b.held_until) });
    $("booking-code").textContent = b.booking;
    $("booking-error").hidden = true;
    $("booking-use").hidden = false;
    $("booking-use").disabled = false;
    $("booking-cancel").hidden = false;
    $("booking-cancel").disabled = false;
    $("booking-cancel-confirm").hidden = true;
    showQr(b);
  }

  function showQr(b) {
    // Shown once its picture has loaded: an empty frame would look like a broken code.
    var qr = $("booking-qr");
    qr.hidden = true;
    qr.onload = function () { qr.hidden = held !== b; };
    qr.onerror = function () { qr.hidden = true; };
    fetch(api.qr, {
      method: "POST", cache: "no-store", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ booking: b.booking }),
    }).then(function (response) {
      if (!response.ok) throw new Error("qr");
      return response.text();
    }).then(function (svg) {
      if (held === b) qr.src = "data:image/svg+xml;base64," + btoa(svg);
    }, function () { qr.hidden = true; });
  }

  function heldError(message) {
    $("booking-error").textContent = message;
    $("booking-error").hidden = false;
  }

  // ---- a day's free slots ----

  function fillDays() {
    var select = $("b-day");
    plan.days.forEach(function (day) {
      var option = document.createElement("option");
      option.value = day;
      option.textContent = dayLabel(day);
      select.append(option);
    });
  }

  function loadSlots() {
    var asked = ++slotsAsked;
    var chosen = chosenSlot();
    var list = $("b-slots");
    var day = $("b-day").value;
    // Another day's slots are never left to be picked while this day's are on their way.
    if (list.dataset.day !== day) {
      list.replaceChildren();
      delete list.dataset.day;
    }
    $("b-slots-state").textContent = T.book_slots_loading;
    fetch(api.freeSlots + "?date=" + encodeURIComponent(day), { cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        if (asked !== slotsAsked) return;  // another day was picked meanwhile
        list.replaceChildren();
        list.dataset.day = day;
        shownSlots = {};
        data.slots.forEach(function (slot) {
          shownSlots[slot.slot] = slot;
          var input = document.createElement("input");
          input.type = "radio";
          input.name = "slot";
          input.value = slot.slot;
          input.disabled = slot.free < 1;
          input.checked = slot.slot === chosen && !input.disabled;
          var label = document.createElement("label");
          label.append(input, fmt(T.book_slot_free, {
            start: clock(slot.starts_at), end: clock(slot.ends_at), free: slot.free }));
          list.append(label);
        });
        $("b-slots-state").textContent = !data.open ? T.book_slots_closed : (data.slots.length ? "" : T.book_slots_none);
      }, function () {
        if (asked === slotsAsked) $("b-slots-state").textContent = T.book_slots_failed;
      });
  }

  function chosenSlot() {
    var checked = form.querySelector('input[name="slot"]:checked');
    return checked ? checked.value : null;
  }

  // ---- booking ----

  function clearErrors() {
    FIELDS.forEach(function (field) {
      $("b-" + field + "-error").hidden = true;
      $("b-" + field).removeAttribute("aria-invalid");
    });
    $("b-slot-error").hidden = true;
    $("b-form-error").hidden = true;
  }

  function fieldError(field, message, focus) {
    $("b-" + field + "-error").textContent = message;
    $("b-" + field + "-error").hidden = false;
    $("b-" + field).setAttribute("aria-invalid", "true");
    if (focus) $("b-" + field).focus();
  }

  function slotError(message) {
    $("b-slot-error").textContent = message;
    $("b-slot-error").hidden = false;
  }

  function formError(message) {
    $("b-form-error").textContent = message;
    $("b-form-error").hidden = false;
  }

  function setBusy(on) {
    busy = on;
    submitButton.disabled = on;
    submitButton.textContent = on ? T.sending : T.book_submit;
  }

  function book() {
    if (busy) return;
    clearErrors();
    var slot = chosenSlot();
    if (!slot) {
      slotError(T.book_pick_slot);
      return;
    }
    var body = {
      slot: slot,
      name: form.elements.name.value,
      phone: form.elements.phone.value,
      party_size: parseInt(party.value, 10) || 0,  // empty: refused as a party size
    };
    var email = form.elements.email.value.trim();
    if (email) body.email = email;
    if (!pendingKey) pendingKey = newKey();
    body.idempotency_key = pendingKey;
    setBusy(true);
    postJson(api.book, body).then(function (answer) {
      setBusy(false);
      booked(answer.response, answer.data);
    }, function () {
      // No answer: the booking may or may not be made; the retry keeps the key.
      setBusy(false);
      formError(T.error_network);
    });
  }

  function booked(response, data) {
    if (response.status >= 500 || !data) {
      formError(T.error_server);
      return;
    }
    pendingKey = null;
    if (response.ok) {
      var heldUntil = new Date(new Date(data.starts_at).getTime() + plan.hold_minutes * 60000);
      var b = {
        booking: data.booking, slot: data.slot, starts_at: data.starts_at, ends_at: data.ends_at,
        held_until: heldUntil.toISOString(), party_size: data.party_size,
      };
      save(b);
      form.reset();
      showHeld(b);
      $("booking").scrollIntoView();
      return;
    }
    var error = data.error || {};
    if (error.code === "invalid_input" && T["error_field_" + error.field]) {
      (error.fields || [error]).forEach(function (problem, i) {
        var text = T["error_field_" + problem.field];
        if (text && $("b-" + problem.field)) fieldError(problem.field, fmt(text, { max: plan.max_party }), i === 0);
      });
    } else if (error.code === "slot_full" && error.next_free && error.next_free.length) {
      slotError(fmt(T.error_slot_full_next, {
        slots: error.next_free.map(function (s) {
          return shownSlots[s.slot] ? clock(shownSlots[s.slot].starts_at) : s.start;
        }).join(", ") }));
      loadSlots();
    } else if (T["error_" + error.code]) {
      slotError(fmt(T["error_" + error.code], { limit: error.limit }));
      if (error.code !== "booking_limit") loadSlots();
    } else {
      formError(T.error_generic);
    }
  }

  // ---- using the booking to enter (the venue's poster scanned), or cancelling it ----

  // Errors after which the booking is of no more use on this phone.
  var SPENT = ["booking_expired", "booking_cancelled", "booking_claimed", "unknown_booking",
               "malformed_booking", "other_venue", "no_slots"];

  function spentMessage(error) {
    var text = T["error_" + error.code] || T.error_generic;
    return fmt(text, { time: clock(error.held_until || held.held_until) });
  }

  function useBooking() {
    if (busy || !held) return;
    var b = held;
    busy = true;
    $("booking-use").disabled = true;
    $("booking-error").hidden = true;
    var body = { booking: b.booking };
    // The rotating code of the door screen's QR code, where the venue requires one.
    var door = new URLSearchParams(window.location.search).get("door");
    if (door) body.door_code = door;
    postJson(api.checkIn, body).then(function (answer) {
      busy = false;
      $("booking-use").disabled = false;
      claimed(b, answer.response, answer.data);
    }, function () {
      busy = false;
      $("booking-use").disabled = false;
      heldError(T.error_network);
    });
  }

  function claimed(b, response, data) {
    if (response.ok && data) {
      forget();
      showStart();
      window.occupancyVisitor.checkedIn(data);
      return;
    }
    if (response.status >= 500 || !data) {
      heldError(T.error_server);
      return;
    }
    var error = data.error || {};
    if (error.code === "claim_too_early") {
      // A time today is said as a time; another day's with its day.
      var starts = error.starts_at || b.starts_at;
      heldError(fmt(isToday(starts) ? T.error_claim_too_early : T.error_claim_too_early_day,
                    { day: dayOf(starts), time: clock(starts) }));
    } else if (error.code === "venue_full" || error.code === "venue_paused") {
      heldError(T["error_booking_" + error.code]);
    } else if (SPENT.indexOf(error.code) >= 0) {
      var message = spentMessage(error);
      forget();
      showStart(message);
    } else {
      // door_code_needed / door_code_stale: the booking stays, for the door screen's QR.
      heldError(T["error_" + error.code] || T.error_generic);
    }
  }

  function cancel() {
    if (busy || !held) return;
    var b = held;
    busy = true;
    $("booking-cancel").disabled = true;
    $("booking-error").hidden = true;
    postJson(api.cancel, { booking: b.booking }).then(function (answer) {
      busy = false;
      $("booking-cancel").disabled = false;
      var response = answer.response;
      var error = (answer.data && answer.data.error) || {};
      if (response.ok || error.code === "booking_cancelled") {
        forget();
        showStart(T.booking_cancelled);
      } else if (SPENT.indexOf(error.code) >= 0) {
        var message = spentMessage(error);
        forget();
        showStart(message);
      } else {
        heldError(response.status >= 500 ? T.error_server : T.error_generic);
      }
    }, function () {
      busy = false;
      $("booking-cancel").disabled = false;
      heldError(T.error_network);
    });
  }

  // ---- party size picker ----

  function stepParty(delta) {
    var value = parseInt(party.value, 10);
    if (isNaN(value)) value = 1;
    party.value = String(Math.min(plan.max_party, Math.max(1, value + delta)));
  }

  // ---- wiring ----

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    book();
  });
  $("b-day").addEventListener("change", loadSlots);
  $("b-party-minus").addEventListener("click", function () { stepParty(-1); });
  $("b-party-plus").addEventListener("click", function () { stepParty(1); });
  $("book-open").addEventListener("click", openPanel);
  $("b-close").addEventListener("click", function () {
    clearErrors();
    showStart();
    $("book-open").focus();
  });
  $("booking-use").addEventListener("click", useBooking);
  $("booking-cancel").addEventListener("click", function () {
    if (!held) return;
    $("booking-cancel-question").textContent = fmt(T.booking_cancel_confirm, {
      day: dayOf(held.starts_at), time: clock(held.starts_at) });
    $("booking-cancel").hidden = true;
    $("booking-cancel-confirm").hidden = false;
    $("booking-cancel-yes").focus();
  });
  $("booking-cancel-yes").addEventListener("click", function () {
    $("booking-cancel-confirm").hidden = true;
    $("booking-cancel").hidden = false;
    cancel();
  });
  $("booking-cancel-no").addEventListener("click", function () {
    $("booking-cancel-confirm").hidden = true;
    $("booking-cancel").hidden = false;
    $("booking-cancel").focus();
  });

  fillDays();
  var kept = load();
  if (kept && Date.now() > new Date(kept.held_until).getTime()) {
    // Its hold ran out unused: the places went back; say so once.
    forget();
    showStart(fmt(T.booking_gone, { day: dayOf(kept.starts_at), time: clock(kept.starts_at) }));
  } else if (kept) {
    showHeld(kept);
  } else {
    showStart();
  }
})();
