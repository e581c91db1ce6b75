/* SignalBridge portal: draws a position's chart with lightweight-charts (v5 API).
 *
 * The page carries its data as JSON in <script type="application/json" id="position-data">
 * and shows the same data as tables, so without JavaScript nothing is lost. Prices arrive
 * as exact decimal text; they become numbers here only to be drawn.
 */
(function () {
  "use strict";

  function readData() {
    var node = document.getElementById("position-data");
    if (!node) return null;
    try {
      return JSON.parse(node.textContent || "null");
    } catch (e) {
      return null;
    }
  }

  function num(text) {
    var n = Number(text);
    return isFinite(n) ? n : null;
  }

  /* Points of the line: the entry at the open, every fill, the close, the last mark;
   * one point per second (the chart needs strictly increasing times). */
  function points(data) {
    var raw = [];
    if (data.opened_at && num(data.entry) !== null) {
      raw.push({ time: data.opened_at, value: num(data.entry) });
    }
    (data.fills || []).forEach(function (f) {
      if (f.time && num(f.price) !== null) raw.push({ time: f.time, value: num(f.price) });
    });
    if (data.mark && data.mark.time && num(data.mark.price) !== null) {
      raw.push({ time: data.mark.time, value: num(data.mark.price) });
    }
    raw.sort(function (a, b) { return a.time - b.time; });
    var out = [];
    raw.forEach(function (p) {
      if (out.length && out[out.length - 1].time === p.time) {
        out[out.length - 1] = p;
      } else {
        out.push(p);
      }
    });
    return out;
  }

  function markers(data) {
    return (data.fills || [])
      .filter(function (f) { return f.time; })
      .sort(function (a, b) { return a.time - b.time; })
      .map(function (f) {
        var buy = f.side === "buy";
        return {
          time: f.time,
          position: buy ? "belowBar" : "aboveBar",
          color: buy ? "#2e7d32" : "#c62828",
          shape: buy ? "arrowUp" : "arrowDown",
          text: f.leg + " " + f.amount + " @ " + f.price
        };
      });
  }

  function draw() {
    var el = document.getElementById("position-chart");
    var data = readData();
    var LC = window.LightweightCharts;
    if (!el || !data || !LC || typeof LC.createChart !== "function") return;
    var chart = LC.createChart(el, {
      autoSize: true,
      layout: { attributionLogo: true },
      timeScale: { timeVisible: true, secondsVisible: false },
      rightPriceScale: { borderVisible: false }
    });
    var levels = [data.entry, data.stop_loss].concat(data.take_profits || [])
      .map(num).filter(function (v) { return v !== null; });
    var series = chart.addSeries(LC.LineSeries, {
      color: "#1565c0",
      lineWidth: 2,
      /* keep the stop and every target in view, not only the prices traded */
      autoscaleInfoProvider: function (original) {
        var found = original();
        if (!levels.length) return found;
        var lo = Math.min.apply(null, levels);
        var hi = Math.max.apply(null, levels);
        if (!found || !found.priceRange) {
          return { priceRange: { minValue: lo, maxValue: hi } };
        }
        found.priceRange.minValue = Math.min(found.priceRange.minValue, lo);
        found.priceRange.maxValue = Math.max(found.priceRange.maxValue, hi);
        return found;
      }
    });
    series.setData(points(data));
    var dashed = LC.LineStyle ? LC.LineStyle.Dashed : 2;
    function level(price, title, color) {
      var value = num(price);
      if (value === null) return;
      series.createPriceLine({
        price: value, title: title, color: color, lineWidth: 1,
        lineStyle: dashed, axisLabelVisible: true
      });
    }
    level(data.entry, "entry", "#1565c0");
    if (data.stop_loss !== null) level(data.stop_loss, "stop", "#c62828");
    (data.take_profits || []).forEach(function (tp, i) {
      level(tp, "TP" + (i + 1), "#2e7d32");
    });
    var marks = markers(data);
    if (marks.length && typeof LC.createSeriesMarkers === "function") {
      LC.createSeriesMarkers(series, marks);
    }
    chart.timeScale().fitContent();
    el.setAttribute("data-drawn", "true");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
