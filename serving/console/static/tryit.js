"use strict";
// Try it: be a visitor. Pick a product, see what the public API recommends for this tab's
// session, click one, and see how the answer changes. Views and clicks go to the session store
// through the console (sessions named console-..., so they can be told apart).
(function (N) {
  const { el, num } = N;
  const SESSION_KEY = "nowrec.console.session";

  function freshSession() {
    const bytes = crypto.getRandomValues(new Uint8Array(8));
    const id = "console-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    sessionStorage.setItem(SESSION_KEY, id);  // per tab: another tab is another visitor
    return id;
  }

  async function call(url, init) {
    const response = await fetch(url, init);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.message || `${response.status} from ${url}`);
    return body;
  }

  /** createTryIt(root, mapData): mapData (the map payload, optional) feeds the search. */
  N.createTryIt = function (root, mapData) {
    let session = sessionStorage.getItem(SESSION_KEY) || freshSession();
    let current = null, previous = new Set(), trail = [];
    const search = el("input", { type: "search", list: "try-products", placeholder: "product id or title", "aria-label": "product to view" });
    const options = el("datalist", { id: "try-products" });
    const k = el("input", { type: "number", min: 1, max: 100, value: 10, style: "width:4.5em", "aria-label": "how many" });
    const excludeSeen = el("input", { type: "checkbox", checked: true, id: "try-exclude" });
    const sameCategory = el("input", { type: "checkbox", id: "try-category" });
    const sessionLabel = el("code", { "data-field": "session" }, session);
    const trailBox = el("div", { class: "trail" });
    const answerBox = el("div", {});
    const message = el("p", { class: "muted" }, "Pick a product to start a visit.");
    root.replaceChildren(
      el("div", { class: "card" },
        el("div", { class: "toolbar" }, search, options,
          el("button", { type: "button", onclick: () => open(resolve(search.value)) }, "view"),
          el("button", { type: "button", onclick: openRandom }, "a random product"),
          el("label", {}, "k ", k),
          el("label", {}, excludeSeen, " exclude what the visitor saw"),
          el("label", {}, sameCategory, " only the viewed product's category"),
          el("button", { type: "button", onclick: newSession }, "new visitor")),
        el("div", { class: "trail" }, el("span", { class: "muted" }, "session"), sessionLabel, el("span", { class: "muted" }, "viewed:"), trailBox)),
      message, answerBox);

    const ids = mapData && mapData.points ? mapData.id : [];
    const titles = mapData && mapData.points ? mapData.title : [];
    options.replaceChildren(...ids.slice(0, 2000).map((id, i) => el("option", { value: id }, titles[i] || "")));
    search.addEventListener("keydown", (e) => { if (e.key === "Enter") open(resolve(search.value)); });
    [k, excludeSeen, sameCategory].forEach((c) => c.addEventListener("change", () => current && recommend()));

    function resolve(text) {
      const t = text.trim();
      if (!t || ids.includes(t)) return t;
      const i = titles.findIndex((title) => title && title.toLowerCase().includes(t.toLowerCase()));
      return i >= 0 ? ids[i] : t;
    }

    function openRandom() {
      if (ids.length) open(ids[Math.floor(Math.random() * Math.min(ids.length, 500))]);
    }

    function newSession() {
      session = freshSession();
      sessionLabel.textContent = session;
      trail = []; previous = new Set(); current = null;
      trailBox.replaceChildren(); answerBox.replaceChildren();
      message.textContent = "A new visitor: pick a product.";
    }

    async function post(events) {
      await call("/console/api/events", {
        method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ events }),
      });
    }

    async function open(productId, clickedFrom) {
      if (!productId) return;
      try {
        const product = await call(`/v1/products/${encodeURIComponent(productId)}`);
        const ts = Date.now() / 1000;
        const events = [];
        if (clickedFrom) events.push({ session_id: session, product_id: productId, ts, event_type: "click", recommendation_id: clickedFrom });
        events.push({ session_id: session, product_id: productId, ts: ts + 0.001, event_type: "view" });
        await post(events);
        current = product;
        trail.push(productId);
        trailBox.replaceChildren(...trail.map((id) => el("span", { class: "badge" }, id)));
        await recommend();
      } catch (error) {
        message.replaceChildren(el("span", { class: "error" }, String(error.message || error)));
      }
    }

    async function recommend() {
      const params = new URLSearchParams({ session_id: session, product_id: current.product_id, k: k.value || "10", exclude_seen: excludeSeen.checked });
      if (sameCategory.checked && current.category) params.append("category", current.category);
      const answer = await call(`/v1/recommendations?${params}`);
      const ids = answer.items.map((item) => item.product_id);
      const meta = ids.length ? await call(`/v1/products?${ids.map((id) => "product_id=" + encodeURIComponent(id)).join("&")}`) : { products: [] };
      const byId = new Map(meta.products.map((p) => [p.product_id, p]));
      message.replaceChildren(
        el("strong", {}, `Viewing ${current.title || current.product_id}`),
        ` (${current.product_id}${current.category ? ", " + current.category : ""}${current.price !== null ? ", " + num(current.price, 2) : ""}). `,
        `Strategy `, el("code", { "data-field": "strategy" }, answer.strategy),
        `, variant ${answer.variant}${answer.experiment ? " of " + answer.experiment : ""}, model ${answer.model_version}, `,
        `${answer.session_events} session events, answer `, el("code", {}, answer.recommendation_id), ".");
      const list = el("ol", { class: "recs", "data-recommendation-id": answer.recommendation_id },
        answer.items.map((item, rank) => {
          const p = byId.get(item.product_id) || {};
          return el("li", { "data-product-id": item.product_id },
            el("button", { type: "button", onclick: () => open(item.product_id, answer.recommendation_id) },
              el("span", { class: "title" }, `${rank + 1}. ${p.title || item.product_id}`,
                previous.size && !previous.has(item.product_id) ? [" ", el("span", { class: "badge new" }, "new")] : null),
              el("span", { class: "meta" }, `${item.product_id} · ${p.category || "no category"}${p.price !== null && p.price !== undefined ? " · " + num(p.price, 2) : ""} · score ${num(item.score, 3)}`),
              el("span", { class: "because" }, item.reason)));
        }));
      answerBox.replaceChildren(answer.items.length ? list : el("p", { class: "muted" }, "No products to show (nothing left after the filters)."));
      previous = new Set(ids);
    }

    return { open, session: () => session };
  };
})(window.Nowrec);
