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
    var numeric = rows.every(function (row) {
      var key = cellKey(row, index);
      return key === "" || !isNaN(parseFloat(key));
    });
    // First click: numbers largest first, text A to Z; each further click reverses.
    var current = header.getAttribute("aria-sort");
    var ascending = current ? current !== "ascending" : !numeric;
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

  // The layers shown are kept in the address (#layers=A|B), so the printable view, a reload
  // or a shared link shows the same map.
  function shownNames(entry) {
    return entry.control._layers.filter(function (item) {
      return entry.map.hasLayer(item.layer);
    }).map(function (item) { return item.name; });
  }

  function keepInAddress(entry) {
    var hash = "#layers=" + encodeURIComponent(shownNames(entry).join("|"));
    if (window.history && history.replaceState) { history.replaceState(null, "", hash); }
    Array.prototype.forEach.call(document.querySelectorAll("a.print-link"), function (link) {
      link.hash = hash;
    });
  }

  function applyAddress(entry) {
    var found = /(?:^#|&)layers=([^&]*)/.exec(window.location.hash);
    if (!found) { return; }
    var wanted = decodeURIComponent(found[1]).split("|");
    entry.control._layers.forEach(function (item) {
      var on = wanted.indexOf(item.name) >= 0;
      if (on && !entry.map.hasLayer(item.layer)) { entry.map.addLayer(item.layer); }
      if (!on && entry.map.hasLayer(item.layer)) { entry.map.removeLayer(item.layer); }
    });
  }

  // Numbered markers and labels never pile up: in rank order (their order in the page), a
  // label that would overlap one already shown is hidden until the user zooms in; every one
  // is in the list beside the map.
  function declutter(map) {
    var kept = [];
    var labels = map.getContainer().querySelectorAll(".leaflet-marker-pane .zone-number, .leaflet-marker-pane .road-label");
    Array.prototype.forEach.call(labels, function (label) {
      label.style.visibility = "";
      var box = label.getBoundingClientRect();
      var clash = kept.some(function (other) {
        return box.left < other.right + 2 && box.right > other.left - 2 &&
          box.top < other.bottom + 2 && box.bottom > other.top - 2;
      });
      if (clash) { label.style.visibility = "hidden"; } else { kept.push(box); }
    });
  }

  function followLayers(entry) {
    var map = entry.map;
    declutter(map);
    map.on("zoomend moveend overlayadd", function () { declutter(map); });
    map.on("overlayadd", function (e) { showLegend(e.name, true); });
    map.on("overlayremove", function (e) { showLegend(e.name, false); });
    map.on("baselayerchange", function (e) {
      Array.prototype.forEach.call(document.querySelectorAll(".legend[data-base]"), function (legend) {
        legend.hidden = legend.getAttribute("data-layer") !== e.name;
      });
    });
    if (!entry.control) { return; }
    applyAddress(entry);
    map.on("overlayadd overlayremove baselayerchange", function () { keepInAddress(entry); });
  }

  function initialLegends() {
    Array.prototype.forEach.call(document.querySelectorAll(".legend[data-shown]"), function (legend) {
      legend.hidden = legend.getAttribute("data-shown") !== "1";
    });
  }

  // A table row's map link zooms the page's map to the site and scrolls the map into view.
  function zoomLinks() {
    Array.prototype.forEach.call(document.querySelectorAll("a.zoom-to"), function (link) {
      link.addEventListener("click", function (event) {
        var entry = (window.geoServiceMaps || [])[0];
        if (!entry) { return; }
        event.preventDefault();
        var lat = parseFloat(link.getAttribute("data-lat"));
        var lon = parseFloat(link.getAttribute("data-lon"));
        entry.map.setView([lat, lon], 17);
        document.getElementById("map").scrollIntoView({behavior: "smooth", block: "center"});
        Array.prototype.forEach.call(document.querySelectorAll("tr.chosen"), function (row) {
          row.classList.remove("chosen");
        });
        link.closest("tr").classList.add("chosen");
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    zoomLinks();
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), makeSortable);
    initialLegends();
    (window.geoServiceMaps || []).forEach(followLayers);
  });
}());
