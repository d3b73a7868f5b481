// Long-polls /api/state and renders the current verdict. No framework, no network beyond the kiosk.
"use strict";
const HEADLINES = {
  PASS: ["Mời qua", "Please go ahead"],
  DENY: ["Dừng lại", "Stop"],
  REVIEW: ["Vui lòng gặp cán bộ", "Please see the officer"],
};
const $ = (id) => document.getElementById(id);
let version = -1;
let current = null;

function render(state) {
  current = state.current;
  $("officer").hidden = !state.assisted;
  const main = $("verdict");
  if (!current) {
    main.className = "idle";
    $("headline").textContent = "Vui lòng đưa mã QR vào camera";
    $("subline").textContent = "Please show your QR code to the camera";
    $("subject").hidden = true;
    return;
  }
  const [vi, en] = HEADLINES[current.outcome];
  main.className = current.outcome;
  $("headline").textContent = vi + " — " + current.message_vi;
  $("subline").textContent = en + " — " + current.message_en;
  const s = current.subject;
  $("subject").hidden = !s;
  if (s) {
    $("name").textContent = s.name || "—";
    $("dob").textContent = s.dob || "—";
    $("id_number").textContent = s.id_number || "—";
    $("reasons").textContent = current.reasons.join(", ");
  }
}

async function poll() {
  for (;;) {
    try {
      const r = await fetch("/api/state?since=" + version, { cache: "no-store" });
      const state = await r.json();
      version = state.version;
      render(state);
    } catch (e) {
      await new Promise((ok) => setTimeout(ok, 1000));
    }
  }
}

async function post(path, body, out) {
  const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                body: JSON.stringify(body) });
  const data = await r.json();
  $(out).textContent = r.ok ? data.message : data.error;
  return r.ok;
}

function officerAction(action, verdict) {
  const officer_id = $("officer_id").value.trim();
  if (!officer_id) { $("officer_result").textContent = "Nhập mã cán bộ · Enter your officer ID"; return; }
  if (!current) { $("officer_result").textContent = "Không có kết quả để xác nhận · Nothing to confirm"; return; }
  post("/api/officer", { officer_id, action, verdict, event_id: current.event_id }, "officer_result");
}

$("confirm").addEventListener("click", () => officerAction("confirm", null));
$("override_pass").addEventListener("click", () => officerAction("override", "PASS"));
$("override_deny").addEventListener("click", () => officerAction("override", "DENY"));
$("manual").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const officer_id = $("officer_id").value.trim();
  const form = new FormData(ev.target);
  post("/api/manual", { officer_id, id_number: form.get("id_number"), name: form.get("name"),
                        dob: form.get("dob") }, "manual_result");
});
poll();
