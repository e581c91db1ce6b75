/* SignalBridge track record: draws the PnL curve and the price chart with the signals
 * marked, with lightweight-charts (v5 API).
 *
 * The page carries its data as JSON in <script type="application/json" id="track-data">
 * and shows every figure in its tables and captions, so without JavaScript nothing is
 * lost. Decimals arrive as exact text; they become numbers here only to be drawn. Times
 * are Unix seconds; each series is sorted and kept strictly increasing here again.
 */
(function () {
  "use strict";

  var COLORS = {
    line: "#1565c0",
    up: "#2e7d32",
    down: "#c62828",
    signal: "#6a1b9a"
  };

  function readData() {
    var node = document.getElementById("track-data");
    if (!node) return null;
    try {
      return JSON.parse(node.textContent || "null");
    } catch (e) {
      return null;
    }
  }

  function num(text) {
    if (text === null || text === undefined || text === "") return null;
    var n = Number(text);
    return isFinite(n) ? n : null;
  }

  /* Points sorted by time, one per time (the last given wins), without unreadable ones. */
  function increasing(points) {
    var sorted = points
      .filter(function (p) { return typeof p.time === "number" && isFinite(p.time); })
      .map(function (p, i) { return { p: p, i: i }; })
      .sort(function (a, b) { return a.p.time - b.p.time || a.i - b.i; });
    var out = [];
    sorted.forEach(function (item) {
      if (out.length && out[out.length - 1].time === item.p.time) {
        out[out.length - 1] = item.p;
      } else {
        out.push(item.p);
      }
    });
    return out;
  }

  function linePoints(raw) {
    return increasing((raw || []).map(function (p) {
      return { time: p.time, value: num(p.value) };
    }).filter(function (p) { return p.value !== null; }));
  }

  function barPoints(raw) {
    return increasing((raw || []).map(function (b) {
      return {
        time: b.time, open: num(b.open), high: num(b.high), low: num(b.low), close: num(b.close)
      };
    }).filter(function (b) {
      return b.open !== null && b.high !== null && b.low !== null && b.close !== null;
    }));
  }

  function newChart(el, LC) {
    return LC.createChart(el, {
      autoSize: true,
      layout: { attributionLogo: true },
      timeScale: { timeVisible: true, secondsVisible: false },
      rightPriceScale: { borderVisible: false }
    });
  }

  function drawCurve(data, LC) {
    var el = document.getElementById("curve-chart");
    var points = linePoints(data.curve);
    if (!el || !points.length) return;
    var chart = newChart(el, LC);
    var series = chart.addSeries(LC.BaselineSeries, {
      baseValue: { type: "price", price: 0 },
      topLineColor: COLORS.up,
      bottomLineColor: COLORS.down,
      lineWidth: 2
    });
    series.setData(points);
    chart.timeScale().fitContent();
    el.setAttribute("data-drawn", "true");
  }

  /* A marker of the chart: a signal posted (circle), an entry or an exit filled (an arrow
   * up for a buy, down for a sell). */
  function marker(m) {
    var buy = m.side === "buy";
    var isSignal = m.kind === "signal";
    return {
      time: m.time,
      position: buy ? "belowBar" : "aboveBar",
      color: isSignal ? COLORS.signal : (buy ? COLORS.up : COLORS.down),
      shape: isSignal ? "circle" : (buy ? "arrowUp" : "arrowDown"),
      text: m.text || ""
    };
  }

  function drawPrice(data, LC) {
    var el = document.getElementById("price-chart");
    var price = data.price;
    if (!el || !price || price.kind === "none") return;
    var series;
    var chart;
    if (price.kind === "candles") {
      var bars = barPoints(price.series);
      if (!bars.length) return;
      chart = newChart(el, LC);
      series = chart.addSeries(LC.CandlestickSeries, {
        upColor: COLORS.up, downColor: COLORS.down,
        wickUpColor: COLORS.up, wickDownColor: COLORS.down, borderVisible: false
      });
      series.setData(bars);
    } else {
      var line = linePoints(price.series);
      if (!line.length) return;
      chart = newChart(el, LC);
      series = chart.addSeries(LC.LineSeries, {
        color: COLORS.line, lineWidth: 2, pointMarkersVisible: true
      });
      series.setData(line);
    }
    var marks = (price.markers || [])
      .filter(function (m) { return typeof m.time === "number" && isFinite(m.time); })
      .slice()
      .sort(function (a, b) { return a.time - b.time; })
      .map(marker);
    if (marks.length && typeof LC.createSeriesMarkers === "function") {
      LC.createSeriesMarkers(series, marks);
    }
    chart.timeScale().fitContent();
    el.setAttribute("data-drawn", "true");
  }

  function draw() {
    var data = readData();
    var LC = window.LightweightCharts;
    if (!data || !LC || typeof LC.createChart !== "function") return;
    drawCurve(data, LC);
    drawPrice(data, LC);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
