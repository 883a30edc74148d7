// Process designer: line numbers that follow the text, and a problem's
// "line:column" that puts the caret there. The page works without it.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var text = document.getElementById("yaml");
    var gutter = document.querySelector(".des-gutter");
    if (!text || !gutter) { return; }
    var bad = {};
    Array.prototype.forEach.call(document.querySelectorAll(".des-error .des-pos"), function (link) {
      bad[link.getAttribute("data-line")] = true;
    });
    var shown = -1;
    function number() {
      var lines = text.value.split("\n").length;
      if (lines === shown) { return; }
      shown = lines;
      gutter.textContent = "";
      for (var n = 1; n <= lines; n += 1) {
        if (bad[String(n)]) {
          var mark = document.createElement("span");
          mark.className = "des-bad";
          mark.textContent = String(n);
          gutter.appendChild(mark);
          gutter.appendChild(document.createTextNode("\n"));
        } else {
          gutter.appendChild(document.createTextNode(n + "\n"));
        }
      }
    }
    function follow() { gutter.scrollTop = text.scrollTop; }
    text.addEventListener("input", function () { number(); follow(); });
    text.addEventListener("scroll", follow);
    number();
    Array.prototype.forEach.call(document.querySelectorAll(".des-pos"), function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        var line = parseInt(link.getAttribute("data-line"), 10) || 1;
        var column = parseInt(link.getAttribute("data-column"), 10) || 1;
        var lines = text.value.split("\n");
        var offset = 0;
        for (var i = 0; i < line - 1 && i < lines.length; i += 1) { offset += lines[i].length + 1; }
        var here = lines[Math.min(line, lines.length) - 1] || "";
        offset += Math.min(column - 1, here.length);
        text.focus();
        text.setSelectionRange(offset, offset);
        var height = parseFloat(window.getComputedStyle(text).lineHeight) || 21;
        text.scrollTop = Math.max(0, (line - 4) * height);
        follow();
      });
    });
  });
})();
