// The page: controls <-> state <-> URL, the WebSocket to this tab's session, and the
// views. The server owns the network; this file only sends settings and draws frames.
import { NetView } from "./net.js";
import { drawCurves, drawFlow, drawPoints, paintPicture } from "./draw.js";

const FEATURE_LABELS = { "x1": "x₁", "x2": "x₂", "x1^2": "x₁²", "x2^2": "x₂²", "x1*x2": "x₁x₂", "sin(x1)": "sin x₁", "sin(x2)": "sin x₂" };
const LR_CHOICES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const REG_CHOICES = [0, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const $ = (id) => document.getElementById(id);

const page = {
  schema: null, state: null, setup: null, frame: null, body: null,
  ws: null, playing: false, pendingHeader: null, series: [], explainTarget: null,
  uploads: {}, lastConfig: null, framesSeen: 0,
};
window.playground = page; // for tests and the curious: the latest frame and setup

// ---------------------------------------------------------------- state and URL
function readUrlState() {
  const q = new URLSearchParams(location.search);
  const out = {};
  for (const [k, v] of q) if (k !== "token") out[k] = v;
  return out;
}

function parseValue(key, raw) {
  const spec = page.schema.keys[key];
  if (spec.kind === "int") return parseInt(raw, 10);
  if (spec.kind === "float") return parseFloat(raw);
  if (spec.kind === "list") return String(raw).split(",").filter(Boolean);
  if (spec.kind === "ints") return String(raw).split(",").filter(Boolean).map(Number);
  return String(raw);
}

function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

function writeUrl() {
  const q = new URLSearchParams();
  for (const [k, spec] of Object.entries(page.schema.keys)) {
    const v = page.state[k];
    if (v === undefined || same(v, spec.default)) continue;
    q.set(k, Array.isArray(v) ? v.join(",") : String(v));
  }
  const text = q.toString().replace(/%2C/g, ",");
  history.replaceState(null, "", text ? `?${text}` : location.pathname);
}

export function shareUrl() {
  return location.origin + location.pathname + location.search;
}

// ---------------------------------------------------------------- controls
function fillSelect(el, values, labels = null) {
  el.innerHTML = "";
  values.forEach((v, i) => {
    const o = document.createElement("option");
    o.value = String(v); o.textContent = labels ? labels[i] : String(v);
    el.appendChild(o);
  });
}

function buildControls() {
  const keys = page.schema.keys;
  const tiles = $("datasets");
  for (const [name, info] of Object.entries(page.schema.datasets)) {
    if (name === "csv") continue;
    const b = document.createElement("button");
    b.className = "tile"; b.dataset.value = name;
    b.innerHTML = `<canvas width="44" height="44"></canvas><span>${info.label.replace(" (regression)", "")}</span>`;
    if (info.task === "regression") b.classList.add("regression");
    b.title = info.label;
    b.addEventListener("click", () => change({ data: name }));
    tiles.appendChild(b);
    drawTileIcon(b.querySelector("canvas"), name);
  }
  const feats = $("features");
  for (const f of keys.features.choices) {
    const b = document.createElement("button");
    b.className = "feature"; b.dataset.value = f; b.textContent = FEATURE_LABELS[f];
    b.addEventListener("click", () => {
      const cur = new Set(page.state.features);
      if (cur.has(f)) cur.delete(f); else cur.add(f);
      if (cur.size === 0) return toast("keep at least one feature");
      change({ features: keys.features.choices.filter((c) => cur.has(c)) });
    });
    feats.appendChild(b);
  }
  fillSelect($("act"), keys.act.choices);
  fillSelect($("init"), keys.init.choices);
  fillSelect($("loss"), keys.loss.choices);
  fillSelect($("opt"), keys.opt.choices);
  fillSelect($("lr"), LR_CHOICES);
  for (const id of ["l1", "l2", "wd"]) fillSelect($(id), REG_CHOICES);
  for (const id of ["act", "init", "loss", "opt"]) $(id).addEventListener("change", (e) => change({ [id]: e.target.value }));
  for (const id of ["lr", "l1", "l2", "wd"]) $(id).addEventListener("change", (e) => change({ [id]: parseFloat(e.target.value) }));
  for (const id of ["test", "noise", "n"]) {
    const el = $(id);
    el.addEventListener("input", () => { el.nextElementSibling.textContent = el.value; });
    el.addEventListener("change", () => change({ [id]: parseValue(id, el.value) }));
  }
  for (const id of ["seed", "batch", "scale"]) $(id).addEventListener("change", (e) => {
    const v = parseValue(id, e.target.value);
    if (Number.isFinite(v)) change({ [id]: v });
  });
  $("reseed").addEventListener("click", () => change({ seed: Math.floor(Math.random() * 100000) }));
  $("add-layer").addEventListener("click", () => {
    const layers = [...page.state.layers];
    if (layers.length >= 6) return toast("at most 6 hidden layers");
    layers.push(layers.length ? layers[layers.length - 1] : 4);
    change({ layers });
  });
  $("remove-layer").addEventListener("click", () => change({ layers: page.state.layers.slice(0, -1) }));
  $("play").addEventListener("click", togglePlay);
  $("step").addEventListener("click", () => { setPlaying(false); send({ type: "step", steps: 1 }); });
  $("reset").addEventListener("click", () => { setPlaying(false); resetSeries(); send({ type: "reset" }); });
  const speed = $("speed");
  speed.addEventListener("input", () => { $("speed-out").textContent = speed.value; });
  speed.addEventListener("change", () => {
    page.state.speed = parseInt(speed.value, 10); writeUrl();
    send({ type: "speed", steps: page.state.speed });
  });
  $("show-test").addEventListener("change", redrawHeat);
  $("heat").addEventListener("click", pickExample);
  $("discretize").addEventListener("change", () => { redrawHeat(); if (page.frame) net.update(page.frame, page.body, $("discretize").checked); });
  $("share").addEventListener("click", share);
  $("export").addEventListener("click", () => send({ type: "export" }));
  $("export-close").addEventListener("click", () => $("export-box").classList.add("hidden"));
  $("explain-close").addEventListener("click", () => { $("explain").classList.add("hidden"); page.explainTarget = null; net.select(null); redrawHeat(); });
  $("example").addEventListener("change", () => {
    page.example = parseInt($("example").value || "0", 10);
    if (page.explainTarget) requestExplain(page.explainTarget);
  });
  $("upload").addEventListener("change", uploadFile);
  for (const id of ["cx", "cy", "label"]) $(id).addEventListener("change", (e) => change({ [id]: parseInt(e.target.value, 10) }));
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
    if (e.code === "Space") { e.preventDefault(); togglePlay(); }
  });
}

