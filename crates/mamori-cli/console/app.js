// Mamori console: plain JavaScript, no dependencies. Log content is
// attacker-controlled, so text is only ever set with textContent, never as HTML.
"use strict";

const main = document.getElementById("main");
let me = null;

// ---- helpers -------------------------------------------------------------
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
function token() { return sessionStorage.getItem("mamori.token"); }
function toast(msg) {
  const t = document.getElementById("toast");
  t.textContent = msg; t.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { t.hidden = true; }, 3500);
}
async function api(method, path, body) {
  const opts = { method, headers: { Authorization: "Bearer " + token() } };
  if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  const r = await fetch(path, opts);
  const data = await r.json().catch(() => ({ error: r.statusText }));
  if (r.status === 401) { signOut(); throw new Error(data.error || "signed out"); }
  if (!r.ok) throw new Error(data.error || (r.status + " " + r.statusText));
  return data;
}
function errorBox(e) { return el("div", { class: "error" }, String(e.message || e)); }
function sev(s) { return el("span", { class: "sev " + s }, s); }
function cell(v) {
  if (v === null || v === undefined) return "";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}
function table(columns, rows, opts) {
  opts = opts || {};
  const head = el("tr", {}, opts.select ? el("th", {}, "") : null, columns.map(c => el("th", {}, c)));
  const body = [];
  rows.forEach((r, i) => {
    const tr = el("tr", { class: (opts.onclick || opts.expand ? "clickable " : "") + (opts.rowClass ? opts.rowClass(r) : "") },
      opts.select ? el("td", {}, el("input", { type: "checkbox", "data-i": i, onclick: ev => ev.stopPropagation() })) : null,
      columns.map(c => el("td", { title: cell(r[c]) }, opts.render && opts.render[c] ? opts.render[c](r[c], r) : cell(r[c]))));
    if (opts.onclick) tr.addEventListener("click", () => opts.onclick(r));
    body.push(tr);
    if (opts.expand) {
      const detail = el("tr", { hidden: true }, el("td", { colspan: columns.length + (opts.select ? 1 : 0) }, ""));
      tr.addEventListener("click", async () => {
        detail.hidden = !detail.hidden;
        if (!detail.hidden && !detail.filled) { detail.filled = true; detail.firstChild.replaceChildren(await opts.expand(r)); }
      });
      body.push(detail);
    }
  });
  return el("table", { class: opts.id ? "" : null, id: opts.id }, el("thead", {}, head), el("tbody", {}, body));
}
function prettyJson(v) {
  if (typeof v === "string") { try { v = JSON.parse(v); } catch (_) { return el("pre", { class: "json" }, v); } }
  return el("pre", { class: "json" }, JSON.stringify(v, null, 2));
}
function download(name, text, type) {
  const a = el("a", { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  document.body.append(a); a.click(); a.remove();
}
function csv(columns, rows) {
  const q = v => { const s = cell(v); return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; };
  return [columns.map(q).join(",")].concat(rows.map(r => columns.map(c => q(r[c])).join(","))).join("\n") + "\n";
}
function entityLink(v) {
  return el("a", { class: "entity", href: "#/timeline?entity=" + encodeURIComponent(v) }, v);
}
const RANGES = [["15m", "Last 15 minutes"], ["1h", "Last hour"], ["24h", "Last 24 hours"], ["7d", "Last 7 days"], ["30d", "Last 30 days"], ["", "All time"], ["custom", "Custom…"]];
function rangePicker(initial) {
  const sel = el("select", { id: "range" }, RANGES.map(([v, l]) => el("option", { value: v, selected: v === initial }, l)));
  const start = el("input", { id: "start", placeholder: "start: 2026-11-01T00:00:00Z", hidden: true });
  const end = el("input", { id: "end", placeholder: "end", hidden: true });
  sel.addEventListener("change", () => { start.hidden = end.hidden = sel.value !== "custom"; });
  const value = () => sel.value === "custom" ? { start: start.value || undefined, end: end.value || undefined } : (sel.value ? { since: sel.value } : {});
  return { node: el("span", {}, sel, start, end), value };
}

// ---- sign in ---------------------------------------------------------------
function signOut() { sessionStorage.removeItem("mamori.token"); me = null; route(); }
document.getElementById("signout").addEventListener("click", signOut);
function signInPage(msg) {
  const input = el("input", { id: "token", type: "password", placeholder: "mamori_…", autocomplete: "off" });
  const go = async () => {
    sessionStorage.setItem("mamori.token", input.value.trim());
    try { me = await api("GET", "/api/me"); location.hash = "#/findings"; route(); }
    catch (e) { sessionStorage.removeItem("mamori.token"); signInPage(e.message); }
  };
  input.addEventListener("keydown", e => { if (e.key === "Enter") go(); });
  main.replaceChildren(el("div", { class: "signin card" },
    el("h1", {}, "Sign in"),
    el("p", { class: "muted" }, "Paste an API token (mamori serve token NAME --role analyst)."),
    input, el("button", { id: "signin", onclick: go }, "Sign in"),
    msg ? errorBox(msg) : null));
  input.focus();
}

// ---- search ----------------------------------------------------------------
const DEFAULT_QUERY = "fields @timestamp, @source, eventName, actor.user.name, @ptr, @message\n| sort @timestamp desc\n| limit 200";
function searchPage(params) {
  const q = el("textarea", { id: "query", spellcheck: "false" }, params.get("q") || sessionStorage.getItem("mamori.query") || DEFAULT_QUERY);
  const lang = el("select", { id: "lang" }, el("option", { value: "insights" }, "Logs Insights"), el("option", { value: "sql" }, "SQL"));
  const range = rangePicker(params.get("since") || "");
  const out = el("div", { id: "results" });
  const canvas = el("canvas", { id: "histogram", width: 1200, height: 90 });
  let last = null;
  const run = async () => {
    sessionStorage.setItem("mamori.query", q.value);
    out.replaceChildren(el("p", { class: "muted" }, "Running…"));
    const body = Object.assign({ limit: 10000 }, range.value());
    body[lang.value === "sql" ? "sql" : "query"] = q.value;
    try {
      const r = await api("POST", "/api/query", body);
      last = r;
      drawHistogram(canvas, r.rows);
      out.replaceChildren(
        el("div", { class: "row" }, el("span", { id: "rowcount" }, r.rows.length + " row(s)" + (r.truncated ? " (cut at the limit)" : "")),
          el("span", { class: "muted" }, r.elapsed_ms + " ms"),
          el("button", { class: "secondary", onclick: () => download("mamori.csv", csv(r.columns, r.rows), "text/csv") }, "Export CSV"),
          el("button", { class: "secondary", onclick: () => download("mamori.json", r.rows.map(x => JSON.stringify(x)).join("\n") + "\n", "application/x-ndjson") }, "Export JSON")),
        table(r.columns.filter(c => c !== "@message"), r.rows, { id: "result-table", expand: row => expandRow(row) }));
    } catch (e) { out.replaceChildren(errorBox(e)); }
  };
  q.addEventListener("keydown", e => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) run(); });
  main.replaceChildren(el("h1", {}, "Search"), q,
    el("div", { class: "row" }, lang, range.node, el("button", { id: "run", onclick: run }, "Run"), el("span", { class: "muted" }, "Ctrl+Enter runs")),
    canvas, out);
  if (params.get("q")) run();
}
async function expandRow(row) {
  if (row["@message"]) return prettyJson(row["@message"]);
  if (row.raw) return prettyJson(row.raw);
  const ptr = row["@ptr"];
  if (ptr) {
    const [source, , uid] = ptr.split("/");
    try {
      const r = await api("POST", "/api/query", { sql: "SELECT raw FROM events WHERE source = '" + source.replace(/'/g, "''") + "' AND uid = '" + uid.replace(/'/g, "''") + "'" });
      if (r.rows.length) return prettyJson(r.rows[0].raw);
    } catch (e) { return errorBox(e); }
  }
  return prettyJson(row);
}
function drawHistogram(canvas, rows) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const times = rows.map(r => Date.parse(String(r["@timestamp"] || r.time || "").replace(" ", "T") + (/Z$|[+-]\d\d:?\d\d$/.test(String(r["@timestamp"] || r.time || "")) ? "" : "Z"))).filter(t => !isNaN(t));
  if (!times.length) { ctx.fillStyle = "#667085"; ctx.fillText("no times in these rows to chart", 10, 50); return; }
  const lo = Math.min(...times), hi = Math.max(...times) + 1, n = 60;
  const bins = new Array(n).fill(0);
  for (const t of times) bins[Math.min(n - 1, Math.floor((t - lo) / (hi - lo) * n))]++;
  const max = Math.max(...bins), w = canvas.width / n;
  ctx.fillStyle = "#2455c3";
  bins.forEach((b, i) => { const h = b / max * (canvas.height - 20); ctx.fillRect(i * w + 1, canvas.height - 14 - h, w - 2, h); });
  ctx.fillStyle = "#667085";
  ctx.fillText(new Date(lo).toISOString(), 4, canvas.height - 2);
  const endLabel = new Date(hi).toISOString();
  ctx.fillText(endLabel, canvas.width - ctx.measureText(endLabel).width - 4, canvas.height - 2);
}

