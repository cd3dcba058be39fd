"use strict";
// The overview of a model bundle (from its manifest, pipelines/bundle_overview.py) and, in the
// console, the service's live figures (serving/console/live.py).
(function (N) {
  const { el, num, pct, table, kv, card } = N;

  function shares(strategies) {
    return Object.entries(strategies || {})
      .sort((a, b) => b[1] - a[1])
      .map(([name, share]) => `${name} ${pct(share, 0)}`)
      .join(", ");
  }

  function source(src) {
    if (!src) return "–";
    const where = src.table || src.path || src.sql || "";
    return `${src.kind || "?"}${where ? ": " + where : ""}${src.files ? ` (${src.files} file${src.files > 1 ? "s" : ""})` : ""}`;
  }

  function evaluationTable(results) {
    const rows = [];
    const order = (entries, first) => entries.sort((a, b) => first.indexOf(b[0]) - first.indexOf(a[0]));
    for (const [protocol, systems] of order(Object.entries(results || {}), ["next_different", "next_view"])) {
      for (const [system, r] of order(Object.entries(systems), ["popular", "item", "nowrec"])) {
        const k = r.k;
        rows.push([protocol === "next_view" ? "next view" : "next different product",
          system, num(r[`hr@${k}`]), num(r[`mrr@${k}`]), pct(r.coverage), num(r.pairs), shares(r.strategies)]);
      }
    }
    const k = Object.values(Object.values(results || {})[0] || {})[0]?.k || 20;
    return table(["protocol", "system", `HR@${k}`, `MRR@${k}`, "coverage", "pairs", "strategies"], rows);
  }

  function paramsTable(params) {
    return table(["parameter", "value"], Object.entries(params || {}).map(([k, v]) =>
      [k, typeof v === "object" && v !== null ? JSON.stringify(v) : num(v)]));
  }

  /** Draw a bundle's overview into `root`. */
  N.renderOverview = function (root, ov) {
    const counts = ov.counts || {};
    const meta = ov.metadata || {};
    const metrics = ov.metrics || {};
    const sess = (ov.sessionization || {}).report || {};
    const cards = [];
    cards.push(card("Model",
      kv([
        ["version", el("code", { "data-field": "version" }, ov.version || "–")],
        ["created", N.when(ov.created_at)],
        ["source", source(ov.source)],
        ["products with views", num(counts.items)],
        ["sessions", num(counts.sessions)],
        ["views trained on", num(counts.tokens)],
        ["categories", num(counts.categories)],
        ["vector dimensions", num(counts.dim)],
        counts.catalogue_products ? ["catalogue products", num(counts.catalogue_products)] : null,
      ]),
      (ov.notes || []).length ? el("p", { class: "muted" }, ov.notes.join(" · ")) : null));

    const cold = (metrics.test || metrics.holdout || {}).results;
    const coldShare = cold && cold.next_view && cold.next_view.nowrec ? (cold.next_view.nowrec.strategies || {}).cold_start : null;
    const fresh = ((ov.model_params || {}).ranking || {});
    cards.push(card("Cold start",
      kv([
        ["products without views (cold-start vectors)", num(meta.products_without_views)],
        ["products with metadata", meta.items_with_metadata === undefined ? "no product metadata" : `${num(meta.items_with_metadata)} of ${num(counts.items)}`],
        ["unavailable products", num(meta.unavailable_items)],
        ["answers from cold start (evaluation)", coldShare === null || coldShare === undefined ? "–" : pct(coldShare, 2)],
        ["freshness boost", num(fresh.freshness_boost, 2)],
      ])));

    const steps = (sess.steps || []).map((s) => [s.description, num(s.events_dropped), num(s.sessions_dropped), s.detail || ""]);
    cards.push(card("Sessionization",
      kv([
        ["events read", num(sess.input_events)],
        ["events kept", num(sess.events)],
        ["sessions", num(sess.sessions)],
      ]),
      el("h3", {}, "What was dropped, step by step"),
      table(["step", "events dropped", "sessions dropped", ""], steps),
      (sess.notes || []).length ? el("p", { class: "muted" }, sess.notes.join(" · ")) : null));

    const quality = [];
    if (metrics.holdout) {
      const h = metrics.holdout;
      quality.push(el("h3", {}, `Held out: the newest ${num(h.sessions)} sessions (${pct(h.share)}), ${num(h.pairs)} pairs`),
        el("p", { class: "muted" }, h.model), evaluationTable(h.results));
    }
    if (metrics.test) {
      quality.push(el("h3", {}, `Test pairs: ${metrics.test.pairs_file}`), evaluationTable(metrics.test.results));
    }
    cards.push(el("section", { class: "card wide" }, el("h2", {}, "Evaluation"),
      quality.length ? quality : el("p", { class: "muted" }, "This bundle was trained without an evaluation (--no-holdout and no --test-pairs).")));

    const ranker = ov.ranker || {};
    cards.push(card("Hyper-parameters",
      el("h3", {}, "prod2vec"), paramsTable(ov.hyperparameters),
      el("h3", {}, "Ranker"),
      ranker.learned === false ? el("p", {}, "hand-set blend (no learned ranker)")
        : kv(Object.entries(ranker).filter(([, v]) => typeof v !== "object").map(([k, v]) => [k, num(v)])),
      Object.entries(ov.model_params || {}).map(([group, params]) =>
        el("details", {}, el("summary", {}, group), paramsTable(params)))));
    root.replaceChildren(el("div", { class: "grid" }, cards));
  };

  /** Draw the service's live figures; `previous` (the last poll) gives rates. */
  N.renderLive = function (root, live, previous) {
    const seconds = previous ? live.now - previous.now : 0;
    const rate = seconds > 0 ? (live.requests.total - previous.requests.total) / seconds : null;
    const a = live.answers;
    const store = live.store;
    root.replaceChildren(el("div", { class: "grid" },
      el("section", { class: "card span2" }, el("h2", {}, "Live: this process"),
        kv([
          ["serving", el("code", { "data-field": "live-version" }, live.model.version || "no model")],
          ["loaded", N.when(live.model.loaded_at)],
          ["reloads, products updated since training", `${num(live.model.reloads)}, ${num(live.model.upserts)}`],
          live.model.last_reload_error ? ["last refused bundle", el("span", { class: "bad" }, live.model.last_reload_error)] : null,
          ["requests", `${num(live.requests.total)}${rate === null ? "" : ` (${rate.toFixed(1)}/s now)`}`],
          ["client errors (4xx), server errors (5xx)", `${num(live.requests.errors_4xx)}, ${num(live.requests.errors_5xx)}`],
          ["answers, degraded", `${num(a.total)}, ${num(a.degraded)} (${pct(a.degraded_share)})`],
          ["strategies", Object.entries(a.strategies).map(([k, v]) => `${k} ${num(v)}`).join(", ") || "–"],
          ["events applied", Object.entries(live.events).map(([k, v]) => `${k} ${num(v)}`).join(", ") || "0"],
          ["consumer lag", live.consumer.lag === null ? live.consumer.where : `${num(live.consumer.lag)} events (${live.consumer.where})`],
          ["session store", el("span", { class: store.ok ? "good" : "bad" }, store.detail +
            (store.sessions !== undefined ? `, ${num(store.sessions)} sessions, ${(store.bytes / 1048576).toFixed(1)} MiB` : ""))],
          ["experiments", live.experiments || "–"],
        ])),
      card("Latency since start (ms)",
        table(["route", "requests", "p50", "p95", "p99"], live.latency.map((r) =>
          [r.route, num(r.requests), num(r.p50_ms, 2), num(r.p95_ms, 2), num(r.p99_ms, 2)])))));
  };
})(window.Nowrec);
