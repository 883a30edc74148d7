// Report pages: the builder redraws its field lists when the source changes.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var source = document.querySelector("form.builder select[name=source]");
    if (!source) { return; }
    var apply = document.querySelector("form.builder button[name=action][value=source]");
    source.addEventListener("change", function () {
      if (apply) { apply.click(); }
    });
  });
})();