// ---- findings ----------------------------------------------------------------
async function findingsPage(params) {
  const status = el("select", { id: "f-status" }, ["", "NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"].map(s => el("option", { value: s, selected: s === (params.get("status") || "") }, s || "any status")));
  const severity = el("select", { id: "f-severity" }, ["", "critical", "high", "medium", "low", "informational"].map(s => el("option", { value: s, selected: s === (params.get("severity") || "") }, s || "any severity")));
  const rule = el("input", { id: "f-rule", placeholder: "rule id or title", value: params.get("rule") || "" });
  const out = el("div", {});
  const load = () => {
    const p = new URLSearchParams();
    if (status.value) p.set("status", status.value);
    if (severity.value) p.set("severity", severity.value);
    if (rule.value) p.set("rule", rule.value);
    location.hash = "#/findings" + (p.toString() ? "?" + p : "");
  };
  main.replaceChildren(el("h1", {}, "Findings"),
    el("div", { class: "row" }, status, severity, rule, el("button", { onclick: load }, "Filter")), out);
  try {
    const p = new URLSearchParams(params);
    const r = await api("GET", "/api/findings?" + p);
    const rows = r.findings.map(f => ({ id: f.id, severity: f.severity, status: f.status, title: f.title, rule: f.rule_id, events: f.count, last_seen: f.last_seen, assignee: f.assignee }));
    const tbl = table(["severity", "status", "title", "rule", "events", "last_seen", "assignee", "id"], rows, {
      id: "findings-table", select: true,
      render: { severity: v => sev(v) },
      onclick: f => { location.hash = "#/finding/" + encodeURIComponent(f.id); },
    });
    const selected = () => [...tbl.querySelectorAll("input[type=checkbox]:checked")].map(c => rows[+c.dataset.i].id);
    const bulk = async (status) => {
      const ids = selected();
      if (!ids.length) return toast("Select findings first");
      try { const res = await api("POST", "/api/findings/bulk", { ids, status, note: "bulk from the console" }); toast(res.results.filter(x => x.ok).length + " of " + ids.length + " changed"); route(); }
      catch (e) { toast(e.message); }
    };
    const canWork = me && (me.role === "analyst" || me.role === "admin");
    out.replaceChildren(
      el("div", { class: "row" }, el("span", {}, rows.length + " finding(s)"),
        canWork ? el("button", { class: "secondary", id: "bulk-resolve", onclick: () => bulk("RESOLVED") }, "Resolve selected") : null,
        canWork ? el("button", { class: "secondary", id: "bulk-suppress", onclick: () => bulk("SUPPRESSED") }, "Suppress selected") : null),
      tbl);
  } catch (e) { out.replaceChildren(errorBox(e)); }
}

