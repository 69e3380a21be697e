/* Fetch plot JSON from the app and draw it with the locally served plotly.js. */
(function () {
  "use strict";
  function draw(div, params) {
    var url = div.dataset.src;
    if (params) { url += (url.indexOf("?") < 0 ? "?" : "&") + new URLSearchParams(params).toString(); }
    div.classList.add("loading");
    return fetch(url, {cache: "no-store"}).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    }).then(function (fig) {
      div.classList.remove("loading");
      var cfg = {responsive: true, displaylogo: false, toImageButtonOptions: {format: "svg"}};
      return Plotly.react(div, fig.data, fig.layout, cfg);
    }).then(function () { div.dataset.rendered = "1"; })
      .catch(function (e) {
        div.classList.remove("loading");
        div.textContent = "This plot could not be drawn (" + e.message + ").";
      });
  }
  function blockParams() {
    return {block: document.getElementById("block").value,
            model: document.getElementById("model").value,
            kind: document.getElementById("lkind").value};
  }
  var land = document.getElementById("plot-landscape");
  var dr = document.getElementById("plot-dose_response");
  function drawBlock() {
    var p = blockParams();
    if (land) { draw(land, p); }
    if (dr) { draw(dr, {block: p.block}); }
  }
  if (land) {
    ["block", "model", "lkind"].forEach(function (id) {
      document.getElementById(id).addEventListener("change", drawBlock);
    });
    drawBlock();
  }
  document.querySelectorAll(".plot").forEach(function (div) {
    if (div !== land && div !== dr) { draw(div, null); }
  });
})();
