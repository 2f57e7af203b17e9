// Every chart is an empty div; its figure is in the JSON block. A chart is drawn when it comes
// near the screen (a municipality's page when it is opened), so the page paints at once.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("utfall-data").textContent);
  var config = { displaylogo: false, responsive: true };
  var words = data.hover;
  function esc(s) {  // as Python's html.escape
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#x27;");
  }
  // A point's hover text from its data (report.py _hover_from writes the same): a gap's code,
  // or [value, interval low, interval high, numerator, denominator] as the page writes them.
  function hoverText(label, period, unit, d) {
    if (d === null || d === undefined) return "";
    var head = "<b>" + esc(label) + "</b> " + esc(period) + "<br>";
    if (typeof d === "string") return head + words.gaps[d];
    var text = d[0];
    if (d[1] != null && d[2] != null) text += "<br>" + words.interval + d[1] + "\u2013" + d[2] + "\u00a0%";
    if (d[4] != null) {
      text += "<br>" + (unit === "share" ? d[3] + words.of + d[4] : words.base + d[4]);
    }
    return head + text;
  }
  // the hover texts are written here, not stored per point in the page (report.py hover_texts)
  function withHover(trace) {
    var h = trace.meta && trace.meta.hover;
    if (!h || !trace.customdata) return trace;
    trace.hovertext = trace.customdata.map(function (d, i) {
      var label = h.label != null ? h.label : trace.y[i] + (h.suffix || "");
      return hoverText(label, h.period != null ? h.period : trace.x[i], h.unit, d);
    });
    return trace;
  }
  function draw(div) {
    if (div.getAttribute("data-drawn")) return;
    var spec = data.charts[div.getAttribute("data-chart")];
    if (!spec) return;
    div.setAttribute("data-drawn", "1");
    spec.data.forEach(withHover);
    Plotly.newPlot(div, spec.data, spec.layout, config);
  }
  var divs = Array.prototype.slice.call(document.querySelectorAll("div[data-chart]"));
  window.utfallDrawAll = function () { divs.forEach(draw); };
  if ("IntersectionObserver" in window) {
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (e.isIntersecting) { seen.unobserve(e.target); draw(e.target); }
      });
    }, { rootMargin: "600px 0px" });
    divs.forEach(function (d) { seen.observe(d); });
  } else {
    window.utfallDrawAll();
  }
  // a municipality's page is hidden until its anchor is chosen: its chart gets its width then
  window.addEventListener("hashchange", function () {
    var page = document.getElementById(location.hash.slice(1));
    if (page) page.querySelectorAll("div[data-chart][data-drawn]").forEach(function (d) {
      Plotly.Plots.resize(d);
    });
  });
})();