async function findingPage(id) {
  main.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  let r;
  try { r = await api("GET", "/api/findings/" + encodeURIComponent(id)); } catch (e) { main.replaceChildren(errorBox(e)); return; }
  const f = r.finding;
  const canWork = me && (me.role === "analyst" || me.role === "admin");
  const change = async (status) => {
    try { await api("POST", "/api/findings/" + encodeURIComponent(id) + "/status", { status, note: note.value || undefined }); toast("Finding " + status); findingPage(id); }
    catch (e) { toast(e.message); }
  };
  const note = el("textarea", { id: "note", placeholder: "note (recorded in the history)" });
  const assignee = el("input", { id: "assignee", placeholder: "assignee", value: f.assignee || "" });
  const ticket = f.enrichment && (f.enrichment.ticket || f.enrichment.github_issue);
  const timeline = el("div", { id: "finding-timeline" }, el("p", { class: "muted" }, "Loading events…"));
  main.replaceChildren(
    el("h1", {}, sev(f.severity), " ", f.title),
    el("div", { class: "row" }, el("span", { class: "badge", id: "status" }, f.status), el("span", { class: "muted" }, f.rule_id),
      el("span", { class: "muted" }, f.count + " event(s), " + f.first_seen + " → " + f.last_seen),
      ticket ? el("a", { href: String(ticket.url || ticket), target: "_blank", rel: "noopener" }, "Ticket") : null),
    canWork ? el("div", { class: "card" },
      el("div", { class: "row" },
        el("button", { id: "resolve", onclick: () => change("RESOLVED") }, "Resolve"),
        el("button", { class: "secondary", id: "suppress", onclick: () => change("SUPPRESSED") }, "Suppress"),
        el("button", { class: "secondary", id: "reopen", onclick: () => change("NEW") }, "Reopen"),
        assignee, el("button", { class: "secondary", onclick: async () => {
          try { await api("POST", "/api/findings/" + encodeURIComponent(id) + "/assign", { assignee: assignee.value }); toast("Assigned"); findingPage(id); } catch (e) { toast(e.message); } } }, "Assign")),
      note, el("div", { class: "row" }, el("button", { class: "secondary", id: "add-note", onclick: async () => {
        try { await api("POST", "/api/findings/" + encodeURIComponent(id) + "/notes", { text: note.value }); toast("Noted"); findingPage(id); } catch (e) { toast(e.message); } } }, "Add note"))) : null,
    el("div", { class: "grid" },
      el("div", { class: "card" }, el("h2", {}, "Entities"),
        el("ul", { class: "plain" }, (f.entities || []).map(e => el("li", {}, el("span", { class: "badge" }, e.kind), " ", entityLink(e.value))))),
      el("div", { class: "card" }, el("h2", {}, "Context"),
        el("ul", { class: "plain" }, (r.context || []).map(c => el("li", {}, c))),
        Object.keys(f.enrichment || {}).length ? el("details", {}, el("summary", {}, "Enrichment (JSON)"), prettyJson(f.enrichment)) : null),
      el("div", { class: "card" }, el("h2", {}, "History"),
        el("ul", { class: "plain", id: "history" }, (r.history || []).map(h => el("li", {}, el("span", { class: "muted" }, h.at + " "), h.actor + ": " + h.action + " " + (h.from_status || "") + (h.to_status ? " → " + h.to_status : "") + (h.detail ? " — " + h.detail : "")))))),
    el("h2", {}, "Timeline (its events, and what its entities did an hour either side)"), timeline);
  try {
    const t = await api("GET", "/api/findings/" + encodeURIComponent(id) + "/timeline");
    const cols = ["time", "source", "operation", "actor_user_name", "src_ip", "src_country", "status"];
    timeline.replaceChildren(table(cols, t.rows, { expand: row => prettyJson(row.raw), rowClass: row => row.in_finding ? "in-finding" : "",
      render: { actor_user_name: v => v ? entityLink(v) : "", src_ip: v => v ? entityLink(v) : "" } }));
  } catch (e) { timeline.replaceChildren(errorBox(e)); }
}

