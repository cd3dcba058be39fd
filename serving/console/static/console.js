"use strict";
// The console's page: four tabs (overview, product space, try it, experiments), each filled
// from the console's own calls (serving/console/routes.py) and the public API.
(function (N) {
  const { el } = N;
  const TABS = ["overview", "map", "try", "experiments"];
  const loaded = {};
  let mapData = null, liveTimer = null, lastLive = null;

  async function get(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    if (response.status === 401) { location.href = "/console"; throw new Error("log in again"); }
    const body = await response.json();
    if (!response.ok) throw new Error(body.message || `${response.status} from ${url}`);
    return body;
  }

  function failed(root, error) {
    root.replaceChildren(el("p", { class: "error" }, String(error.message || error)));
  }

  async function projection() {
    if (!mapData) mapData = await get("/console/api/projection");
    return mapData;
  }

  async function similar(id) {
    const answer = await get(`/v1/products/${encodeURIComponent(id)}/similar?k=10`);
    return { ids: answer.items.map((item) => item.product_id), label: "Most similar (the API's /similar)" };
  }

  async function poll() {
    try {
      const live = await get("/console/api/live");
      N.renderLive(document.getElementById("live"), live, lastLive);
      lastLive = live;
    } catch (error) { failed(document.getElementById("live"), error); }
  }

  const fill = {
    async overview() {
      const ov = await get("/console/api/overview");
      document.getElementById("version").textContent = ov.version;
      N.renderOverview(document.getElementById("overview-model"), ov);
    },
    async map() { N.createMap(document.getElementById("map-view"), await projection(), { neighbours: similar }); },
    async try() { N.createTryIt(document.getElementById("try-view"), await projection().catch(() => null)); },
    async experiments() { N.renderExperiments(document.getElementById("experiments-view"), await get("/console/api/experiments")); },
  };

  async function show(tab) {
    if (!TABS.includes(tab)) tab = "overview";
    for (const t of TABS) {
      document.getElementById(`tab-${t}`).hidden = t !== tab;
      document.querySelector(`nav a[href="#${t}"]`).classList.toggle("active", t === tab);
    }
    clearInterval(liveTimer);
    if (tab === "overview") { poll(); liveTimer = setInterval(poll, 5000); }
    // experiments are re-read on every visit; the rest once per page load
    if (!loaded[tab] || tab === "experiments") {
      loaded[tab] = true;
      const root = document.getElementById(`tab-${tab}`).querySelector("[data-view]");
      try { await fill[tab](); } catch (error) { failed(root, error); }
      root.dataset.ready = "true";
    }
  }

  document.getElementById("logout").addEventListener("click", async () => {
    await fetch("/console/logout", { method: "POST", credentials: "same-origin" });
    location.href = "/console";
  });
  window.addEventListener("hashchange", () => show(location.hash.slice(1)));
  show(location.hash.slice(1));
})(window.Nowrec);
