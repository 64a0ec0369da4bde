// Small SVG charts for the dashboard: stacked bars, lines (with an optional cap line)
// and horizontal bars. Hand-written instead of vendoring Chart.js: four chart shapes
// do not justify 200 KB of minified code in the package.
(function () {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = ["#3b6fd8", "#e07b39", "#3aa676", "#c44e8b", "#8a6bd1", "#c9a227", "#4aa3b5"];
  const W = 600, H = 190, L = 44, R = 8, T = 10, B = 22;

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, value, anchor) {
    const t = el("text", { x, y, "font-size": 10, fill: "#555", "text-anchor": anchor || "start" },
      parent);
    t.textContent = value;
    return t;
  }

  function fmt(v) {
    if (v === null || v === undefined) return "–";
    if (Math.abs(v) >= 100) return Math.round(v).toString();
    return (Math.round(v * 100) / 100).toString();
  }

  function label(iso, bucket) {
    const d = new Date(iso);
    return bucket === "day" ? d.toISOString().slice(5, 10) : d.toISOString().slice(5, 16).replace("T", " ");
  }

  function frame(container) {
    container.textContent = "";
    return el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", preserveAspectRatio: "none" },
      container);
  }

  function legend(container, names) {
    const box = document.createElement("div");
    box.className = "legend";
    names.forEach((name, i) => {
      const s = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = COLORS[i % COLORS.length];
      s.appendChild(swatch);
      s.appendChild(document.createTextNode(name));
      box.appendChild(s);
    });
    container.appendChild(box);
  }

  // chart: {labels, series:[{name, values}], limit, bucket, unit}; kind: "bar" | "line"
  function series(container, chart, kind) {
    const svg = frame(container);
    const n = chart.labels.length;
    const stacked = kind === "bar";
    let max = 0;
    for (let i = 0; i < n; i++) {
      let sum = 0;
      for (const s of chart.series) {
        const v = s.values[i] || 0;
        sum = stacked ? sum + v : Math.max(sum, v);
      }
      max = Math.max(max, sum);
    }
    if (chart.limit) max = Math.max(max, chart.limit);
    const empty = max === 0;
    if (empty) max = 1;
    const plotW = W - L - R, plotH = H - T - B;
    const x = (i) => L + (n <= 1 ? plotW / 2 : (i * plotW) / n);
    const y = (v) => T + plotH - (v / max) * plotH;
    el("line", { x1: L, y1: T + plotH, x2: W - R, y2: T + plotH, stroke: "#999" }, svg);
    el("line", { x1: L, y1: T, x2: L, y2: T + plotH, stroke: "#999" }, svg);
    text(svg, L - 4, T + 8, fmt(max), "end");
    text(svg, L - 4, T + plotH, "0", "end");
    if (n) {
      text(svg, L, H - 6, label(chart.labels[0], chart.bucket));
      text(svg, W - R, H - 6, label(chart.labels[n - 1], chart.bucket), "end");
    }
    let points = 0;
    const barW = Math.max(1, plotW / Math.max(n, 1) - 1);
    if (stacked) {
      for (let i = 0; i < n; i++) {
        let base = 0;
        chart.series.forEach((s, k) => {
          const v = s.values[i] || 0;
          if (v <= 0) return;
          const r = el("rect", { x: x(i), y: y(base + v), width: barW, height: y(base) - y(base + v),
            fill: COLORS[k % COLORS.length] }, svg);
          el("title", {}, r).textContent = `${s.name}: ${fmt(v)} ${chart.unit}`;
          base += v;
          points++;
        });
      }
    } else {
      chart.series.forEach((s, k) => {
        let path = "";
        s.values.forEach((v, i) => {
          if (v === null || v === undefined) { path += " "; return; }
          const cx = x(i) + barW / 2;
          path += (path.endsWith(" ") || path === "" ? "M" : "L") + `${cx},${y(v)}`;
          const dot = el("circle", { cx, cy: y(v), r: 2.5, fill: COLORS[k % COLORS.length] }, svg);
          el("title", {}, dot).textContent = `${s.name}: ${fmt(v)} ${chart.unit}`;
          points++;
        });
        const d = path.trim().replace(/\s+/g, "");
        if (d) el("path", { d, fill: "none", stroke: COLORS[k % COLORS.length], "stroke-width": 1.5 }, svg);
      });
    }
    if (chart.limit) {
      el("line", { x1: L, y1: y(chart.limit), x2: W - R, y2: y(chart.limit), stroke: "#b00020",
        "stroke-dasharray": "4 3" }, svg);
      text(svg, W - R, y(chart.limit) - 3, `cap ${fmt(chart.limit)} ${chart.unit}`, "end");
    }
    if (empty) text(svg, W / 2, H / 2, "no data in this range", "middle");
    svg.setAttribute("data-points", String(points));
    legend(container, chart.series.map((s) => s.name));
  }

  // dist: {items:[{name, count}]}
  function bars(container, dist) {
    const svg = frame(container);
    const items = dist.items.slice(0, 10);
    const max = Math.max(1, ...items.map((b) => b.count));
    const rowH = Math.min(28, (H - T) / Math.max(items.length, 1));
    items.forEach((b, i) => {
      const w = ((W - 160) * b.count) / max;
      const r = el("rect", { x: 150, y: T + i * rowH, width: Math.max(1, w), height: rowH * 0.7,
        fill: COLORS[0] }, svg);
      el("title", {}, r).textContent = `${b.name}: ${b.count}`;
      text(svg, 145, T + i * rowH + rowH * 0.55, b.name, "end");
      text(svg, 152 + w, T + i * rowH + rowH * 0.55, String(b.count));
    });
    if (!items.length) text(svg, W / 2, H / 2, "no data in this range", "middle");
    svg.setAttribute("data-points", String(items.length));
  }

  window.Charts = { series, bars };
})();
