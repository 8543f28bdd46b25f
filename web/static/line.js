/* The waiting line on the visitor page: join when the venue is full, see the place and the
 * estimated wait without reloading, be alerted when places are offered (banner, a beep, a
 * vibration where the phone allows), claim them through the check-in form, leave in one tap.
 *
 * The place is followed by asking the server every few seconds (POST /api/line-status, the code
 * in the body): a party's place is its own, not one of the venue's live frames, and one small
 * request per waiting phone every POLL_MS costs the service one script call.
 * Only the line code and the party size are kept in localStorage. The join sends the phone
 * number (one place per phone; the server keeps its keyed hash only), taken from the check-in
 * form when it is filled in, and given back to the form for the claim.
 */
(function () {
  "use strict";

  var page = JSON.parse(document.getElementById("page-data").textContent);
  var T = page.texts;
  var kit = window.occupancyKit, $ = kit.$, fmt = kit.fmt, newKey = kit.newKey;
  var STORE = "occupancy.line." + page.venue.code;
  var POLL_MS = 3000;
  var api = {
    join: "/api/venues/" + encodeURIComponent(page.signed_code) + "/line",
    status: "/api/line-status",
    leave: "/api/line-leaves",
  };
  var held = null;  // {line, party_size}
  var timer = null;
  var countdown = null;
  var alerted = false;
  var audio = null;
  var joinKey = null;

  function post(url, body) {
    return kit.postJson(url, body).then(function (answer) {
      return { ok: answer.response.ok, status: answer.response.status, data: answer.data };
    });
  }

  function keep(value) {
    held = value;
    if (value) localStorage.setItem(STORE, JSON.stringify(value));
    else localStorage.removeItem(STORE);
  }

  // The phone for the join: the line's own field, else the check-in form's.
  function phone() {
    var own = $("line-phone").value.trim();
    return own || $("phone").value.trim();
  }

  function partySize() {
    var n = parseInt($("party_size").value, 10);
    return isNaN(n) || n < 1 ? 1 : n;
  }

  // A beep needs an audio context made during a tap (the join), resumed later by the page.
  function prepareSound() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!audio && Context) audio = new Context();
  }

  function beep() {
    if (!audio) return;
    try {
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.2;
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.4);
    } catch (e) { /* no sound on this phone: the banner and the vibration remain */ }
  }

  function alertOffer() {
    if (alerted) return;
    alerted = true;
    beep();
    if (navigator.vibrate) navigator.vibrate([300, 150, 300]);
  }

  function clock(seconds) {
    var m = Math.floor(seconds / 60);
    var s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  function showOffer(until) {
    var ends = Date.parse(until);
    function tick() {
      var left = Math.max(0, Math.round((ends - Date.now()) / 1000));
      $("line-offer-body").textContent = fmt(T.line_offer_body, { time: clock(left) });
    }
    tick();
    if (countdown) clearInterval(countdown);
    countdown = setInterval(tick, 1000);
    $("line-offer").hidden = false;
    $("line-place").hidden = true;
    alertOffer();
  }

  function ended(text) {
    stop();
    keep(null);
    $("line-place").hidden = true;
    $("line-offer").hidden = true;
    $("line-leave").hidden = true;
    $("line-join").hidden = false;
    $("line-intro").hidden = false;
    $("line-phone-field").hidden = false;
    $("line-ended").textContent = text;
    $("line-ended").hidden = false;
  }

  function render(s) {
    $("line-join").hidden = true;
    $("line-intro").hidden = true;
    $("line-phone-field").hidden = true;
    $("line-ended").hidden = true;
    $("line-leave").hidden = false;
    if (s.state === "offered") {
      showOffer(s.offer_until);
      return;
    }
    if (s.state === "waiting") {
      $("line-offer").hidden = true;
      $("line-place").hidden = false;
      $("line-position").textContent = fmt(T.line_position, { position: s.position });
      $("line-party").textContent = fmt(T.line_party, { party: s.party_size });
      $("line-wait").textContent = s.estimated_wait_seconds == null ? T.line_wait_unknown
        : fmt(T.line_wait, { minutes: Math.max(1, Math.round(s.estimated_wait_seconds / 60)) });
      return;
    }
    if (s.state === "claimed") { stop(); keep(null); $("line").hidden = true; return; }
    ended(s.state === "passed" ? T.line_passed : T.line_left);
  }

  function refresh() {
    if (!held) return;
    var asked = held;
    post(api.status, { line: held.line }).then(function (answer) {
      // Left, claimed or joined again while it was asked: an answer about the past.
      if (held !== asked) return;
      if (answer.ok) render(answer.data);
      else if (answer.status === 404 || answer.status === 400) ended(T.line_left);
    }, function () { /* offline a moment: the next poll tries again */ });
  }

  function follow() {
    refresh();
    if (!timer) timer = setInterval(refresh, POLL_MS);
  }

  function stop() {
    if (timer) clearInterval(timer);
    if (countdown) clearInterval(countdown);
    timer = countdown = null;
  }

  $("line-join").addEventListener("click", function () {
    prepareSound();
    alerted = false;
    // A retry after no answer reuses the key: the party gets one place, whatever happened.
    if (!joinKey) joinKey = newKey();
    $("line-join").disabled = true;
    post(api.join, { party_size: partySize(), phone: phone(), idempotency_key: joinKey }).then(function (answer) {
      $("line-join").disabled = false;
      joinKey = null;
      if (!answer.ok) {
        $("line-ended").textContent = (answer.data && answer.data.error && answer.data.error.message)
          || T.error_generic;
        $("line-ended").hidden = false;
        return;
      }
      keep({ line: answer.data.line, party_size: answer.data.party_size });
      render(answer.data);
      follow();
    }, function () {
      $("line-join").disabled = false;
      $("line-ended").textContent = T.error_network;
      $("line-ended").hidden = false;
    });
  });

  $("line-leave").addEventListener("click", function () {
    if (!held) return;
    post(api.leave, { line: held.line }).then(function (answer) {
      if (answer.ok || answer.status === 404) ended(T.line_left);
    }, function () { $("line-ended").textContent = T.error_network; $("line-ended").hidden = false; });
  });

  // Claiming is a check-in carrying the line code (visitor.js sends it): with the details the
  // visitor already gave, at once; otherwise the form is shown to fill in first.
  $("line-claim").addEventListener("click", function () {
    if (!held) return;
    var form = $("check-in-form");
    form.dataset.line = held.line;
    $("party_size").value = held.party_size;
    if (!form.elements.phone.value) form.elements.phone.value = $("line-phone").value;
    document.dispatchEvent(new CustomEvent("occupancy:show", { detail: "form" }));
    if (form.elements.name.value && form.elements.phone.value) {
      form.requestSubmit();
    } else {
      $("form-error").textContent = T.line_claim_fill;
      $("form-error").hidden = false;
      form.elements.name.focus();
    }
  });

  document.addEventListener("occupancy:checked-in", function () {
    stop();
    keep(null);
  });
  // The venue's socket says the line moved (an offer made or passed, a party gone): ask for this
  // party's place at once rather than at the next poll; the poll stays for a page without socket.
  var lineSeen = "";
  document.addEventListener("occupancy:line", function (event) {
    var now = event.detail.waiting + "/" + event.detail.offered;
    if (now !== lineSeen) {
      lineSeen = now;
      refresh();
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      if (audio && audio.state === "suspended") audio.resume();
      refresh();
    }
  });

  $("line").hidden = false;
  try { held = JSON.parse(localStorage.getItem(STORE) || "null"); } catch (e) { held = null; }
  if (held) {
    // A party already in the line (the page reloaded): show its place, on the full view.
    document.dispatchEvent(new CustomEvent("occupancy:show", { detail: "full" }));
    follow();
  }
})();
