"use strict";
// Experiments: each experiment's report (serving/closed_loop.py): rates per variant with their
// 95% intervals as a chart, the lift and p-value against the control, the sample-ratio check.
(function (N) {
  const { el, num, pct, table, kv } = N;
  const SVG = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** One metric: a row per variant, the estimate as a dot and its interval as a line. */
  function intervalChart(metric, variants, control) {
    const rows = variants.map((v) => ({ name: v.name, m: v.metrics[metric] || {} })).filter((r) => r.m.value !== null && r.m.value !== undefined);
    const width = 360, left = 90, right = 16, rowH = 24, top = 18, height = top + rowH * rows.length + 18;
    const chart = svg("svg", { class: "intervals", width, height, role: "img", "aria-label": `${metric} by variant` });
    if (!rows.length) return chart;
    let lo = Math.min(...rows.map((r) => r.m.low ?? r.m.value)), hi = Math.max(...rows.map((r) => r.m.high ?? r.m.value));
    if (hi - lo < 1e-12) { lo -= 0.5; hi += 0.5; }
    const pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
    const x = (v) => left + ((v - lo) / (hi - lo)) * (width - left - right);
    chart.append(svg("text", { x: left, y: 12 }, metric));
    const axisY = top + rowH * rows.length + 4;
    chart.append(svg("line", { class: "axis", x1: left, x2: width - right, y1: axisY, y2: axisY }));
    [lo + pad, (lo + hi) / 2, hi - pad].forEach((t) => chart.append(svg("text", { x: x(t), y: axisY + 12, "text-anchor": "middle" }, num(t, 3))));
    const c = rows.find((r) => r.name === control);
    if (c) chart.append(svg("line", { class: "control", x1: x(c.m.value), x2: x(c.m.value), y1: top, y2: axisY }));
    rows.forEach((r, i) => {
      const y = top + rowH * i + rowH / 2;
      const colour = r.name === control ? "#5b6578" : r.m.p_value !== null && r.m.p_value < 0.05 ? (r.m.diff > 0 ? "#167a3e" : "#b3261e") : "#2456c7";
      chart.append(svg("text", { x: 4, y: y + 4 }, r.name));
      chart.append(svg("line", { x1: x(r.m.low ?? r.m.value), x2: x(r.m.high ?? r.m.value), y1: y, y2: y, stroke: colour, "stroke-width": 2 }));
      chart.append(svg("circle", { cx: x(r.m.value), cy: y, r: 4, fill: colour, "data-variant": r.name }));
    });
    return chart;
  }

  function reportCard(name, entry) {
    if (entry.error) return N.card(name, el("p", { class: "muted" }, entry.error));
    const r = entry.report;
    const primary = r.primary;
    const metrics = Object.keys((r.variants[0] || { metrics: {} }).metrics);
    const srm = r.srm_p_value === null ? "not computed yet" : `p = ${num(r.srm_p_value, 4)} ` + (r.srm_ok ? "(the split matches the weights)" : "(MISMATCH: do not trust this report)");
    return el("section", { class: "card wide", "data-experiment": name },
      el("h2", {}, `${name}: ${r.verdict}`),
      kv([["unit", r.unit], ["control", r.control], ["primary metric", primary],
        ["sample-ratio check", el("span", { class: r.srm_ok === false ? "bad" : "" }, srm)],
        ["enough data", r.enough_data ? "yes" : "not yet"], ["alpha", num(r.alpha, 3)]]),
      table(["variant", "sessions", "impressions", "clicks", `${primary} [95% interval]`, "lift", "p-value"],
        r.variants.map((v) => {
          const m = v.metrics[primary] || {};
          return [v.name, num(v.sessions), num(v.impressions), num(v.clicks),
            `${num(m.value)} [${num(m.low)}, ${num(m.high)}]`,
            v.name === r.control ? "control" : pct(m.lift), v.name === r.control ? "" : num(m.p_value, 4)];
        })),
      el("div", { style: "display:flex;flex-wrap:wrap;gap:1em;margin-top:.8em" },
        [primary, ...metrics.filter((m) => m !== primary)].map((m) => intervalChart(m, r.variants, r.control))));
  }

  N.renderExperiments = function (root, data) {
    const names = Object.keys(data.reports || {});
    root.replaceChildren(el("div", { class: "grid" },
      N.card("Experiments file", kv([["file", data.file || "none (NOWREC_EXPERIMENTS_FILE is not set)"], ["now", data.running],
        data.last_error ? ["last refused", el("span", { class: "bad" }, data.last_error)] : null])),
      names.length ? names.map((name) => reportCard(name, data.reports[name]))
        : N.card("No experiment", el("p", { class: "muted" }, "Declare one in the experiments file (see the README's \"Experiments and the closed loop\")."))));
  };
})(window.Nowrec);