function drawTileIcon(canvas, name) {
  // a tiny sketch of each data set for its button (decoration, not data)
  const g = canvas.getContext("2d");
  g.fillStyle = "#f4f6f8"; g.fillRect(0, 0, 44, 44);
  const dot = (x, y, c) => { g.fillStyle = c; g.beginPath(); g.arc(22 + x * 18, 22 - y * 18, 2, 0, 7); g.fill(); };
  const O = "#f59322", B = "#0877bd";
  let s = 7;
  const rnd = () => { s = (s * 16807) % 2147483647; return s / 2147483647; };
  for (let i = 0; i < 70; i++) {
    const u = rnd() * 2 - 1, v = rnd() * 2 - 1, t = rnd() * Math.PI * 2, r = rnd();
    if (name === "circles") { if (i % 2) dot(0.45 * r * Math.cos(t), 0.45 * r * Math.sin(t), B); else dot((0.75 + 0.2 * r) * Math.cos(t), (0.75 + 0.2 * r) * Math.sin(t), O); }
    else if (name === "xor") dot(u, v, u * v > 0 ? B : O);
    else if (name === "blobs") { const c = i % 2 ? 0.5 : -0.5; dot(c + u * 0.3, c + v * 0.3, i % 2 ? B : O); }
    else if (name === "spirals") { const q = i / 70, a = 2 * Math.PI * 1.75 * q + (i % 2) * Math.PI; dot(q * Math.sin(a), q * Math.cos(a), i % 2 ? B : O); }
    else if (name === "moons") { const a = r * Math.PI; if (i % 2) dot(Math.cos(a) - 0.5, Math.sin(a) - 0.25, O); else dot(0.5 - Math.cos(a), 0.25 - Math.sin(a), B); }
    else if (name === "plane") dot(u, v, (u + v) > 0 ? B : O);
    else if (name === "gaussians") dot(u, v, (u * v < 0) ? B : O);
  }
}

