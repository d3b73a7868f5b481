// Operators' dashboard: plain JavaScript, no framework, no CDN (hubs may run offline).
// Every value from the server goes in with textContent, never innerHTML.
"use strict";
const API = "/api/v1";
const T = {
  vi: {
    title: "Bảng điều khiển trạm kiểm soát", login: "Đăng nhập", logout: "Đăng xuất", username: "Tên đăng nhập",
    password: "Mật khẩu", fleet: "Thiết bị", passages: "Lượt qua", flags: "Cờ F0/F1", trace: "Truy vết",
    reports: "Báo cáo", kiosk: "Kiosk", checkpoint: "Điểm kiểm soát", state: "Trạng thái", last_heard: "Lần cuối",
    software: "Phần mềm", flags_version: "Phiên bản cờ", backlog: "Tồn đọng", clock: "Đồng hồ", time: "Thời gian",
    person: "Người", verdict: "Kết quả", reasons: "Lý do", id_number: "Số định danh (12 số)", status: "Mức",
    note: "Ghi chú", add_flag: "Gắn cờ", search: "Tìm", since: "Từ", source: "Nguồn", version: "Phiên bản",
    actions: "Thao tác", lift: "Gỡ cờ", from: "Từ ngày", to: "Đến ngày", window: "Cửa sổ (phút)",
    run_trace: "Truy vết", where: "Nơi và thời điểm đi qua",
    contacts: "Người đi qua cùng điểm trong cửa sổ (F1 tiềm năng)", name: "Họ tên", gap: "Cách (phút)",
    date: "Ngày", show: "Xem", csv: "Tải CSV", total: "Tổng", online: "trực tuyến", offline: "ngoại tuyến",
    stale: "mất liên lạc", trusted: "đúng", untrusted: "chưa tin cậy", none: "Không có dữ liệu",
    masked: "Tên được ẩn và số định danh chỉ hiện 4 số cuối; dùng Truy vết để tìm một người.",
    audited: "Mọi truy vấn truy vết được ghi vào nhật ký kiểm toán cùng tên người tra cứu.",
    added: "Đã gắn cờ, phiên bản ", lifted: "Đã gỡ cờ, phiên bản ", bad_login: "Sai tên đăng nhập hoặc mật khẩu",
    too_many: "Đăng nhập sai quá nhiều lần. Thử lại sau {s} giây.",
    forbidden: "Tài khoản của bạn không có quyền này", other_lang: "English", per_hour: "Theo giờ",
    audit: "Nhật ký kiểm toán", action: "Hành động", who: "Người thực hiện", detail: "Chi tiết", all: "Tất cả",
    rules: "Quy định y tế", rule: "Quy định", cert_type: "Loại chứng nhận", valid_from: "Hiệu lực từ",
    valid_to: "Đến", description: "Mô tả", rules_version: "Phiên bản bộ quy định ",
  },
  en: {
    title: "Checkpoint dashboard", login: "Log in", logout: "Log out", username: "Username", password: "Password",
    fleet: "Kiosks", passages: "Passages", flags: "Flags", trace: "Trace", reports: "Reports", kiosk: "Kiosk",
    checkpoint: "Checkpoint", state: "State", last_heard: "Last heard", software: "Software",
    flags_version: "Flag list", backlog: "Backlog", clock: "Clock", time: "Time", person: "Person",
    verdict: "Verdict", reasons: "Reasons", id_number: "ID number (12 digits)", status: "Status", note: "Note",
    add_flag: "Add flag", search: "Search", since: "Since", source: "Source", version: "Version",
    actions: "Actions", lift: "Lift", from: "From", to: "To", window: "Window (minutes)", run_trace: "Trace",
    where: "Where and when they passed", contacts: "Who passed the same checkpoint within the window (F1 candidates)",
    name: "Name", gap: "Gap (min)", date: "Date", show: "Show", csv: "Download CSV", total: "Total",
    online: "online", offline: "offline", stale: "stale", trusted: "ok", untrusted: "not trusted",
    none: "No data", masked: "Names hidden, id numbers show the last 4 digits; use Trace to find a person.",
    audited: "Every trace query is written to the audit log with who asked.", added: "Flag added, version ",
    lifted: "Flag lifted, version ", bad_login: "Wrong username or password",
    too_many: "Too many failed logins. Try again in {s} seconds.",
    forbidden: "Your account does not have this right", other_lang: "Tiếng Việt", per_hour: "By hour",
    audit: "Audit log", action: "Action", who: "Who", detail: "Detail", all: "All",
    rules: "Health rules", rule: "Rule", cert_type: "Certificate type", valid_from: "Valid from",
    valid_to: "Valid to", description: "Description", rules_version: "Rule set version ",
  },
};
const ROLES = ["viewer", "operator", "admin"];
let lang = localStorage.getItem("lang") || "vi";
let me = null;
let current = "fleet";
let timer = null;
const $ = (id) => document.getElementById(id);
const t = (key) => (T[lang][key] ?? key);

