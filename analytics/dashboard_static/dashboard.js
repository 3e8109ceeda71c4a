// The usage dashboard: signs in with an API key (kept in this tab's session storage), then
// loads every panel at once; each panel draws itself, says when it has no data, and says why
// when its query failed, while the others go on. Served by the analytics process
// (analytics/dashboard.py); Chart.js comes from the same server (no CDN).
"use strict";

const KEY = "code-assistant-dashboard-key";
const charts = new Map();
// Each panel's latest request: an answer to an older one (filters applied twice) is dropped.
const latest = new Map();
let panelSpecs = [];

function $(id) { return document.getElementById(id); }

async function call(path, params) {
  const url = new URL(path, window.location.href);
  for (const [name, value] of Object.entries(params || {})) {
    if (value) url.searchParams.set(name, value);
  }
  const response = await fetch(url, {
    headers: { Authorization: "Bearer " + sessionStorage.getItem(KEY) },
    cache: "no-store",
  });
  let body = null;
  try { body = await response.json(); } catch (error) { body = null; }
  if (!response.ok) {
    const reason = body && body.error ? body.error : `HTTP ${response.status}`;
    const failure = new Error(reason);
    failure.status = response.status;
    throw failure;
  }
  return body;
}

function showLogin(message) {
  $("board").hidden = true;
  $("who").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  document.body.dataset.view = "login";
}

async function signIn(key) {
  sessionStorage.setItem(KEY, key);
  let who;
  let specs;
  try {
    // Both need only the key: asked together, the panels start a round trip sooner.
    [who, specs] = await Promise.all([call("api/whoami"), call("api/panels")]);
  } catch (error) {
    sessionStorage.removeItem(KEY);
    showLogin(error.status === 401 || error.status === 403
      ? `That key was refused: ${error.message}`
      : `The dashboard did not answer: ${error.message}`);
    return;
  }
  $("who-text").textContent = `${who.user} (${who.role}): ${who.scope}`;
  $("who").hidden = false;
  $("login").hidden = true;
  $("board").hidden = false;
  document.body.dataset.view = "board";
  try {
    await startBoard(specs);
  } catch (error) {
    $("filters-error").textContent = `The panels could not be listed: ${error.message}`;
  }
}

function isoDay(date) { return date.toISOString().slice(0, 10); }

function filters() {
  const values = {};
  for (const name of ["since", "until", "language", "editor", "model"]) {
    values[name] = $(name).value;
  }
  return values;
}

async function loadOptions() {
  try {
    const options = await call("api/options", { since: $("since").value, until: $("until").value });
    for (const name of ["language", "editor", "model"]) {
      const select = $(name);
      const chosen = select.value;
      select.replaceChildren(new Option("all", ""));
      for (const value of options[name]) select.add(new Option(value, value));
      select.value = options[name].includes(chosen) ? chosen : "";
    }
  } catch (error) {
    $("filters-error").textContent = `The filters' choices could not be read: ${error.message}`;
  }
}

async function startBoard(specs) {
  if (!$("until").value) {
    const today = new Date();
    $("until").value = isoDay(today);
    $("since").value = isoDay(new Date(today.getTime() - 27 * 86400000));
  }
  panelSpecs = specs;
  const container = $("panels");
  container.replaceChildren();
  for (const spec of panelSpecs) container.append(panelElement(spec));
  // The filters' choices after the panels: they would take a read thread from them.
  await loadPanels();
  await loadOptions();
}

function panelElement(spec) {
  const section = document.createElement("section");
  section.className = "panel";
  section.dataset.panel = spec.name;
  section.dataset.state = "loading";
  const title = document.createElement("h2");
  title.textContent = spec.title;
  const csv = document.createElement("button");
  csv.type = "button";
  csv.className = "csv";
  csv.textContent = "CSV";
  csv.addEventListener("click", () => downloadCsv(spec.name));
  title.append(csv);
  const note = document.createElement("p");
  note.className = "note";
  const only = spec.filtered_by.length === 0 ? " (the filters but the dates do not apply)"
    : spec.filtered_by.length < 3 ? ` (filtered by ${spec.filtered_by.join(", ")} only)` : "";
  note.textContent = spec.note + only;
  const status = document.createElement("p");
  status.className = "status";
  status.textContent = "Loading…";
  const chart = document.createElement("div");
  chart.className = "chart";
  chart.hidden = spec.chart === "table";
  chart.append(document.createElement("canvas"));
  const wrap = document.createElement("div");
  wrap.className = "table-wrap";
  section.append(title, note, status, chart, wrap);
  return section;
}

async function loadPanels() {
  $("filters-error").textContent = "";
  const chosen = filters();
  await Promise.all(panelSpecs.map((spec) => loadPanel(spec, chosen)));
  document.body.dataset.loaded = String(Date.now());
}

