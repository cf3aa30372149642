(function () {
  "use strict";
  var table = document.getElementById("students");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var controls = document.getElementById("controls");
  var text = document.getElementById("filter-text");
  var status = document.getElementById("filter-status");
  var shown = document.getElementById("shown");
  controls.hidden = false;

  function value(row, col) {
    var cell = row.cells[col];
    var v = cell.getAttribute("data-v");
    if (v === null) { return cell.textContent.trim().toLowerCase(); }
    var n = parseFloat(v);
    return isNaN(n) ? v.toLowerCase() : n;
  }

  function sortBy(col, th) {
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    rows.sort(function (a, b) {
      var x = value(a, col), y = value(b, col);
      if (typeof x !== typeof y) { x = String(x); y = String(y); }
      return x < y ? -dir : x > y ? dir : 0;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = th.textContent;
    button.addEventListener("click", function () { sortBy(col, th); });
    th.textContent = "";
    th.appendChild(button);
  });

  function filter() {
    var needle = text.value.trim().toLowerCase();
    var want = status.value;
    var count = 0;
    rows.forEach(function (r) {
      var ok = (!needle || r.getAttribute("data-student").toLowerCase().indexOf(needle) >= 0) &&
               (!want || r.getAttribute("data-status") === want ||
                (want === "attention" && r.getAttribute("data-attention") === "1"));
      r.hidden = !ok;
      if (ok) { count += 1; }
    });
    shown.textContent = count + " of " + rows.length + " shown";
  }
  text.addEventListener("input", filter);
  status.addEventListener("change", filter);
  filter();
})();