function applyLanguage() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  $("lang").textContent = t("other_lang");
  document.title = t("title");
}

async function api(path, options = {}) {
  const response = await fetch(API + path, {
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    ...options,
  });
  if (response.status === 401 && path !== "/login") { showLogin(); throw new Error("401"); }
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const detail = body && body.detail;
    const text = response.status === 403 ? t("forbidden")
      : Array.isArray(detail) ? detail.map((d) => d.msg).join("; ") : (detail || response.statusText);
    const error = new Error(text);
    error.status = response.status;
    error.retryAfter = response.headers.get("Retry-After");
    throw error;
  }
  return body;
}

function say(text, isError = false) {
  const m = $("message");
  m.textContent = text;
  m.className = isError ? "error" : "";
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function fill(tableId, rows, render) {
  const body = document.querySelector(`#${tableId} tbody`);
  body.replaceChildren();
  if (!rows.length) {
    const tr = body.insertRow();
    const td = cell(tr, t("none"));
    td.colSpan = document.querySelectorAll(`#${tableId} thead th`).length;
    return;
  }
  for (const r of rows) { const tr = body.insertRow(); render(tr, r); }
}

const localTime = (iso) => (iso ? new Date(iso).toLocaleString(lang === "vi" ? "vi-VN" : "en-GB") : "");

async function loadFleet() {
  const rows = await api("/kiosks");
  fill("fleet-table", rows, (tr, k) => {
    cell(tr, k.kiosk_id);
    cell(tr, k.checkpoint_id);
    const state = k.stale ? "stale" : (k.online ? "online" : "offline");
    cell(tr, t(state), state);
    cell(tr, localTime(k.last_heard));
    cell(tr, k.software);
    cell(tr, k.flags_version);
    cell(tr, k.backlog);
    cell(tr, k.clock_trusted === false ? t("untrusted") : (k.clock_trusted ? t("trusted") : ""),
      k.clock_trusted === false ? "stale" : "");
  });
}

async function loadPassages() {
  const rows = await api("/passages?limit=50");
  fill("passages-table", rows, (tr, p) => {
    cell(tr, localTime(p.scanned_at));
    cell(tr, p.checkpoint_id);
    cell(tr, p.kiosk_id);
    cell(tr, p.subject);
    cell(tr, p.verdict, `v-${p.verdict}`);
    cell(tr, p.reasons.join(", "));
  });
}

async function loadFlags() {
  const q = $("flag-q").value.trim();
  const rows = await api("/flags" + (q ? `?search=${encodeURIComponent(q)}` : ""));
  fill("flags-table", rows, (tr, f) => {
    cell(tr, f.target);
    cell(tr, f.status, "v-DENY");
    cell(tr, localTime(f.starts_at));
    cell(tr, f.source);
    cell(tr, f.version);
    const td = cell(tr, "");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = `${t("lift")} ${f.target}`;
    button.addEventListener("click", async () => {
      try {
        const r = await api("/flags/lift", { method: "POST", body: JSON.stringify({ target: f.target, target_kind: f.target_kind }) });
        say(t("lifted") + r.version);
        await loadFlags();
      } catch (e) { say(e.message, true); }
    });
    td.appendChild(button);
  });
}

async function runTrace(event) {
  event.preventDefault();
  const id = $("trace-id").value.trim();
  const from = new Date($("trace-from").value + "T00:00:00").toISOString();
  const to = new Date($("trace-to").value + "T23:59:59").toISOString();
  const q = `id=${id}&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
  try {
    const person = await api(`/trace/person?${q}`);
    fill("trace-table", person, (tr, p) => {
      cell(tr, localTime(p.scanned_at)); cell(tr, p.checkpoint_id); cell(tr, p.verdict, `v-${p.verdict}`);
    });
    const contacts = await api(`/trace/contacts?${q}&window_minutes=${$("trace-window").value}`);
    fill("contacts-table", contacts, (tr, c) => {
      cell(tr, c.subject_id); cell(tr, c.subject_name); cell(tr, c.checkpoint_id);
      cell(tr, localTime(c.their_passage)); cell(tr, Math.round(c.gap_s / 60));
    });
    say("");
  } catch (e) { say(e.message, true); }
}

const SVG = "http://www.w3.org/2000/svg";
function chart(day) {
  // Stacked bars per local hour: PASS, REVIEW, DENY. The numbers are also in the table beside it.
  const width = 24 * 22 + 40, height = 160, base = 130;
  const max = Math.max(1, ...Object.values(day.hours).map((h) => h.PASS + h.DENY + h.REVIEW));
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${t("per_hour")}: ${day.checkpoint_id}`);
  for (let hour = 0; hour < 24; hour++) {
    const h = day.hours[String(hour).padStart(2, "0")] || { PASS: 0, DENY: 0, REVIEW: 0 };
    let y = base;
    for (const v of ["PASS", "REVIEW", "DENY"]) {
      const size = (h[v] / max) * 110;
      if (!size) continue;
      const rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("x", 30 + hour * 22); rect.setAttribute("width", 18);
      rect.setAttribute("y", y - size); rect.setAttribute("height", size);
      rect.setAttribute("class", v);
      const title = document.createElementNS(SVG, "title");
      title.textContent = `${hour}h ${v}: ${h[v]}`;
      rect.appendChild(title);
      svg.appendChild(rect);
      y -= size;
    }
    if (hour % 3 === 0) {
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", 30 + hour * 22); label.setAttribute("y", base + 16);
      label.textContent = `${hour}h`;
      svg.appendChild(label);
    }
  }
  return svg;
}

