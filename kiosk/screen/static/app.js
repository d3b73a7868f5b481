// Long-polls /api/state and renders the current verdict. No framework, no network beyond the kiosk.
"use strict";
const HEADLINES = {
  PASS: ["Mời qua", "Please go ahead"],
  DENY: ["Dừng lại", "Stop"],
  REVIEW: ["Vui lòng gặp cán bộ", "Please see the officer"],
};
const DETAILS = ["name", "dob", "id_number", "reasons"];
const $ = (id) => document.getElementById(id);
let version = -1;
let current = null;

// The page is never scrolled (a kiosk screen has no scroll bar a citizen would find): a verdict with
// many reasons shrinks its text lines step by step, down to 60 %, until it fits the screen.
function fit() {
  const main = $("verdict");
  for (let scale = 1; scale >= 0.55; scale -= 0.1) {
    main.style.setProperty("--fit", scale.toFixed(1));
    if (main.scrollHeight <= main.clientHeight) return;
  }
}

function render(state) {
  show(state);
  fit();
}

function show(state) {
  current = state.current;
  $("officer").hidden = !state.assisted;
  const main = $("verdict");
  const s = current ? current.subject : null;
  // Personal details leave the page (not just the view) as soon as the kiosk stops showing them.
  $("subject").hidden = !s;
  for (const id of DETAILS) $(id).textContent = "";
  if (!current) {
    main.className = "idle";
    $("headline").textContent = "Vui lòng đưa mã QR vào camera";
    $("message").textContent = "";
    $("subline").textContent = "Please show your QR code to the camera";
    return;
  }
  const [vi, en] = HEADLINES[current.outcome];
  main.className = current.outcome;
  $("headline").textContent = vi;
  $("message").textContent = current.message_vi;
  $("subline").textContent = en + " — " + current.message_en;
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
  try {
    const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                  body: JSON.stringify(body) });
    const data = await r.json();
    $(out).textContent = r.ok ? data.message : data.error;
    // The officer's passage is what the screen shows now, even before the long poll brings it:
    // a second action right away (an override after a confirmation) must name it.
    if (r.ok && current && data.event_id) current.event_id = data.event_id;
    return r.ok;
  } catch (e) {
    $(out).textContent = "Không gửi được, vui lòng thử lại · Could not send, please try again";
    return false;
  }
}

function officerId(out) {
  const officer_id = $("officer_id").value.trim();
  if (!officer_id) {
    $(out).textContent = "Nhập mã cán bộ · Enter your officer ID";
    $("officer_id").focus();
  }
  return officer_id;
}

function officerAction(action, verdict) {
  const officer_id = officerId("officer_result");
  if (!officer_id) return;
  if (!current) { $("officer_result").textContent = "Không có kết quả để xác nhận · Nothing to confirm"; return; }
  post("/api/officer", { officer_id, action, verdict, event_id: current.event_id }, "officer_result");
}

$("confirm").addEventListener("click", () => officerAction("confirm", null));
$("override_pass").addEventListener("click", () => officerAction("override", "PASS"));
$("override_deny").addEventListener("click", () => officerAction("override", "DENY"));
$("manual").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const officer_id = officerId("manual_result");
  if (!officer_id) return;
  const form = ev.target;
  const fields = new FormData(form);
  const body = { officer_id, id_number: fields.get("id_number"), name: fields.get("name"), dob: fields.get("dob") };
  // Recorded: the citizen's details go from the form (they are on screen for the hold time only).
  if (await post("/api/manual", body, "manual_result")) form.reset();
});
window.addEventListener("resize", fit);
poll();
