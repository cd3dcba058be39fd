/* nowrec.js: recommendations on a shop's product page, with one script tag.
 *
 *   <div id="recs"></div>
 *   <script async src="https://API/nowrec.js" data-product-id="102487" data-target="#recs"
 *           data-token="BROWSER_TOKEN" data-product-url="/p/{id}"></script>
 *
 * It keeps a session id in the browser (localStorage; a new one after 30 minutes without a
 * page), reports the page view, fetches the recommendations for this product, and renders an
 * accessible strip (or calls window[data-callback](items, answer) for the shop's own
 * template). The API records each answer as an impression; a click on the strip is reported
 * with the answer's recommendation id by the next page's script, with its view. Options
 * (data-*): api (default: where this script comes from), k (default 8), title, token (the
 * public NOWREC_BROWSER_TOKEN: without it no event is sent), style="none" (no default CSS). window.nowrec.clicked(id,
 * recommendationId) records a click from a custom template. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var d = script.dataset;
  var api = (d.api || new URL(script.src).origin).replace(/\/$/, "");
  var IDLE_MS = 30 * 60 * 1000, SESSION = "nowrec.session", CLICK = "nowrec.click";

  function store(key, value) { try { localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode */ } }
  function read(key) { try { return JSON.parse(localStorage.getItem(key)); } catch (e) { return null; } }

  function sessionId() {
    var s = read(SESSION), now = Date.now();
    if (!s || now - s.last > IDLE_MS) s = { id: "w-" + (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2)) };
    s.last = now;
    store(SESSION, s);
    return s.id;
  }

  function send(events) {
    if (!d.token || !events.length) return Promise.resolve();
    return fetch(api + "/v1/events", {
      method: "POST", keepalive: true,
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + d.token },
      body: JSON.stringify({ events: events }),
    }).catch(function () { /* the page works without its analytics */ });
  }

  function get(path) {
    return fetch(api + path).then(function (r) {
      if (!r.ok) throw new Error("nowrec: " + r.status + " from " + path);
      return r.json();
    });
  }

  function clicked(productId, recommendationId) {
    store(CLICK, { product_id: String(productId), recommendation_id: recommendationId, ts: Date.now() / 1000 });
  }

  function text(tag, cls, value) {
    var node = document.createElement(tag);
    node.className = cls;
    node.textContent = value;
    return node;
  }

  var STYLE = ".nowrec-strip ul{display:flex;gap:.8em;list-style:none;padding:0;margin:0;overflow-x:auto}" +
    ".nowrec-strip a{display:block;width:11em;padding:.6em;border:1px solid #ccd;border-radius:6px;text-decoration:none;color:inherit}" +
    ".nowrec-strip a:hover,.nowrec-strip a:focus{border-color:#2456c7}.nowrec-strip span{display:block}" +
    ".nowrec-name{font-weight:600}.nowrec-reason{font-size:.85em;color:#556}";

  function render(target, items, answer) {
    if (d.style !== "none" && !document.getElementById("nowrec-style")) {
      var style = document.createElement("style");
      style.id = "nowrec-style";
      style.textContent = STYLE;
      document.head.appendChild(style);
    }
    var section = document.createElement("section");
    section.className = "nowrec-strip";
    section.setAttribute("aria-labelledby", "nowrec-title");
    section.dataset.recommendationId = answer.recommendation_id;
    section.appendChild(text("h2", "nowrec-title", d.title || "Recommended for you")).id = "nowrec-title";
    var list = document.createElement("ul");
    items.forEach(function (item) {
      var li = document.createElement("li"), a = document.createElement("a");
      a.href = (d.productUrl || "?product={id}").replace("{id}", encodeURIComponent(item.product_id));
      a.dataset.productId = item.product_id;
      a.appendChild(text("span", "nowrec-name", item.title || item.product_id));
      if (item.price !== null && item.price !== undefined) a.appendChild(text("span", "nowrec-price", item.price.toFixed(2)));
      a.appendChild(text("span", "nowrec-reason", item.reason));
      a.addEventListener("click", function () { clicked(item.product_id, answer.recommendation_id); });
      li.appendChild(a);
      list.appendChild(li);
    });
    section.appendChild(list);
    target.replaceChildren(section);
  }

  function show(productId) {
    var session = sessionId(), now = Date.now() / 1000, events = [];
    var click = read(CLICK);
    localStorage.removeItem(CLICK);
    if (click && click.product_id === productId && now - click.ts < 600) {
      events.push({ session_id: session, product_id: productId, ts: now, event_type: "click", recommendation_id: click.recommendation_id });
    }
    events.push({ session_id: session, product_id: productId, ts: now + 0.001, event_type: "view" });
    var k = d.k || "8";
    return send(events).then(function () {
      return get("/v1/recommendations?session_id=" + encodeURIComponent(session) + "&product_id=" + encodeURIComponent(productId) + "&k=" + k);
    }).then(function (answer) {
      if (!answer.items.length) return answer;
      var ids = answer.items.map(function (i) { return "product_id=" + encodeURIComponent(i.product_id); }).join("&");
      return get("/v1/products?" + ids).then(function (meta) {
        var byId = {};
        meta.products.forEach(function (p) { byId[p.product_id] = p; });
        var items = answer.items.map(function (i) {
          var p = byId[i.product_id] || {};
          return { product_id: i.product_id, title: p.title, price: p.price, category: p.category, reason: i.reason, score: i.score };
        });
        var callback = d.callback && window[d.callback];
        var target = d.target && document.querySelector(d.target);
        if (callback) callback(items, answer);
        else if (target) render(target, items, answer);
        return answer;
      });
    }).catch(function (error) { console.warn(String(error)); });
  }

  window.nowrec = { show: show, clicked: clicked, session: sessionId, ready: null };
  if (d.productId) window.nowrec.ready = show(d.productId);
})();
