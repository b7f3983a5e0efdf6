"""The report's inline script: sortable tables (headers from
:func:`neorank.html.th`) and row filters (``<input data-filter>``; a row matches
on its text and its ``title`` attributes, so a full variant id finds the row that
shows it shortened). The page's Content-Security-Policy allows exactly this text
by its sha256."""

JS = """
(function () {
  "use strict";
  function value(row, index, numeric) {
    var cell = row.cells[index];
    var raw = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent.trim();
    if (!numeric) { return raw.toLowerCase(); }
    var number = parseFloat(raw);
    return isNaN(number) ? null : number;
  }
  function sortBy(table, header, index) {
    var numeric = header.getAttribute("data-type") === "num";
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) {
      cell.setAttribute("aria-sort", "none");
    });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var keys = rows.map(function (row, position) {
      return { row: row, key: value(row, index, numeric), position: position };
    });
    keys.sort(function (a, b) {
      if (a.key === b.key) { return a.position - b.position; }
      if (a.key === null) { return 1; }
      if (b.key === null) { return -1; }
      var order = a.key < b.key ? -1 : 1;
      return ascending ? order : -order;
    });
    keys.forEach(function (item) { body.appendChild(item.row); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, index) {
      var button = header.querySelector("button");
      if (button) {
        button.addEventListener("click", function () { sortBy(table, header, index); });
      }
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("input[data-filter]"), function (input) {
    var id = input.getAttribute("data-filter");
    var table = document.getElementById(id);
    var counter = document.getElementById(id + "-count");
    input.addEventListener("input", function () {
      var query = input.value.trim().toLowerCase();
      var shown = 0;
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var text = row.textContent;
        Array.prototype.forEach.call(row.querySelectorAll("[title]"), function (el) {
          text += " " + el.getAttribute("title");
        });
        var hit = query === "" || text.toLowerCase().indexOf(query) !== -1;
        row.hidden = !hit;
        if (hit) { shown += 1; }
      });
      if (counter) { counter.textContent = shown + " of " + table.tBodies[0].rows.length + " shown"; }
    });
  });
  document.body.setAttribute("data-ready", "true");
}());
""".strip()