// ---- entity timeline -------------------------------------------------------------
async function timelinePage(params) {
  const entity = el("input", { id: "entity", placeholder: "user, ARN, access key id or IP", value: params.get("entity") || "", size: 50 });
  const range = rangePicker(params.get("since") || "");
  const out = el("div", { id: "timeline" });
  const go = () => { location.hash = "#/timeline?entity=" + encodeURIComponent(entity.value.trim()); };
  entity.addEventListener("keydown", e => { if (e.key === "Enter") go(); });
  main.replaceChildren(el("h1", {}, "Entity timeline"),
    el("div", { class: "row" }, entity, range.node, el("button", { onclick: go }, "Show")), out);
  if (!params.get("entity")) return;
  out.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  try {
    const p = new URLSearchParams(Object.assign({ entity: params.get("entity") }, range.value()));
    const r = await api("GET", "/api/timeline?" + p);
    const cols = ["time", "source", "operation", "actor_user_name", "src_ip", "src_country", "status", "findings"];
    out.replaceChildren(el("p", {}, r.rows.length + " event(s)" + (r.truncated ? " (cut)" : "")),
      table(cols, r.rows, {
        expand: row => prettyJson(row.raw), rowClass: row => row.findings ? "in-finding" : "",
        render: {
          findings: v => v ? el("span", {}, v.map(f => el("a", { href: "#/finding/" + encodeURIComponent(f.id), class: "badge" }, sev(f.severity), " ", f.title))) : "",
          actor_user_name: v => v ? entityLink(v) : "", src_ip: v => v ? entityLink(v) : "",
        },
      }));
  } catch (e) { out.replaceChildren(errorBox(e)); }
}

