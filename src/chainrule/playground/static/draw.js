// Canvas pictures: the output heat map with its points, small unit pictures, the loss
// curves and the gradient-flow bars. They draw what the server computed; nothing here
// evaluates the network.
import { DIVERGING, MID, classColor, rgb } from "./colors.js";

// Paint an n×n byte picture onto a canvas (scaled up without smoothing).
export function paintPicture(canvas, bytes, n, { discretize = false, classes = null, confidence = null } = {}) {
  const off = document.createElement("canvas");
  off.width = n; off.height = n;
  const ctx = off.getContext("2d");
  const img = ctx.createImageData(n, n);
  for (let i = 0; i < n * n; i++) {
    let c;
    if (classes) {
      const base = classColor(bytes[i]);
      const t = 0.25 + 0.6 * ((confidence[i] / 255 - 1 / classes) / (1 - 1 / classes));
      const k = discretize ? 0.75 : Math.max(0, Math.min(1, t));
      c = [MID[0] + (base[0] - MID[0]) * k, MID[1] + (base[1] - MID[1]) * k, MID[2] + (base[2] - MID[2]) * k];
    } else {
      let b = bytes[i];
      if (discretize) b = b < 128 ? 40 : 215;
      c = DIVERGING[b];
    }
    img.data[4 * i] = c[0]; img.data[4 * i + 1] = c[1]; img.data[4 * i + 2] = c[2]; img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  const g = canvas.getContext("2d");
  g.imageSmoothingEnabled = !discretize;
  g.drawImage(off, 0, 0, canvas.width, canvas.height);
}

// Train points as filled dots with a white rim, test points as hollow rings.
export function drawPoints(canvas, setup, showTest) {
  const g = canvas.getContext("2d");
  const [x0, x1, y0, y1] = setup.box;
  const W = canvas.width, H = canvas.height;
  const scale = setup.task === "regression" ? setup.value_scale : null;
  for (const [px, py, t, isTrain] of setup.points) {
    if (!isTrain && !showTest) continue;
    const x = ((px - x0) / (x1 - x0)) * W, y = ((y1 - py) / (y1 - y0)) * H;
    let c;
    if (scale !== null) c = DIVERGING[Math.max(0, Math.min(255, Math.round(((t / scale) + 1) / 2 * 255)))];
    else c = classColor(t);
    g.beginPath();
    g.arc(x, y, isTrain ? 3.4 : 3.6, 0, 2 * Math.PI);
    if (isTrain) {
      g.fillStyle = rgb(c); g.fill();
      g.lineWidth = 1; g.strokeStyle = "rgba(255,255,255,0.9)"; g.stroke();
    } else {
      g.lineWidth = 2; g.strokeStyle = "rgba(30,30,30,0.85)"; g.stroke();
      g.beginPath(); g.arc(x, y, 2.2, 0, 2 * Math.PI); g.fillStyle = rgb(c); g.fill();
    }
  }
  // axes ticks at integers
  g.fillStyle = "rgba(0,0,0,0.45)"; g.font = "11px system-ui, sans-serif";
  for (let v = Math.ceil(x0); v <= Math.floor(x1); v++) {
    const x = ((v - x0) / (x1 - x0)) * W;
    g.fillRect(x, H - 5, 1, 5); g.fillText(String(v), x + 2, H - 6);
  }
  for (let v = Math.ceil(y0); v <= Math.floor(y1); v++) {
    const y = ((y1 - v) / (y1 - y0)) * H;
    g.fillRect(0, y, 5, 1); g.fillText(String(v), 6, y - 2);
  }
}

function niceLog(v) { return v > 0 && Number.isFinite(v) ? Math.log10(v) : null; }

// Loss curves: train (solid) and test (dashed) against epochs, log scale when they span
// more than a decade.
export function drawCurves(canvas, series) {
  const g = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, pad = { l: 42, r: 10, t: 10, b: 22 };
  g.clearRect(0, 0, W, H);
  const pts = series.filter((p) => p.train !== null || p.test !== null);
  g.strokeStyle = "#d0d4da"; g.lineWidth = 1;
  g.strokeRect(pad.l, pad.t, W - pad.l - pad.r, H - pad.t - pad.b);
  if (pts.length < 1) return;
  const vals = pts.flatMap((p) => [p.train, p.test]).filter((v) => v !== null && Number.isFinite(v));
  if (!vals.length) return;
  let lo = Math.min(...vals), hi = Math.max(...vals);
  const useLog = lo > 0 && hi / lo > 10;
  const tf = useLog ? Math.log10 : (v) => v;
  let a = tf(lo), b = tf(hi);
  if (b - a < 1e-9) { a -= 0.5; b += 0.5; }
  const e0 = pts[0].epoch, e1 = Math.max(pts[pts.length - 1].epoch, e0 + 1e-9);
  const X = (e) => pad.l + ((e - e0) / (e1 - e0)) * (W - pad.l - pad.r);
  const Y = (v) => pad.t + (1 - (tf(v) - a) / (b - a)) * (H - pad.t - pad.b);
  g.fillStyle = "#667"; g.font = "11px system-ui, sans-serif";
  g.fillText((useLog ? 10 ** b : b).toPrecision(3), 2, pad.t + 9);
  g.fillText((useLog ? 10 ** a : a).toPrecision(3), 2, H - pad.b);
  g.fillText(`epoch ${e0.toFixed(1)}`, pad.l, H - 6);
  const right = `epoch ${e1.toFixed(1)}`;
  g.fillText(right, W - pad.r - g.measureText(right).width, H - 6);
  for (const [key, color, dash] of [["train", "#37474f", []], ["test", "#e65100", [5, 3]]]) {
    g.beginPath(); g.setLineDash(dash); g.strokeStyle = color; g.lineWidth = 2;
    let started = false;
    for (const p of pts) {
      const v = p[key];
      if (v === null || !Number.isFinite(v)) { started = false; continue; }
      if (!started) { g.moveTo(X(p.epoch), Y(v)); started = true; } else g.lineTo(X(p.epoch), Y(v));
    }
    g.stroke();
    g.fillStyle = color;  // the latest value as a dot, so a single point still shows
    const last = [...pts].reverse().find((p) => p[key] !== null && Number.isFinite(p[key]));
    if (last) { g.beginPath(); g.arc(X(last.epoch), Y(last[key]), 2.5, 0, 2 * Math.PI); g.fill(); }
  }
  g.setLineDash([]);
  g.fillStyle = "#37474f"; g.fillText("— train", W - 110, pad.t + 12);
  g.fillStyle = "#e65100"; g.fillText("- - test", W - 58, pad.t + 12);
}

// Per-layer bars: ‖∂L/∂W_k‖ (dark) and ‖δ_k‖ (orange), log10 scale, layer 1 at the left.
export function drawFlow(canvas, layers) {
  const g = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, pad = { l: 36, r: 8, t: 8, b: 22 };
  g.clearRect(0, 0, W, H);
  if (!layers || !layers.length) return;
  const logs = layers.flatMap((l) => [niceLog(l.grad_norm), niceLog(l.delta_norm)]).filter((v) => v !== null);
  let lo = Math.min(-4, ...logs), hi = Math.max(0, ...logs);
  lo = Math.floor(lo); hi = Math.ceil(hi);
  const Y = (v) => pad.t + (1 - (v - lo) / (hi - lo)) * (H - pad.t - pad.b);
  g.font = "11px system-ui, sans-serif"; g.fillStyle = "#667"; g.strokeStyle = "#eceff1";
  for (let e = lo; e <= hi; e++) {
    g.beginPath(); g.moveTo(pad.l, Y(e)); g.lineTo(W - pad.r, Y(e)); g.stroke();
    if ((e - lo) % Math.max(1, Math.round((hi - lo) / 4)) === 0) g.fillText(`1e${e}`, 2, Y(e) + 4);
  }
  const n = layers.length, slot = (W - pad.l - pad.r) / n, bw = Math.min(22, slot / 3);
  layers.forEach((l, k) => {
    const cx = pad.l + slot * (k + 0.5);
    const bars = [[l.grad_norm, "#37474f", -bw - 1], [l.delta_norm, "#f59322", 1]];
    for (const [v, color, dx] of bars) {
      const lv = niceLog(v);
      if (lv === null) {  // zero (no gradient at all) or NaN/inf: say so in words
        g.fillStyle = v === 0 ? "#90a4ae" : "#c62828";
        const word = v === 0 ? "0" : "NaN";
        g.fillText(word, cx + dx + (bw - g.measureText(word).width) / 2, H - pad.b - 4);
        continue;
      }
      g.fillStyle = color;
      g.fillRect(cx + dx, Y(lv), bw, H - pad.b - Y(lv));
    }
    g.fillStyle = "#455a64";
    const name = k === n - 1 ? "out" : `layer ${k + 1}`;
    g.fillText(name, cx - g.measureText(name).width / 2, H - 6);
  });
}
