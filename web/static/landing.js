/* The landing page: the tickets this phone still holds (kept by the venue pages), each a tap away
 * from its venue page. Nothing is asked of the server: the tickets never leave the phone here. */
(function () {
  "use strict";

  var page = JSON.parse(document.getElementById("page-data").textContent);
  var locale = page.lang === "id" ? "id-ID" : "en-GB";
  var PREFIX = "occupancy.ticket.";
  var list = document.getElementById("open-tickets-list");
  var found = [];

  try {
    for (var i = 0; i < localStorage.length; i++) {
      var key = localStorage.key(i);
      if (!key || key.indexOf(PREFIX) !== 0) continue;
      var t = JSON.parse(localStorage.getItem(key) || "null");
      if (t && t.ticket && t.signed_code && !t.ended &&
          Date.now() - new Date(t.checked_in_at).getTime() < 86400000) found.push(t);
    }
  } catch (e) { found = []; }

  found.sort(function (a, b) { return new Date(b.checked_in_at) - new Date(a.checked_in_at); });
  found.forEach(function (t) {
    var link = document.createElement("a");
    link.href = "/v/" + encodeURIComponent(t.signed_code);
    link.textContent = t.venue;
    var since = document.createElement("span");
    since.className = "alt-meta";
    since.textContent = " " + page.since.replace("{time}", new Date(t.checked_in_at).toLocaleTimeString(
      locale, { hour: "2-digit", minute: "2-digit", timeZone: page.timezone }));
    var item = document.createElement("li");
    item.append(link, since);
    list.append(item);
  });
  document.getElementById("open-tickets").hidden = found.length === 0;
})();
