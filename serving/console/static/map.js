"use strict";
// The product space: one point per product of the bundle's projection (pipelines/projection.py)
// on a canvas, coloured by category. Hover shows the product; wheel zooms, drag pans; a search
// highlights a product and its neighbours (options.neighbours says which those are).
(function (N) {
  const { el, num } = N;
  const RADIUS = 2.2;

  /**
   * createMap(root, data, options) -> {select(index), points}
   *   data: the map payload (columns id, cat, title, price, x, y; categories; sampling).
   *   options.neighbours(id): a promise of {ids, label}: the products to highlight with it.
   */
  N.createMap = function (root, data, options = {}) {
    if (!data.points) {
      root.replaceChildren(el("p", { class: "muted" }, data.note || "no projection in this bundle"));
      return null;
    }
    const n = data.points;
    const byId = new Map(data.id.map((id, i) => [id, i]));
    const byCategory = new Map();
    data.cat.forEach((c, i) => (byCategory.get(c) || byCategory.set(c, []).get(c)).push(i));

    const canvas = el("canvas", { "aria-label": `map of ${n} products`, role: "img" });
    const tip = el("div", { class: "tip" });
    const box = el("div", { class: "map" }, canvas, tip);
    const search = el("input", { type: "search", placeholder: "search a product: id or title", "aria-label": "search a product" });
    const matches = el("div", { class: "matches" });
    const info = el("div", { class: "card" }, el("p", { class: "muted" }, "Search or click a product to see its neighbours."));
    const legend = el("div", { class: "legend" }, [...byCategory.entries()]
      .sort((a, b) => b[1].length - a[1].length)
      .map(([c, rows]) => el("div", {}, el("i", { style: `background:${N.colour(c)}` }),
        `${c < 0 ? "no category" : data.categories[c]} (${num(rows.length)})`)));
    const reset = el("button", { type: "button", onclick: () => { fit(); draw(); } }, "reset view");
    root.replaceChildren(
      el("div", { class: "toolbar" }, search, reset,
        el("span", { class: "muted" }, `${data.sampling || n + " products"}; ${String(data.method || "").toUpperCase()}` +
          (data.explained_variance ? ` (axes explain ${data.explained_variance.map((v) => (100 * v).toFixed(1) + "%").join(" and ")} of the variance)` : ""))),
      matches,
      el("div", { class: "map-layout" }, box, el("div", {}, info, el("h3", {}, "Categories"), legend)));

    // world -> screen: x' = (x - cx) * scale + width / 2, y' = height / 2 - (y - cy) * scale
    let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
    for (let i = 0; i < n; i++) {
      minX = Math.min(minX, data.x[i]); maxX = Math.max(maxX, data.x[i]);
      minY = Math.min(minY, data.y[i]); maxY = Math.max(maxY, data.y[i]);
    }
    const view = { cx: 0, cy: 0, scale: 1 };
    let width = 0, height = 0, selected = -1, highlighted = new Set();

    function fit() {
      view.cx = (minX + maxX) / 2;
      view.cy = (minY + maxY) / 2;
      const spanX = Math.max(maxX - minX, 1e-9), spanY = Math.max(maxY - minY, 1e-9);
      view.scale = 0.92 * Math.min(width / spanX, height / spanY);
    }
    const sx = (i) => (data.x[i] - view.cx) * view.scale + width / 2;
    const sy = (i) => height / 2 - (data.y[i] - view.cy) * view.scale;

    function resize() {
      const ratio = window.devicePixelRatio || 1;
      const first = width === 0;
      width = box.clientWidth; height = box.clientHeight;
      canvas.width = Math.round(width * ratio); canvas.height = Math.round(height * ratio);
      canvas.getContext("2d").setTransform(ratio, 0, 0, ratio, 0, 0);
      if (first) fit();
    }

    function draw() {
      const ctx = canvas.getContext("2d");
      ctx.clearRect(0, 0, width, height);
      let drawn = 0;
      const dim = highlighted.size > 0;
      for (const [c, rows] of byCategory) {
        ctx.fillStyle = N.colour(c);
        ctx.globalAlpha = dim ? 0.25 : 0.8;
        for (const i of rows) {
          const x = sx(i), y = sy(i);
          if (x < -RADIUS || y < -RADIUS || x > width + RADIUS || y > height + RADIUS) continue;
          ctx.fillRect(x - RADIUS, y - RADIUS, 2 * RADIUS, 2 * RADIUS);
          drawn++;
        }
      }
      ctx.globalAlpha = 1;
      for (const i of highlighted) ring(ctx, i, 5, "#17213a", N.colour(data.cat[i]));
      if (selected >= 0) ring(ctx, selected, 8, "#e5484d", N.colour(data.cat[selected]));
      canvas.dataset.drawn = String(drawn);  // points inside the view (all of them at "reset view")
    }

    function ring(ctx, i, r, stroke, fill) {
      ctx.beginPath(); ctx.arc(sx(i), sy(i), r, 0, 2 * Math.PI);
      ctx.fillStyle = fill; ctx.fill(); ctx.lineWidth = 2; ctx.strokeStyle = stroke; ctx.stroke();
    }

    function nearest(mx, my) {
      let best = -1, bestD = 64;  // within 8 px
      for (let i = 0; i < n; i++) {
        const dx = sx(i) - mx, dy = sy(i) - my, d = dx * dx + dy * dy;
        if (d < bestD) { best = i; bestD = d; }
      }
      return best;
    }

    const describe = (i) => [data.title[i] || data.id[i], `id ${data.id[i]}`,
      data.cat[i] < 0 ? "no category" : data.categories[data.cat[i]],
      data.price[i] === null ? null : `price ${num(data.price[i], 2)}`].filter((x) => x);

    async function select(i) {
      selected = i; highlighted = new Set();
      draw();
      const id = data.id[i];
      info.replaceChildren(el("h3", {}, data.title[i] || id), el("p", {}, describe(i).slice(1).join(" · ")));
      if (!options.neighbours) return;
      try {
        const found = await options.neighbours(id);
        const rows = found.ids.map((x) => byId.get(x)).filter((r) => r !== undefined);
        highlighted = new Set(rows);
        draw();
        info.append(el("h3", {}, `${found.label} (${found.ids.length}, ${rows.length} on the map)`),
          el("ol", {}, found.ids.map((x) => el("li", {}, el("button", { type: "button", class: "link",
            onclick: () => byId.has(x) && select(byId.get(x)) }, byId.has(x) ? data.title[byId.get(x)] || x : `${x} (not on the map)`)))));
      } catch (error) {
        info.append(el("p", { class: "error" }, String(error.message || error)));
      }
    }

    function find(text) {
      const q = text.trim().toLowerCase();
      if (!q) return [];
      const exact = byId.has(text.trim()) ? [byId.get(text.trim())] : [];
      const more = [];
      for (let i = 0; i < n && more.length < 8; i++) {
        if (i === exact[0]) continue;
        if (data.id[i].toLowerCase().startsWith(q) || (data.title[i] || "").toLowerCase().includes(q)) more.push(i);
      }
      return exact.concat(more).slice(0, 8);
    }

    search.addEventListener("input", () => {
      matches.replaceChildren(...find(search.value).map((i) =>
        el("button", { type: "button", onclick: () => select(i) }, `${data.title[i] || data.id[i]} (${data.id[i]})`)));
    });
    search.addEventListener("keydown", (e) => {
      if (e.key === "Enter") { const found = find(search.value); if (found.length) select(found[0]); }
    });

    let drag = null;
    canvas.addEventListener("mousedown", (e) => { drag = { x: e.offsetX, y: e.offsetY, moved: false }; });
    window.addEventListener("mouseup", () => { setTimeout(() => (drag = null)); });
    canvas.addEventListener("mousemove", (e) => {
      if (drag && (e.buttons & 1)) {
        view.cx -= (e.offsetX - drag.x) / view.scale;
        view.cy += (e.offsetY - drag.y) / view.scale;
        drag.moved = drag.moved || Math.abs(e.offsetX - drag.x) + Math.abs(e.offsetY - drag.y) > 2;
        drag.x = e.offsetX; drag.y = e.offsetY;
        tip.style.display = "none";
        draw();
        return;
      }
      const i = nearest(e.offsetX, e.offsetY);
      if (i < 0) { tip.style.display = "none"; return; }
      tip.replaceChildren(...describe(i).map((line, k) => el(k ? "div" : "strong", {}, line)));
      tip.style.display = "block";
      tip.style.left = `${Math.min(e.offsetX + 12, width - 200)}px`;
      tip.style.top = `${e.offsetY + 12}px`;
    });
    canvas.addEventListener("mouseleave", () => (tip.style.display = "none"));
    canvas.addEventListener("click", (e) => {
      if (drag && drag.moved) return;
      const i = nearest(e.offsetX, e.offsetY);
      if (i >= 0) select(i);
    });
    canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      const factor = Math.exp(-e.deltaY * 0.0015);
      // keep the point under the cursor where it is
      const wx = (e.offsetX - width / 2) / view.scale + view.cx;
      const wy = (height / 2 - e.offsetY) / view.scale + view.cy;
      view.scale *= factor;
      view.cx = wx - (e.offsetX - width / 2) / view.scale;
      view.cy = wy - (height / 2 - e.offsetY) / view.scale;
      draw();
    }, { passive: false });
    new ResizeObserver(() => { resize(); draw(); }).observe(box);
    resize(); draw();
    return { select: (id) => byId.has(id) && select(byId.get(id)), points: n, canvas };
  };

  /** The products nearest to one on the map itself (report.html has no service to ask). */
  N.mapNeighbours = function (data, k = 10) {
    return async function (id) {
      const i = data.id.indexOf(id);
      const order = data.id.map((_, j) => j).filter((j) => j !== i)
        .sort((a, b) => Math.hypot(data.x[a] - data.x[i], data.y[a] - data.y[i]) - Math.hypot(data.x[b] - data.x[i], data.y[b] - data.y[i]));
      return { ids: order.slice(0, k).map((j) => data.id[j]), label: "Nearest on the map" };
    };
  };
})(window.Nowrec);
