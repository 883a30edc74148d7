// Integrations: a running import or a mailing being sent refreshes its
// status box in place (the element with `data-poll`, fetched again every
// few hundred milliseconds until the server stops marking it). Without
// JavaScript the page has a "Refresh" link.
(function () {
  "use strict";
  function poll() {
    var box = document.querySelector("[data-poll]");
    if (!box || !box.id) { return; }
    var delay = parseInt(box.getAttribute("data-poll"), 10) || 1000;
    setTimeout(function () {
      fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (text) {
          if (text === null) { setTimeout(poll, 2000); return; }
          var fresh = new DOMParser().parseFromString(text, "text/html").getElementById(box.id);
          if (!fresh) { return; }
          box.replaceWith(document.importNode(fresh, true));
          poll();
        })
        .catch(function () { setTimeout(poll, 2000); });
    }, delay);
  }
  document.addEventListener("DOMContentLoaded", poll);
})();
