/* Small helpers the venue page's scripts share (visitor.js, booking.js, line.js); loaded first. */
(function () {
  "use strict";

  function $(id) { return document.getElementById(id); }

  // "{n} people" with values: a text of the page's catalogue, filled in.
  function fmt(text, values) {
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  // An idempotency key: a retry of a request whose answer was lost counts once.
  function newKey() {
    var bytes = new Uint8Array(18);
    crypto.getRandomValues(bytes);
    var text = "";
    for (var i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // POST a JSON body; resolves to {response, data}, data null when the answer is not JSON.
  function postJson(url, body) {
    return fetch(url, {
      method: "POST", cache: "no-store", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        return { response: response, data: data };
      });
    });
  }

  window.occupancyKit = { $: $, fmt: fmt, newKey: newKey, postJson: postJson };
})();