async function loadReport(event) {
  if (event) event.preventDefault();
  const date = $("report-date").value;
  $("report-csv").href = `${API}/reports/daily?date=${date}&format=csv`;
  $("report-csv").setAttribute("download", `report-${date}.csv`);
  const days = await api(`/reports/daily?date=${date}`);
  const box = $("report-body");
  box.replaceChildren();
  if (!days.length) { box.textContent = t("none"); return; }
  for (const d of days) {
    const h = document.createElement("h3");
    h.textContent = `${d.checkpoint_id} — ${t("total")}: ${d.total}`;
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const k of ["PASS", "DENY", "REVIEW", ...Object.keys(d.reasons)]) {
      const th = document.createElement("th"); th.textContent = k; head.appendChild(th);
    }
    const row = table.createTBody().insertRow();
    for (const k of ["PASS", "DENY", "REVIEW"]) cell(row, d.verdicts[k]);
    for (const n of Object.values(d.reasons)) cell(row, n);
    box.append(h, chart(d), table);
  }
}

async function loadAudit(event) {
  if (event) event.preventDefault();
  const action = $("audit-action").value;
  const rows = await api("/audit?limit=200" + (action ? `&action=${encodeURIComponent(action)}` : ""));
  fill("audit-table", rows, (tr, a) => {
    cell(tr, localTime(a.at)); cell(tr, a.actor); cell(tr, a.action); cell(tr, JSON.stringify(a.detail));
  });
}

