// splitbrain index: filter the runs table by system, variant and verdict. Reads only data-* attributes.
(function () {
  "use strict";
  var sel = ["system", "variant", "verdict"].map(function (k) { return [k, document.getElementById("f-" + k)]; });
  var rows = Array.prototype.slice.call(document.querySelectorAll("#runs tr.run"));
  var count = document.getElementById("f-count");
  function apply() {
    var shown = 0;
    rows.forEach(function (r) {
      var ok = sel.every(function (s) { return !s[1].value || r.getAttribute("data-" + s[0]) === s[1].value; });
      r.hidden = !ok; if (ok) shown++;
    });
    count.textContent = shown + " of " + rows.length + " shown";
  }
  sel.forEach(function (s) { s[1].addEventListener("change", apply); });
  apply();
  window.__rendered = true;
})();