function showState() {
  const s = page.state, keys = page.schema.keys;
  document.querySelectorAll("#datasets .tile").forEach((b) => b.classList.toggle("active", b.dataset.value === s.data));
  document.querySelectorAll("#features .feature").forEach((b) => b.classList.toggle("active", s.features.includes(b.dataset.value)));
  for (const id of ["act", "init", "loss", "opt"]) $(id).value = s[id];
  for (const id of ["lr", "l1", "l2", "wd"]) {
    const el = $(id);
    if (![...el.options].some((o) => parseFloat(o.value) === s[id])) {
      const o = document.createElement("option"); o.value = String(s[id]); o.textContent = String(s[id]); el.appendChild(o);
    }
    el.value = [...el.options].find((o) => parseFloat(o.value) === s[id]).value;
  }
  for (const id of ["test", "noise", "n"]) { $(id).value = s[id]; $(id).nextElementSibling.textContent = s[id]; }
  $("seed").value = s.seed; $("batch").value = s.batch; $("scale").value = s.scale;
  $("scale-box").classList.toggle("hidden", !["normal", "uniform", "constant"].includes(s.init));
  $("speed").value = s.speed; $("speed-out").textContent = s.speed;
  const regression = page.schema.datasets[s.data].task === "regression";
  $("loss").disabled = regression;
  $("net-shape").textContent = "";
  for (const group of page.schema.groups) {
    const hide = s.hide.includes(group);
    document.querySelectorAll(`[data-group="${group}"]`).forEach((el) => el.classList.toggle("hidden", hide));
  }
  $("csv-columns").classList.toggle("hidden", s.data !== "csv");
  for (const k of Object.keys(keys)) if (!(k in s)) s[k] = keys[k].default;
}

function change(patch) {
  setPlaying(false);
  page.state = { ...page.state, ...patch };
  if (patch.data && patch.data !== "csv") page.state.upload = "";
  showState(); writeUrl(); resetSeries();
  send({ type: "config", state: page.state });
}

// ---------------------------------------------------------------- CSV upload
async function uploadFile(e) {
  const file = e.target.files[0];
  if (!file) return;
  const msg = $("upload-msg");
  msg.textContent = "checking…"; msg.className = "msg";
  const res = await fetch(`/api/upload?name=${encodeURIComponent(file.name)}`, { method: "POST", body: file, credentials: "same-origin" });
  const info = await res.json();
  if (!res.ok) { msg.textContent = info.error; msg.className = "msg bad"; e.target.value = ""; return; }
  page.uploads[info.id] = info;
  msg.textContent = `${info.name}: ${info.rows} rows, ${info.task}`;
  const cols = info.columns.map((c, j) => [j, c]);
  fillSelect($("cx"), cols.map((c) => c[0]), cols.map((c) => c[1]));
  fillSelect($("cy"), cols.map((c) => c[0]), cols.map((c) => c[1]));
  fillSelect($("label"), cols.map((c) => c[0]), cols.map((c) => c[1]));
  const last = info.columns.length - 1;
  $("cx").value = "0"; $("cy").value = "1"; $("label").value = String(last);
  change({ data: "csv", upload: info.id, cx: 0, cy: 1, label: last });
}