async function loadPanel(spec, chosen) {
  const section = document.querySelector(`[data-panel="${spec.name}"]`);
  const status = section.querySelector(".status");
  const ticket = (latest.get(spec.name) || 0) + 1;
  latest.set(spec.name, ticket);
  section.dataset.state = "loading";
  status.textContent = "Loading…";
  try {
    const result = await call(`api/panels/${spec.name}`, chosen);
    if (latest.get(spec.name) !== ticket) return;
    render(section, spec, result);
  } catch (error) {
    if (latest.get(spec.name) !== ticket) return;
    if (error.status === 401 || error.status === 403) {
      sessionStorage.removeItem(KEY);
      showLogin(`Signed out: ${error.message}`);
      return;
    }
    if (error.status === 400) $("filters-error").textContent = error.message;
    clear(section, spec);
    section.dataset.state = "error";
    status.textContent = `This panel could not load: ${error.message}`;
  }
  section.dataset.renderedMs = String(Math.round(performance.now()));
}

function clear(section, spec) {
  const old = charts.get(spec.name);
  if (old) { old.destroy(); charts.delete(spec.name); }
  section.querySelector(".table-wrap").replaceChildren();
}

function render(section, spec, result) {
  clear(section, spec);
  const status = section.querySelector(".status");
  if (result.rows.length === 0 || allZero(spec, result)) {
    section.dataset.state = "empty";
    status.textContent = "No data for these filters in this date range.";
    return;
  }
  section.dataset.state = "ready";
  status.textContent = `${result.rows.length} rows, ${result.query_ms} ms`;
  // Newest day first in the table (the chart reads left to right).
  const rows = spec.x === "day" ? [...result.rows].reverse() : result.rows;
  section.querySelector(".table-wrap").append(table(result.columns, rows));
  if (spec.chart !== "table" && window.Chart) draw(section, spec, result);
}

function allZero(spec, result) {
  const measured = spec.y.map((name) => result.columns.indexOf(name));
  return result.rows.every((row) => measured.every((i) => !row[i]));
}

function table(columns, rows) {
  const element = document.createElement("table");
  const head = element.createTHead().insertRow();
  for (const column of columns) {
    const th = document.createElement("th");
    th.textContent = column;
    head.append(th);
  }
  const body = element.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const cell of row) tr.insertCell().textContent = cell === null ? "" : String(cell);
  }
  return element;
}

const PALETTE = ["#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477",
                 "#66aa00", "#b82e2e", "#316395"];

function draw(section, spec, result) {
  const index = (name) => result.columns.indexOf(name);
  const xs = [...new Set(result.rows.map((row) => String(row[index(spec.x)])))];
  const series = new Map();
  for (const row of result.rows) {
    for (const y of spec.y) {
      const label = spec.group ? `${row[index(spec.group)]} ${y}` : y;
      if (!series.has(label)) series.set(label, new Array(xs.length).fill(null));
      series.get(label)[xs.indexOf(String(row[index(spec.x)]))] = row[index(y)];
    }
  }
  const datasets = [...series.entries()].map(([label, data], n) => ({
    label, data, borderColor: PALETTE[n % PALETTE.length],
    backgroundColor: PALETTE[n % PALETTE.length], spanGaps: true, pointRadius: 1,
  }));
  const canvas = section.querySelector("canvas");
  charts.set(spec.name, new window.Chart(canvas, {
    type: spec.chart,
    data: { labels: xs, datasets },
    options: { animation: false, responsive: true, maintainAspectRatio: false,
               plugins: { legend: { position: "bottom", labels: { boxWidth: 10 } } } },
  }));
}

async function downloadCsv(name) {
  const url = new URL(`api/panels/${name}`, window.location.href);
  for (const [key, value] of Object.entries(filters())) if (value) url.searchParams.set(key, value);
  url.searchParams.set("format", "csv");
  const response = await fetch(url, {
    headers: { Authorization: "Bearer " + sessionStorage.getItem(KEY) }, cache: "no-store" });
  if (!response.ok) {
    $("filters-error").textContent = `CSV of ${name} failed: HTTP ${response.status}`;
    return;
  }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  const disposition = response.headers.get("Content-Disposition") || "";
  link.download = (disposition.match(/filename="([^"]+)"/) || [null, `${name}.csv`])[1];
  document.body.append(link);
  link.click();
  link.remove();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("key").value.trim());
  });
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    showLogin("Signed out.");
  });
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    loadPanels().then(loadOptions);
  });
  const key = sessionStorage.getItem(KEY);
  if (key) signIn(key); else showLogin("");
});
