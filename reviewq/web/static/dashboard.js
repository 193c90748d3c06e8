// Draws the dashboard charts from the page's JSON data block (CSP: no inline script, no CDN).
(function () {
  "use strict";
  var block = document.getElementById("dashboard-data");
  if (!block || typeof Plotly === "undefined") { return; }
  var d = JSON.parse(block.textContent);

  // Okabe–Ito: distinguishable with the common colour-vision deficiencies.
  var OI = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];
  var CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

  function pct(x) { return x === null || x === undefined ? null : Math.round(x * 1000) / 10; }
  // Asymmetric Wilson interval bars around each rate (VIGILANCE.md §3).
  function errorBars(rows, color) {
    return {
      type: "data", symmetric: false, visible: true, color: color, thickness: 1.5, width: 4,
      array: rows.map(function (r) { return r.rate === null ? null : pct(r.high - r.rate); }),
      arrayminus: rows.map(function (r) { return r.rate === null ? null : pct(r.rate - r.low); })
    };
  }
  function hover(rows) {
    return rows.map(function (r) {
      if (r.rate === null) { return "no canaries"; }
      return r.k + "/" + r.n + " caught, 95% CI " + pct(r.low) + "–" + pct(r.high) + "%";
    });
  }
  // Axes always reserve room for their ticks and titles (automargin, a standoff), and the legend
  // sits above the plot, so neither can overlap the other. `extra` axes are merged, not replaced.
  function layout(xTitle, yTitle, extra) {
    extra = extra || {};
    var base = {
      margin: { l: 64, r: 16, t: 36, b: 48 }, height: 320, font: { size: 13 },
      legend: { orientation: "h", x: 0, xanchor: "left", y: 1.02, yanchor: "bottom" },
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#fff"
    };
    Object.keys(extra).forEach(function (k) { if (k !== "xaxis" && k !== "yaxis") base[k] = extra[k]; });
    base.xaxis = Object.assign({ automargin: true }, extra.xaxis || {});
    base.xaxis.title = Object.assign({ text: xTitle, standoff: 14 }, (extra.xaxis || {}).title || {});
    base.yaxis = Object.assign({ rangemode: "tozero", automargin: true }, extra.yaxis || {});
    base.yaxis.title = Object.assign({ text: yTitle, standoff: 10 }, (extra.yaxis || {}).title || {});
    return base;
  }
  var RATE_AXIS = { range: [0, 105] };
  function draw(id, traces, lay) {
    var el = document.getElementById(id);
    if (el) { Plotly.newPlot(el, traces, lay, CONFIG); }
  }

  // Catch rate by reviewer: only rates the display rules allow (§3), provisional in a lighter mark.
  if (d.scoreboard) {
    var shown = d.scoreboard.filter(function (r) { return r.catch.status !== "no_rate"; });
    var groups = [["rated", "Rated (30+ canaries)", OI[0], "circle"], ["provisional", "Provisional (10–29)", OI[1], "diamond-open"]];
    draw("chart-reviewers", groups.map(function (g) {
      var rows = shown.filter(function (r) { return r.catch.status === g[0]; });
      var cells = rows.map(function (r) { return r.catch; });
      return {
        type: "scatter", mode: "markers", name: g[1], x: rows.map(function (r) { return r.reviewer; }),
        y: cells.map(function (c) { return pct(c.rate); }), error_y: errorBars(cells, g[2]),
        marker: { color: g[2], size: 10, symbol: g[3] }, hovertext: hover(cells), hoverinfo: "x+text"
      };
    }), layout("Reviewer", "Catch rate (%)", { yaxis: RATE_AXIS, shapes: [{
      type: "line", xref: "paper", x0: 0, x1: 1, y0: pct(d.settings.target_catch_rate), y1: pct(d.settings.target_catch_rate),
      line: { color: OI[7], dash: "dot", width: 1 }
    }] }));
  }

  // Decay curve (§4): within reviewers first (each against their own level), the pooled curve
  // second, dashed and labelled, because it mixes who works long with decay.
  if (d.decay) {
    var adj = d.decay.adjusted_bins, bins = d.decay.bins;
    function mids(rows) { return rows.map(function (b) { return (b.start + b.end) / 2; }); }
    draw("chart-decay", [{
      type: "scatter", mode: "lines+markers", name: d.decay.selected ? d.decay.selected + " (own level)" : "Within reviewers (adjusted)",
      x: mids(adj), y: adj.map(function (b) { return pct(b.rate); }), error_y: errorBars(adj, OI[0]),
      marker: { color: OI[0], size: 9 }, line: { color: OI[0] }, connectgaps: false,
      hovertext: adj.map(function (b) { return b.n ? b.k + "/" + b.n + " caught, " + b.expected.toFixed(1) + " expected from each reviewer's own level" : "no canaries"; }),
      hoverinfo: "text"
    }, {
      type: "scatter", mode: "lines+markers", name: "Pooled (mixes reviewers; secondary)",
      x: mids(bins), y: bins.map(function (b) { return pct(b.rate); }),
      marker: { color: OI[7], size: 6, symbol: "circle-open" }, line: { color: OI[7], dash: "dot", width: 1 },
      hovertext: hover(bins), hoverinfo: "text", connectgaps: false
    }], layout("Minutes into session (active minutes, bin midpoint)", "Catch rate (%)", {
      yaxis: RATE_AXIS,
      xaxis: { rangemode: "tozero", dtick: d.decay.bin_minutes },
      shapes: [{ type: "line", x0: 20, x1: 20, yref: "paper", y0: 0, y1: 1, line: { color: OI[3], dash: "dash", width: 2 } }],
      annotations: [{ x: 20, yref: "paper", y: 1, text: "20 min", showarrow: false, xanchor: "left", font: { color: OI[3] } }]
    }));
  }

  // Weekly trend: the team line, plus one reviewer picked from the menu (never nine tangled lines).
  // The current week is still running: its point is hollow and labelled "partial".
  function isPartial(week) {
    var end = new Date(Date.parse(week + "T00:00:00Z") + 7 * 86400000);
    var upTo = Math.min(Date.parse(d.generated_at), Date.parse(d.filters.to + "T00:00:00Z") + 86400000);
    return end.getTime() > upTo;
  }
  function trendTrace(rows, name, color, width) {
    return {
      type: "scatter", mode: "lines+markers", name: name, x: rows.map(function (r) { return r.week; }),
      y: rows.map(function (r) { return pct(r.rate); }), error_y: Object.assign(errorBars(rows, color), { thickness: 1 }),
      line: { color: color, width: width },
      marker: { color: color, size: 9, symbol: rows.map(function (r) { return isPartial(r.week) ? "circle-open" : "circle"; }),
                line: { width: 2, color: color } },
      hovertext: rows.map(function (r, i) { return hover(rows)[i] + (isPartial(r.week) ? " (partial week)" : ""); }),
      hoverinfo: "x+text+name"
    };
  }
  function drawTrend() {
    var teamName = d.reviewer ? d.reviewer.reviewer : "Team";
    var traces = [trendTrace(d.trend.team, teamName, OI[0], 3)];
    var picker = document.getElementById("trend-reviewer");
    var picked = picker && picker.value;
    if (picked && d.trend.reviewers[picked]) traces.push(trendTrace(d.trend.reviewers[picked], picked, OI[3], 2));
    var weeks = d.trend.team.map(function (r) { return r.week; });
    var last = weeks[weeks.length - 1];
    var annotations = last && isPartial(last) ? [{ x: last, y: 0, yref: "paper", yanchor: "bottom", text: "partial week",
      showarrow: false, font: { size: 12, color: "#5f6b7a" } }] : [];
    draw("chart-trend", traces, layout("Injection week (Monday, UTC)", "Catch rate (%)", {
      yaxis: RATE_AXIS, annotations: annotations,
      xaxis: { type: "category", tickangle: window.innerWidth < 700 ? -40 : 0 }  // ISO dates side by side need room
    }));
  }
  if (d.trend) {
    var picker = document.getElementById("trend-reviewer");
    if (picker && !d.reviewer) {
      Object.keys(d.trend.reviewers).sort().forEach(function (name) {
        var o = document.createElement("option");
        o.value = name;
        o.textContent = name;
        picker.appendChild(o);
      });
      picker.addEventListener("change", drawTrend);
    } else if (picker) {
      picker.parentNode.hidden = true;
    }
    drawTrend();
  }

  // Which kinds of fault slip through.
  if (d.buckets) {
    draw("chart-buckets", [{
      type: "bar", name: "Catch rate", x: d.buckets.map(function (b) { return b.bucket; }),
      y: d.buckets.map(function (b) { return pct(b.rate); }), error_y: errorBars(d.buckets, OI[7]),
      marker: { color: OI[2] }, hovertext: hover(d.buckets), hoverinfo: "x+text"
    }], layout("Planted failure bucket", "Catch rate (%)", { yaxis: RATE_AXIS, showlegend: false }));
  }

  // Reviewer page: the own-baseline CUSUM path with its alarm line (§5) and the active-time histogram.
  if (d.reviewer) {
    var path = d.reviewer.drift.path;
    draw("chart-cusum", [{
      type: "scatter", mode: "lines+markers", name: "S (CUSUM)", x: path.map(function (_, i) { return i + 1; }),
      y: path, line: { color: OI[0], shape: "hv" }
    }], layout("Canary number (in decision order)", "CUSUM S (log-likelihood ratio)", {
      showlegend: false, shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: d.reviewer.drift.h, y1: d.reviewer.drift.h,
                 line: { color: OI[3], dash: "dash" } }]
    }));
    var h = d.active_histogram;
    draw("chart-active", [{
      type: "bar", name: "Decisions", marker: { color: OI[5] },
      x: h.edges_s.map(function (e, i) { return i + 1 < h.edges_s.length ? e + "–" + h.edges_s[i + 1] : e + "+"; }),
      y: h.counts
    }], layout("Active seconds per item (bucket)", "Decisions (count)", {
      showlegend: false, xaxis: { type: "category" }
    }));
  }

  // Scoreboard: every column header is a button that sorts by that column (again: reverse).
  // Cells sort by their data-sort value, else their first number, else their text; blanks last.
  var board = document.getElementById("scoreboard");
  if (board && board.tHead) {
    var heads = Array.prototype.slice.call(board.tHead.rows[0].cells);
    var cellKey = function (cell) {
      var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
      if (raw === "" || raw === "–") return null;
      var m = /^-?\d+(?:\.\d+)?/.exec(raw.replace(/^[^\d-]*(?=\d)/, ""));
      return m && !/^\d{4}-\d{2}-\d{2}/.test(raw) ? Number(m[0]) : raw.toLowerCase();
    };
    heads.forEach(function (th, col) {
      var label = th.innerHTML;
      var btn = document.createElement("button");
      btn.type = "button";
      btn.className = "sort";
      btn.innerHTML = label;  // the header's own markup, from the template (no data)
      th.textContent = "";
      th.appendChild(btn);
      th.setAttribute("aria-sort", "none");
      btn.addEventListener("click", function () {
        var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
        heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", dir);
        var body = board.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows).filter(function (r) { return r.cells.length === heads.length; });
        rows.sort(function (a, b) {
          var x = cellKey(a.cells[col]), y = cellKey(b.cells[col]);
          if (x === null || y === null) return x === y ? 0 : (x === null ? 1 : -1);
          var c = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
          return dir === "ascending" ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }
})();
