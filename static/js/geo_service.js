/* geo_service pages: sortable tables. No dependencies; loaded with `defer`. */
(function () {
  "use strict";

  function cellKey(row, index) {
    var cell = row.cells[index];
    return cell ? cell.getAttribute("data-sort") || cell.textContent : "";
  }

  function compare(a, b, numeric) {
    if (a === "" && b === "") { return 0; }
    if (a === "") { return 1; }   // missing values last, whichever direction
    if (b === "") { return -1; }
    if (numeric) { return parseFloat(a) - parseFloat(b); }
    return a.localeCompare(b);
  }

  function sortBy(table, header, index) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    var numeric = rows.every(function (row) {
      var key = cellKey(row, index);
      return key === "" || !isNaN(parseFloat(key));
    });
    rows.sort(function (r1, r2) {
      var k1 = cellKey(r1, index), k2 = cellKey(r2, index);
      if (k1 === "" || k2 === "") { return compare(k1, k2, numeric); }
      var order = compare(k1, k2, numeric);
      return ascending ? order : -order;
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.removeAttribute("aria-sort");
    });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    rows.forEach(function (row) { body.appendChild(row); });
  }

  function makeSortable(table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, index) {
      header.setAttribute("tabindex", "0");
      header.addEventListener("click", function () { sortBy(table, header, index); });
      header.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(table, header, index); }
      });
    });
  }

  // Each map's legends follow its layers: a legend shows only while its layer is on the map.
  function legendFor(name) {
    var found = null;
    Array.prototype.forEach.call(document.querySelectorAll(".legend[data-layer]"), function (legend) {
      if (legend.getAttribute("data-layer") === name) { found = legend; }
    });
    return found;
  }

  function showLegend(name, shown) {
    var legend = legendFor(name);
    if (legend) { legend.hidden = !shown; }
  }

  function followLayers(map) {
    map.on("overlayadd", function (e) { showLegend(e.name, true); });
    map.on("overlayremove", function (e) { showLegend(e.name, false); });
    map.on("baselayerchange", function (e) {
      Array.prototype.forEach.call(document.querySelectorAll(".legend[data-base]"), function (legend) {
        legend.hidden = legend.getAttribute("data-layer") !== e.name;
      });
    });
  }

  function initialLegends() {
    Array.prototype.forEach.call(document.querySelectorAll(".legend[data-shown]"), function (legend) {
      legend.hidden = legend.getAttribute("data-shown") !== "1";
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), makeSortable);
    initialLegends();
    (window.geoServiceMaps || []).forEach(followLayers);
  });
}());
