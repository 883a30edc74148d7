// Voronka pages work without this script; it only adds comfort.
(function () {
  "use strict";
  // The server shows times in the browser's zone: tell it the offset.
  var offset = String(-new Date().getTimezoneOffset());
  if (document.cookie.indexOf("tz=" + offset) === -1) {
    document.cookie = "tz=" + offset + "; path=/; max-age=31536000; samesite=lax";
  }
  document.addEventListener("DOMContentLoaded", function () {
    // A refused action: move focus to the explanation so it is read out.
    var refusal = document.getElementById("refusal");
    if (refusal) { refusal.focus(); }
    // The log form shows only the fields of the chosen kind and status.
    var forms = document.querySelectorAll("form.log");
    Array.prototype.forEach.call(forms, function (form) {
      var kind = form.querySelector("[name=kind]");
      var status = form.querySelector("[name=status]");
      function field(name) {
        var input = form.querySelector("[name=" + name + "]");
        return input ? input.closest(".field") : null;
      }
      function sync() {
        var done = status.value === "done";
        var show = {
          direction: kind.value === "call",
          call_outcome: done && kind.value === "call",
          meeting_outcome: done && kind.value === "meeting",
          result: done
        };
        Object.keys(show).forEach(function (name) {
          var box = field(name);
          if (box) { box.hidden = !show[name]; }
        });
      }
      kind.addEventListener("change", sync);
      status.addEventListener("change", sync);
      sync();
    });
  });
})();
