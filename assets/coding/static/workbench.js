// The coder's workbench. Record text, contexts, titles and search results are set with textContent only:
// whatever a record says, it is shown as text, never run as markup.
"use strict";
const state = { token: null, records: [], i: 0, chosen: null, results: [] };
const $ = (id) => document.getElementById(id);

function setStatus(text, cls) { const s = $("status"); s.textContent = text; s.className = cls || ""; }
function current() { return state.records[state.i] || null; }
function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }
function li(text, onClick) { const e = document.createElement("li"); e.textContent = text; e.addEventListener("click", onClick); return e; }

async function api(path, options) {
  const resp = await fetch(path, options);
  let body = null;
  try { body = await resp.json(); } catch (e) { body = { error: "not_json", message: resp.statusText }; }
  if (!resp.ok) { const err = new Error(body.message || resp.statusText); err.body = body; err.status = resp.status; throw err; }
  return body;
}

const initialClassification = new URLSearchParams(location.search).get("classification") || "";

async function loadQueue() {
  const cls = $("classification").value || initialClassification;
  const q = "/api/queue?limit=20" + (cls ? "&classification=" + encodeURIComponent(cls) : "");
  try {
    const data = await api(q);
    state.token = data.csrf_token; state.records = data.records; state.i = 0;
    show();
    if (!state.records.length) setStatus("No hay registros pendientes.", "ok");
  } catch (e) { setStatus("No se pudo cargar la cola: " + e.message, "error"); }
}

function choose(code) {
  state.chosen = code;
  $("chosen").textContent = code || "—";
  for (const list of [$("candidates"), $("results")])
    for (const item of list.children) item.classList.toggle("selected", item.dataset.code === code);
}

function show() {
  const r = current();
  clear($("candidates")); clear($("results")); clear($("context")); choose(null);
  $("search").value = ""; $("cannot").value = "";
  if (!r) { $("record-text").textContent = ""; $("position").textContent = "0 / 0"; $("record-meta").textContent = ""; return; }
  $("position").textContent = (state.i + 1) + " / " + state.records.length;
  $("record-meta").textContent = r.classification + " · " + r.record_id + " · " + r.reason +
    " · reclamado hasta " + r.claim_expires_at;
  $("record-text").textContent = r.text;
  for (const [k, v] of Object.entries(r.context || {})) {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v === null ? "" : String(v);
    $("context").append(dt, dd);
  }
  r.candidates.slice(0, 5).forEach((c, j) => {
    const conf = c.confidence === null ? "" : " (" + Math.round(c.confidence * 100) + " %)";
    const e = li((j + 1) + ". " + c.code + " — " + (c.title || "") + conf, () => choose(c.code));
    e.dataset.code = c.code; $("candidates").append(e);
  });
  if (r.candidates.length) choose(r.candidates[0].code);
}

async function search() {
  const r = current(); const q = $("search").value.trim();
  if (!r || !q) return;
  try {
    const data = await api("/api/search?classification=" + encodeURIComponent(r.classification) + "&q=" +
                           encodeURIComponent(q) + "&k=10");
    clear($("results"));
    data.results.forEach((h) => {
      const e = li(h.code + " — " + (h.title || ""), () => choose(h.code));
      e.dataset.code = h.code; $("results").append(e);
    });
    if (data.results.length) choose(data.results[0].code);
    else setStatus("Sin resultados para la búsqueda.", "");
  } catch (e) { setStatus("Búsqueda fallida: " + e.message, "error"); }
}

async function save(cannot) {
  const r = current(); const coder = $("coder").value.trim();
  if (!r) return;
  if (!coder) { setStatus("Escriba su nombre de codificador(a).", "error"); $("coder").focus(); return; }
  const body = { record_id: r.record_id, classification: r.classification, claim_id: r.claim_id, coder: coder };
  if (cannot) { const why = $("cannot").value.trim(); if (!why) { setStatus("Escriba el motivo.", "error"); return; } body.cannot_code = why; }
  else { if (!state.chosen) { setStatus("Elija un código.", "error"); return; } body.code = state.chosen; }
  try {
    const data = await api("/api/decisions", { method: "POST", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", "X-CSRF-Token": state.token } });
    setStatus("Guardado: " + data.record_id + " → " + (data.code || "no codificable"), "ok");
    next();
  } catch (e) { setStatus("No se guardó (" + e.status + "): " + e.message, "error"); }
}

function next() { state.i += 1; if (state.i >= state.records.length) loadQueue(); else show(); }

function row(cells) { const tr = document.createElement("tr"); for (const c of cells) { const td = document.createElement("td"); td.textContent = c === null ? "—" : String(c); tr.append(td); } return tr; }

async function loadStats() {
  try {
    const s = await api("/api/stats");
    const a = $("stats-classes").tBodies[0], b = $("stats-days").tBodies[0];
    clear(a); clear(b);
    for (const c of s.by_classification) a.append(row([c.classification, c.decided, c.model_first_code_agreement, c.audited, c.auto_precision_on_audits]));
    for (const d of s.decisions) b.append(row([d.classification, d.coder, d.day, d.decisions]));
  } catch (e) { setStatus("Estadísticas no disponibles: " + e.message, "error"); }
}

document.addEventListener("keydown", (ev) => {
  const t = ev.target; const typing = t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA");
  if (typing) {
    if (ev.key === "Escape") t.blur();
    return;  // Enter in the search box submits the search form; in the other inputs it does nothing special
  }
  if (ev.key >= "1" && ev.key <= "5") {
    const r = current(); const c = r && r.candidates[Number(ev.key) - 1];
    if (c) choose(c.code);
  } else if (ev.key === "/") { ev.preventDefault(); $("search").focus(); }
  else if (ev.key === "Enter") { ev.preventDefault(); save(false); }
  else if (ev.key === "s") { next(); }
});
$("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); search().then(() => $("search").blur()); });
$("save").addEventListener("click", () => save(false));
$("save-cannot").addEventListener("click", () => save(true));
$("skip").addEventListener("click", next);
$("refresh-stats").addEventListener("click", loadStats);
$("classification").addEventListener("change", loadQueue);
$("coder").value = localStorage.getItem("coder") || "";
$("coder").addEventListener("change", () => localStorage.setItem("coder", $("coder").value.trim()));
fetch("/api/classifications").then((r) => r.ok ? r.json() : { classifications: [] }).then((d) => {
  for (const c of d.classifications) { const o = document.createElement("option"); o.value = c; o.textContent = c; $("classification").append(o); }
  if (initialClassification) $("classification").value = initialClassification;
});
loadQueue(); loadStats();
