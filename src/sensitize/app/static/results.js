/* Fetch plot JSON from the app and draw it with the locally served plotly.js. */
(function () {
  "use strict";
  function draw(div, params) {
    var url = div.dataset.src;
    if (params) { url += (url.indexOf("?") < 0 ? "?" : "&") + new URLSearchParams(params).toString(); }
    div.classList.add("loading");
    // only the latest request of a plot may draw: an earlier one answering late (the user
    // changed block and model in quick succession) must not overwrite it
    var seq = (Number(div.dataset.seq) || 0) + 1;
    div.dataset.seq = String(seq);
    var stale = function () { return Number(div.dataset.seq) !== seq; };
    return fetch(url, {cache: "no-store"}).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    }).then(function (fig) {
      if (stale()) { return null; }
      div.classList.remove("loading");
      var cfg = {responsive: true, displaylogo: false, toImageButtonOptions: {format: "svg"}};
      return Plotly.react(div, fig.data, fig.layout, cfg);
    }).then(function () { if (!stale()) { div.dataset.rendered = "1"; } })
      .catch(function (e) {
        if (stale()) { return; }
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
