"use strict";
// Small helpers shared by the console and the bundle's report.html: building DOM, formatting.
window.Nowrec = window.Nowrec || {};
(function (N) {
  /** el("td", {class: "x", onclick: f}, child, ...): an element with attributes and children. */
  N.el = function (tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  };
  const el = N.el;

  N.num = function (value, digits) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number") return String(value);
    if (digits === undefined && Number.isInteger(value)) return value.toLocaleString("en");
    return value.toFixed(digits === undefined ? 4 : digits);
  };
  N.pct = (value, digits = 1) => (value === null || value === undefined ? "–" : (100 * value).toFixed(digits) + "%");
  N.table = (headers, rows) =>
    el("table", {}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.map((row) => el("tr", {}, row.map((cell) => el("td", {}, cell))))));
  N.kv = (pairs) => el("dl", { class: "kv" }, pairs.filter((p) => p).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  N.card = (title, ...body) => el("section", { class: "card" }, el("h2", {}, title), ...body);
  /** A category's colour: golden-angle hues, so neighbouring indices differ. Grey: none. */
  N.colour = (index) => (index < 0 ? "#9aa3b2" : `hsl(${(index * 137.508) % 360} 62% 46%)`);
  N.when = (unixOrIso) => {
    if (unixOrIso === null || unixOrIso === undefined) return "–";
    const d = typeof unixOrIso === "number" ? new Date(unixOrIso * 1000) : new Date(unixOrIso);
    return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  };
})(window.Nowrec);
