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
  function layout(xTitle, yTitle, extra) {
    var base = {
      margin: { l: 64, r: 16, t: 16, b: 56 }, height: 320, font: { size: 13 },
      xaxis: { title: { text: xTitle }, automargin: true },
      yaxis: { title: { text: yTitle }, rangemode: "tozero", automargin: true },
      legend: { orientation: "h", y: -0.25 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#fff"
    };
    return Object.assign(base, extra || {});
  }
  var RATE_AXIS = { title: { text: "Catch rate (%)" }, range: [0, 105] };
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
      xaxis: { title: { text: "Minutes into session (active minutes, bin midpoint)" }, rangemode: "tozero", dtick: d.decay.bin_minutes },
      shapes: [{ type: "line", x0: 20, x1: 20, yref: "paper", y0: 0, y1: 1, line: { color: OI[3], dash: "dash", width: 2 } }],
      annotations: [{ x: 20, yref: "paper", y: 1, text: "20 min", showarrow: false, xanchor: "left", font: { color: OI[3] } }]
    }));
  }

  // Weekly trend: the team and each reviewer, all with intervals.
  if (d.trend) {
    var traces = [{
      type: "scatter", mode: "lines+markers", name: "Team", x: d.trend.team.map(function (r) { return r.week; }),
      y: d.trend.team.map(function (r) { return pct(r.rate); }), error_y: errorBars(d.trend.team, OI[7]),
      line: { color: OI[7], width: 3 }, hovertext: hover(d.trend.team), hoverinfo: "x+text"
    }];
    Object.keys(d.trend.reviewers).sort().forEach(function (name, i) {
      var rows = d.trend.reviewers[name];
      if (d.reviewer && name === d.reviewer.reviewer) { return; } // the reviewer page: team line is theirs
      var color = OI[i % 7];
      traces.push({
        type: "scatter", mode: "lines+markers", name: name, x: rows.map(function (r) { return r.week; }),
        y: rows.map(function (r) { return pct(r.rate); }), error_y: Object.assign(errorBars(rows, color), { thickness: 1 }),
        line: { color: color, width: 1.5 }, opacity: 0.8, hovertext: hover(rows), hoverinfo: "x+text"
      });
    });
    if (d.reviewer) { traces[0].name = d.reviewer.reviewer; }
    draw("chart-trend", traces, layout("Injection week (Monday, UTC)", "Catch rate (%)", {
      yaxis: RATE_AXIS, xaxis: { title: { text: "Injection week (Monday, UTC)" }, type: "category" }
    }));
  }

  // Which kinds of fault slip through.
  if (d.buckets) {
    draw("chart-buckets", [{
      type: "bar", name: "Catch rate", x: d.buckets.map(function (b) { return b.bucket; }),
      y: d.buckets.map(function (b) { return pct(b.rate); }), error_y: errorBars(d.buckets, OI[7]),
      marker: { color: OI[2] }, hovertext: hover(d.buckets), hoverinfo: "x+text"
    }], layout("Planted failure bucket", "Catch rate (%)", { yaxis: RATE_AXIS }));
  }

  // Reviewer page: the own-baseline CUSUM path with its alarm line (§5) and the active-time histogram.
  if (d.reviewer) {
    var path = d.reviewer.drift.path;
    draw("chart-cusum", [{
      type: "scatter", mode: "lines+markers", name: "S (CUSUM)", x: path.map(function (_, i) { return i + 1; }),
      y: path, line: { color: OI[0], shape: "hv" }
    }], layout("Canary number (in decision order)", "CUSUM S (log-likelihood ratio)", {
      shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: d.reviewer.drift.h, y1: d.reviewer.drift.h,
                 line: { color: OI[3], dash: "dash" } }]
    }));
    var h = d.active_histogram;
    draw("chart-active", [{
      type: "bar", name: "Decisions", marker: { color: OI[5] },
      x: h.edges_s.map(function (e, i) { return i + 1 < h.edges_s.length ? e + "–" + h.edges_s[i + 1] : e + "+"; }),
      y: h.counts
    }], layout("Active seconds per item (bucket)", "Decisions (count)", { xaxis: { title: { text: "Active seconds per item (bucket)" }, type: "category" } }));
  }
})();