async function loadRules() {
  const data = await api("/rules");
  $("rules-version").textContent = data.version ? t("rules_version") + data.version : t("none");
  fill("rules-table", data.rules, (tr, r) => {
    cell(tr, `${r.identifier} ${r.version}`); cell(tr, r.certificate_type); cell(tr, localTime(r.valid_from));
    cell(tr, localTime(r.valid_to)); cell(tr, lang === "vi" ? r.description_vi : r.description_en);
  });
}

const LOADERS = {
  rules: loadRules, fleet: loadFleet, passages: loadPassages, flags: loadFlags, reports: loadReport, audit: loadAudit, trace: null,
};

function show(view) {
  current = view;
  document.querySelectorAll(".view").forEach((s) => { s.hidden = s.id !== `view-${view}`; });
  document.querySelectorAll(".tab").forEach((b) => {
    if (b.dataset.view === view) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
  });
  refresh();
}

async function refresh() {
  const load = LOADERS[current];
  if (!load) return;
  try { await load(); } catch (e) { if (e.message !== "401") say(e.message, true); }
}

function showLogin() {
  me = null;
  clearInterval(timer);
  $("app").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
  $("login-view").hidden = false;
  $("username").focus();
}

function showApp(user) {
  me = user;
  $("login-view").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  $("who").textContent = `${user.username} (${user.role})`;
  document.querySelectorAll("[data-role]").forEach((el) => {
    el.hidden = ROLES.indexOf(user.role) < ROLES.indexOf(el.dataset.role);
  });
  show("fleet");
  clearInterval(timer);
  timer = setInterval(() => { if (current === "fleet" || current === "passages") refresh(); }, 5000);
}

function today() { const d = new Date(); d.setMinutes(d.getMinutes() - d.getTimezoneOffset()); return d.toISOString().slice(0, 10); }

document.addEventListener("DOMContentLoaded", async () => {
  applyLanguage();
  $("report-date").value = today();
  $("trace-to").value = today();
  $("trace-from").value = new Date(Date.now() - 14 * 86400e3).toISOString().slice(0, 10);
  $("lang").addEventListener("click", () => {
    lang = lang === "vi" ? "en" : "vi"; localStorage.setItem("lang", lang); applyLanguage(); refresh();
  });
  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const user = await api("/login", { method: "POST", body: JSON.stringify({ username: $("username").value, password: $("password").value }) });
      $("password").value = "";
      $("login-error").textContent = "";
      showApp(user);
    } catch (err) {
      // 429: the hub's login backoff (hub/login_guard.py) says how long to wait.
      $("login-error").textContent = err.status === 429 ? t("too_many").replace("{s}", err.retryAfter || "?")
        : t("bad_login");
    }
  });
  $("logout").addEventListener("click", async () => { await api("/logout", { method: "POST" }).catch(() => {}); showLogin(); });
  document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () => show(b.dataset.view)));
  $("flag-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const r = await api("/flags", { method: "POST", body: JSON.stringify({ target: $("flag-target").value.trim(), status: $("flag-status").value, note: $("flag-note").value || null }) });
      say(t("added") + r.version);
      $("flag-target").value = ""; $("flag-note").value = "";
      await loadFlags();
    } catch (err) { say(err.message, true); }
  });
  $("flag-search").addEventListener("submit", (e) => { e.preventDefault(); refresh(); });
  $("trace-form").addEventListener("submit", runTrace);
  $("report-form").addEventListener("submit", loadReport);
  $("audit-form").addEventListener("submit", (e) => { loadAudit(e).catch((err) => say(err.message, true)); });
  try { showApp(await api("/me")); } catch (e) { showLogin(); }
});