// ---- rules and sources -------------------------------------------------------------
async function rulesPage() {
  main.replaceChildren(el("h1", {}, "Rules"));
  try {
    const r = await api("GET", "/api/rules");
    const rows = r.rules.slice().sort((a, b) => b.hits - a.hits || a.title.localeCompare(b.title));
    main.append(el("p", {}, r.rules.length + " loaded, " + r.failed.length + " failed to load"),
      r.failed.length ? el("div", { class: "error", id: "rules-failed" }, r.failed.join("\n")) : null,
      table(["title", "level", "kind", "hits", "last_match", "id", "file"], rows, { id: "rules-table", render: { level: v => v ? sev(v) : "" } }));
  } catch (e) { main.append(errorBox(e)); }
}
async function sourcesPage() {
  main.replaceChildren(el("h1", {}, "Sources"));
  try {
    const r = await api("GET", "/api/sources");
    const mb = b => (b / 1048576).toFixed(2) + " MB";
    const rows = r.sources.map(s => Object.assign({}, s, { storage: mb(s.bytes), retention: s.retention_days ? s.retention_days + " d" : "forever",
      rate: s.rate_per_minute === null ? "" : s.rate_per_minute.toFixed(1) + "/min", lag: s.lag_seconds === null ? "" : s.lag_seconds.toFixed(1) + " s" }));
    main.append(el("p", {}, r.total.events + " events stored, " + mb(r.total.bytes)),
      table(["source", "events", "received_since_start", "rate", "last_arrival", "last_event", "lag", "silent", "storage", "retention"], rows, {
        id: "sources-table", render: { silent: v => v ? el("span", { class: "sev high" }, "silent") : "" } }));
  } catch (e) { main.append(errorBox(e)); }
}

// ---- routing ---------------------------------------------------------------
async function route() {
  const m = /#token=([^&]+)/.exec(location.hash);
  if (m) { sessionStorage.setItem("mamori.token", decodeURIComponent(m[1])); history.replaceState(null, "", "#/findings"); }
  const signedIn = !!token();
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("signout").hidden = !signedIn;
  if (!signedIn) { document.getElementById("who").textContent = ""; return signInPage(); }
  if (!me) {
    try { me = await api("GET", "/api/me"); } catch (e) { return signInPage(e.message); }
  }
  document.getElementById("who").textContent = me.name + " (" + me.role + ")";
  const [path, query] = (location.hash.slice(1) || "/findings").split("?");
  const params = new URLSearchParams(query || "");
  const page = path.split("/")[1] || "findings";
  document.querySelectorAll("#nav a").forEach(a => a.classList.toggle("active", a.dataset.page === page || (page === "finding" && a.dataset.page === "findings")));
  if (page === "search") return searchPage(params);
  if (page === "finding") return findingPage(decodeURIComponent(path.split("/")[2] || ""));
  if (page === "timeline") return timelinePage(params);
  if (page === "rules") return rulesPage();
  if (page === "sources") return sourcesPage();
  return findingsPage(params);
}
window.addEventListener("hashchange", route);
route();
