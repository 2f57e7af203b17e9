// Every chart is an empty div; its figure is in the JSON block. A chart is drawn when it comes
// near the screen (a municipality's page when it is opened), so the page paints at once.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("utfall-data").textContent);
  var config = { displaylogo: false, responsive: true };
  function draw(div) {
    if (div.getAttribute("data-drawn")) return;
    var spec = data.charts[div.getAttribute("data-chart")];
    if (!spec) return;
    div.setAttribute("data-drawn", "1");
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