// ---------------------------------------------------------------- the socket
function connect() {
  const token = page.token;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ""}`);
  ws.binaryType = "arraybuffer";
  page.ws = ws;
  ws.onopen = () => send({ type: "config", state: page.state });
  ws.onmessage = (ev) => onMessage(ev.data);
  ws.onclose = () => { setPlaying(false); showError("the connection to the playground server closed; restart `chainrule playground` and reload"); };
}

function send(msg) {
  if (page.ws && page.ws.readyState === 1) page.ws.send(JSON.stringify(msg));
}

function onMessage(data) {
  if (data instanceof ArrayBuffer) {
    if (!page.pendingHeader) return;
    page.frame = page.pendingHeader; page.body = new Uint8Array(data); page.pendingHeader = null;
    onFrame();
    return;
  }
  const msg = JSON.parse(data);
  if (msg.type === "frame") page.pendingHeader = msg;
  else if (msg.type === "setup") onSetup(msg);
  else if (msg.type === "explanation") showExplanation(msg);
  else if (msg.type === "export") showExport(msg);
  else if (msg.type === "stopped") setPlaying(false);
  else if (msg.type === "error") showError(msg.message);
}

// ---------------------------------------------------------------- views
const net = new NetView($("net"), {
  onUnit: (layer, unit) => requestExplain({ what: "unit", layer, unit }),
  onWeight: (layer, to, from) => requestExplain({ what: "weight", layer, to, from }),
  onWidth: (layer, delta) => {
    const layers = [...page.state.layers];
    layers[layer - 1] = Math.max(1, Math.min(16, layers[layer - 1] + delta));
    change({ layers });
  },
});

function onSetup(setup) {
  hideError();
  page.setup = setup;
  page.state = { ...page.state, ...setup.state };
  showState(); writeUrl();
  net.build(setup, setup.features.map((f) => FEATURE_LABELS[f]), !page.state.hide.includes("network"));
  const n = 50;
  net.paintInputs(setup.feature_pictures.map((b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))), n);
  $("net-shape").textContent = setup.sizes.join("–") + ` · ${setup.activation}`;
  $("out-kind").textContent = setup.task === "regression" ? "regression surface ŷ(x₁, x₂)" : setup.n_classes > 2 ? "class map" : "P(class 1) over the plane";
  $("acc-box").classList.toggle("hidden", setup.task === "regression");
  $("example").max = String(setup.train_rows.length - 1);
  resetSeries();
}

function resetSeries() { page.series = []; }

// Frames can arrive faster than a busy machine paints: keep every loss for the curves,
// but draw only the newest frame, once per animation frame.
function onFrame() {
  const f = page.frame;
  page.framesSeen++;
  const loss = f.losses || {};
  page.series.push({ epoch: f.epoch, train: loss.train_loss ?? null, test: loss.test_loss ?? null });
  if (page.series.length > 2000) page.series = page.series.filter((_, i) => i % 2 === 0);
  if (!page.drawPending) { page.drawPending = true; requestAnimationFrame(render); }
}

function render() {
  page.drawPending = false;
  const f = page.frame;
  const loss = f.losses || {};
  $("epoch").textContent = f.epoch.toFixed(f.epoch === Math.round(f.epoch) ? 0 : 2);
  $("stepcount").textContent = f.step;
  $("train-loss").textContent = fmt(loss.train_loss);
  $("test-loss").textContent = fmt(loss.test_loss);
  $("test-acc").textContent = loss.test_accuracy == null ? "–" : `${(100 * loss.test_accuracy).toFixed(1)}%`;
  redrawHeat();
  net.update(f, page.body, $("discretize").checked);
  drawCurves($("curves"), page.series);
  drawFlow($("flow"), f.layers);
  showFindings(f);
  if (!f.running) setPlaying(false);
  document.body.dataset.step = String(f.step);
}

function fmt(v) { return v == null ? "NaN" : v.toFixed(4); }

function redrawHeat() {
  const f = page.frame, s = page.setup;
  if (!f || !s) return;
  const canvas = $("heat"), n = f.grid, pics = f.pictures;
  const discretize = $("discretize").checked;
  if (pics[0].kind === "class") paintPicture(canvas, page.body.subarray(0, n * n), n, { classes: pics[0].classes, confidence: page.body.subarray(n * n, 2 * n * n), discretize });
  else paintPicture(canvas, page.body.subarray(0, n * n), n, { discretize });
  drawPoints(canvas, s, $("show-test").checked);
  if (page.explainTarget || page.example !== undefined) {
    const i = parseInt($("example").value || "0", 10), p = s.points[s.train_rows[i]];
    if (p) {
      const g = canvas.getContext("2d"), [x0, x1, y0, y1] = s.box;
      const x = ((p[0] - x0) / (x1 - x0)) * canvas.width, y = ((y1 - p[1]) / (y1 - y0)) * canvas.height;
      g.beginPath(); g.arc(x, y, 8, 0, 2 * Math.PI); g.lineWidth = 2.5; g.strokeStyle = "#14202b"; g.stroke();
    }
  }
  const legend = $("legend");
  if (s.task === "regression") legend.innerHTML = `<span class="neg">−${s.value_scale.toFixed(2)}</span><span class="bar"></span><span class="pos">+${s.value_scale.toFixed(2)}</span>`;
  else if (s.n_classes === 2) legend.innerHTML = `<span class="neg">class ${s.classes ? s.classes[0] : 0}</span><span class="bar"></span><span class="pos">class ${s.classes ? s.classes[1] : 1}</span>`;
  else legend.innerHTML = `${s.n_classes} classes`;
}

function showFindings(f) {
  const box = $("findings");
  const items = [];
  if (f.stop_reason) items.push({ severity: "error", kind: "stopped", message: f.stop_reason, evidence: "", suggestion: "" });
  for (const x of f.findings) items.push(x);
  const key = JSON.stringify(items.map((x) => [x.kind, x.severity, x.message]));
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.innerHTML = "";
  for (const x of items) {
    const div = document.createElement("div");
    div.className = `finding ${x.severity}`;
    div.dataset.kind = x.kind;
    div.innerHTML = `<div class="head"><span class="sev">${x.severity}</span> <b>${esc(x.kind)}</b></div><div>${esc(x.message)}</div>` +
      (x.evidence ? `<div class="ev">${esc(x.evidence)}</div>` : "") + (x.suggestion ? `<div class="sug">→ ${esc(x.suggestion)}</div>` : "");
    box.appendChild(div);
  }
}

function esc(s) { return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]); }

// ---------------------------------------------------------------- play / explain / export
function setPlaying(on) {
  page.playing = on;
  $("play").textContent = on ? "❚❚" : "▶";
  $("play").classList.toggle("playing", on);
  document.body.dataset.playing = on ? "1" : "0";
}

function togglePlay() {
  if (page.playing) { setPlaying(false); send({ type: "pause" }); }
  else if (page.frame && !page.frame.running) toast("training stopped; reset to start again");
  else { setPlaying(true); send({ type: "speed", steps: page.state.speed }); send({ type: "play" }); }
}

function pickExample(ev) {
  const s = page.setup;
  if (!s) return;
  const canvas = $("heat"), r = canvas.getBoundingClientRect();
  const [x0, x1, y0, y1] = s.box;
  const px = x0 + ((ev.clientX - r.left) / r.width) * (x1 - x0);
  const py = y1 - ((ev.clientY - r.top) / r.height) * (y1 - y0);
  let best = -1, bestD = Infinity;
  s.train_rows.forEach((row, i) => {
    const p = s.points[row], d = (p[0] - px) ** 2 + (p[1] - py) ** 2;
    if (d < bestD) { bestD = d; best = i; }
  });
  if (best < 0) return;
  $("example").value = String(best);
  page.example = best;
  redrawHeat();
  if (page.explainTarget) requestExplain(page.explainTarget);
  else toast(`training example ${best} chosen: click a unit or a weight`);
}

function requestExplain(target) {
  setPlaying(false);
  page.explainTarget = target;
  net.select(target.what, target.layer, target.what === "unit" ? target.unit : target.to, target.from);
  // until the user picks one, the server explains the example the network gets most wrong
  const example = page.example === undefined ? -1 : parseInt($("example").value || "0", 10);
  send({ type: "explain", ...target, example });
}

function num(v) {
  if (v === null || v === undefined) return "";
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(4) : v.toPrecision(5);
}

function showExplanation(x) {
  $("explain").classList.remove("hidden");
  $("example").value = String(x.example);
  $("explain-title").textContent = x.title;
  const t = x.target;
  $("example-info").textContent = `at (${t.point.map((v) => v.toFixed(2)).join(", ")}), target ${num(t.y)}, loss ${num(t.loss)}, step ${x.step}`;
  const rows = $("explain-rows");
  rows.innerHTML = "";
  for (const r of x.rows) {
    const div = document.createElement("div");
    div.className = "xrow";
    div.innerHTML = `<div class="lab">${esc(r.label)}</div><div class="val" data-value="${r.value ?? ""}">${r.value === null ? "" : "= " + num(r.value)}</div>` +
      (r.formula ? `<div class="form">${esc(r.formula)}</div>` : "");
    rows.appendChild(div);
  }
  page.explanation = x;
  redrawHeat();
}

function showExport(x) {
  $("export-box").classList.remove("hidden");
  $("export-cmd").textContent = `chainrule train --config ${x.names.toml}`;
  $("export-epoch").textContent = x.epoch ? `epoch ${x.epoch}` + (x.expected ? ` (test loss ${x.expected.test_loss.toFixed(6)})` : "") : "epoch 1 (none finished yet)";
  const box = $("export-files");
  box.innerHTML = "";
  const kinds = [["toml", "application/toml"], ["csv", "text/csv"], ["python", "text/x-python"], ["step", "text/x-python"]];
  for (const [kind, mime] of kinds) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([x[kind]], { type: mime }));
    a.download = x.names[kind]; a.textContent = `⇩ ${x.names[kind]}`; a.className = "file-link";
    a.dataset.kind = kind;
    if (kind === "step") a.textContent += "  — one step as the NumPy the engine replays";
    const pre = document.createElement("pre");
    pre.textContent = kind === "csv" ? x.csv.split("\n").slice(0, 6).join("\n") + "\n…" : x[kind];
    box.appendChild(a); box.appendChild(pre);
  }
  page.exported = x;
}

async function share() {
  const url = shareUrl();
  try { await navigator.clipboard.writeText(url); toast("lesson link copied (no token in it)"); }
  catch { toast(url); }
  page.shared = url;
}

function toast(text) {
  const t = $("toast"); t.textContent = text; t.classList.remove("hidden");
  clearTimeout(page.toastTimer); page.toastTimer = setTimeout(() => t.classList.add("hidden"), 2500);
}
function showError(text) { const e = $("error"); e.textContent = text; e.classList.remove("hidden"); }
function hideError() { $("error").classList.add("hidden"); }

// ---------------------------------------------------------------- boot
async function boot() {
  page.token = new URLSearchParams(location.search).get("token");
  const res = await fetch("/api/schema", { credentials: "same-origin" });
  page.schema = await res.json();
  const defaults = Object.fromEntries(Object.entries(page.schema.keys).map(([k, v]) => [k, v.default]));
  const lesson = JSON.parse($("lesson").textContent || "{}");
  const fromUrl = {};
  for (const [k, v] of Object.entries(readUrlState())) if (k in page.schema.keys) fromUrl[k] = parseValue(k, v);
  page.state = { ...defaults, ...(Object.keys(fromUrl).length ? fromUrl : lesson) };
  buildControls();
  showState();
  writeUrl(); // drops the token from the address bar: a shared link never carries it
  connect();
}
boot();
