// The network diagram: feature inputs, every hidden unit with the picture of its output
// over the plane, the output units, and every weight as an edge (blue positive, orange
// negative, width by |w|). Units and edges are clickable (explain); the +/− buttons
// change the widths. Pictures and weights come from the server's frames.
import { NEG, POS, rgb } from "./colors.js";
import { paintPicture } from "./draw.js";

const SVG = "http://www.w3.org/2000/svg";
const THUMB = 46;

export class NetView {
  constructor(root, { onUnit, onWeight, onWidth }) {
    this.root = root;
    this.onUnit = onUnit; this.onWeight = onWeight; this.onWidth = onWidth;
    this.units = []; this.edges = []; this.sizes = [];
    this.selected = null;
  }

  build(setup, featureLabels, editable) {
    this.root.innerHTML = "";
    this.sizes = setup.sizes;
    const cols = this.sizes.length;
    const width = Math.max(this.root.clientWidth, 360);
    const maxUnits = Math.max(...this.sizes);
    const height = Math.max(260, maxUnits * (THUMB + 10) + 60);
    this.root.style.height = `${height}px`;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("width", width); svg.setAttribute("height", height);
    svg.classList.add("edges");
    this.root.appendChild(svg);
    this.svg = svg;
    const xs = this.sizes.map((_, c) => 70 + (c * (width - 110)) / Math.max(1, cols - 1));
    this.pos = this.sizes.map((n, c) => {
      const top = 44 + (height - 44 - n * (THUMB + 10)) / 2;
      return Array.from({ length: n }, (_, j) => [xs[c], top + j * (THUMB + 10) + THUMB / 2]);
    });
    this.units = []; this.edges = [];
    // edges first (below the units)
    for (let k = 1; k < cols; k++) {
      const layerEdges = [];
      for (let j = 0; j < this.sizes[k]; j++) {
        const row = [];
        for (let i = 0; i < this.sizes[k - 1]; i++) {
          const [xa, ya] = this.pos[k - 1][i], [xb, yb] = this.pos[k][j];
          const line = document.createElementNS(SVG, "line");
          line.setAttribute("x1", xa + THUMB / 2); line.setAttribute("y1", ya);
          line.setAttribute("x2", xb - THUMB / 2); line.setAttribute("y2", yb);
          line.classList.add("edge");
          const hit = document.createElementNS(SVG, "line");
          for (const a of ["x1", "y1", "x2", "y2"]) hit.setAttribute(a, line.getAttribute(a));
          hit.classList.add("edge-hit");
          hit.dataset.layer = k; hit.dataset.to = j; hit.dataset.from = i;
          const title = document.createElementNS(SVG, "title");
          hit.appendChild(title);
          hit.addEventListener("click", () => this.onWeight(k, j, i));
          svg.appendChild(line); svg.appendChild(hit);
          row.push({ line, hit, title });
        }
        layerEdges.push(row);
      }
      this.edges.push(layerEdges);
    }
    // unit boxes
    for (let c = 0; c < cols; c++) {
      const col = [];
      for (let j = 0; j < this.sizes[c]; j++) {
        const [x, y] = this.pos[c][j];
        const box = document.createElement("div");
        box.className = "unit" + (c === 0 ? " input" : c === cols - 1 ? " output" : " hidden-unit");
        box.style.left = `${x - THUMB / 2}px`; box.style.top = `${y - THUMB / 2}px`;
        box.style.width = `${THUMB}px`; box.style.height = `${THUMB}px`;
        const canvas = document.createElement("canvas");
        canvas.width = THUMB; canvas.height = THUMB;
        box.appendChild(canvas);
        if (c === 0) {
          const lab = document.createElement("span");
          lab.className = "feature-label"; lab.textContent = featureLabels[j];
          box.appendChild(lab);
        } else {
          box.dataset.layer = c; box.dataset.unit = j;
          box.title = c === cols - 1 ? `output ${j}` : `layer ${c}, unit ${j}`;
          box.addEventListener("click", () => this.onUnit(c, j));
          if (c === cols - 1) {
            const lab = document.createElement("span");
            lab.className = "unit-label"; lab.textContent = setup.task === "regression" ? "ŷ" : `z${sub(j)}`;
            box.appendChild(lab);
          }
        }
        this.root.appendChild(box);
        col.push({ box, canvas });
      }
      this.units.push(col);
    }
    // column headers, with +/− for hidden widths
    for (let c = 0; c < cols; c++) {
      const head = document.createElement("div");
      head.className = "col-head";
      head.style.left = `${xs[c] - 50}px`;
      const name = c === 0 ? "features" : c === cols - 1 ? "output" : `layer ${c}`;
      head.innerHTML = `<span>${name}</span>`;
      if (editable && c > 0 && c < cols - 1) {
        for (const [sign, txt] of [[-1, "−"], [1, "+"]]) {
          const b = document.createElement("button");
          b.className = "mini"; b.textContent = txt;
          b.title = sign > 0 ? "add a unit" : "remove a unit";
          b.dataset.layer = c; b.dataset.delta = sign;
          b.addEventListener("click", () => this.onWidth(c, sign));
          head.appendChild(b);
        }
      }
      this.root.appendChild(head);
    }
  }

  paintInputs(pictures, n) {
    pictures.forEach((bytes, j) => {
      const u = this.units[0] && this.units[0][j];
      if (u) paintPicture(u.canvas, bytes, n);
    });
  }

  update(frame, body, discretize) {
    const n = frame.grid;
    let offset = 0;
    const outs = [];
    for (const p of frame.pictures) {
      const bytes = body.subarray(offset, offset + n * n);
      offset += n * n;
      if (p.kind === "unit") {
        const u = this.units[p.layer] && this.units[p.layer][p.unit];
        if (u) paintPicture(u.canvas, bytes, n);
      } else outs.push([p, bytes]);
    }
    // the output layer's boxes show the output picture (its first unit for regression /
    // two classes: P(class 1); for more classes the class map)
    const outCol = this.units[this.units.length - 1];
    if (outs.length && outCol) {
      outCol.forEach((u, j) => {
        if (outs[0][0].kind === "class") paintPicture(u.canvas, outs[0][1], n, { classes: outs[0][0].classes, confidence: outs[1][1] });
        else if (j === 0 && outCol.length === 2) paintPicture(u.canvas, outs[0][1].map((b) => 255 - b), n, { discretize }); // P(class 0)
        else paintPicture(u.canvas, outs[0][1], n, { discretize });
      });
    }
    // weights as edges
    let wmax = 1e-12;
    for (const layer of frame.weights) for (const row of layer.W) for (const w of row) if (w !== null) wmax = Math.max(wmax, Math.abs(w));
    frame.weights.forEach((layer, k) => {
      layer.W.forEach((row, j) => row.forEach((w, i) => {
        const e = this.edges[k] && this.edges[k][j] && this.edges[k][j][i];
        if (!e) return;
        if (w === null) { e.line.setAttribute("stroke", "#c62828"); e.line.setAttribute("stroke-width", 1); e.line.setAttribute("stroke-dasharray", "3 3"); e.title.textContent = `W${k + 1}[${j},${i}] = NaN`; return; }
        const t = Math.abs(w) / wmax;
        e.line.removeAttribute("stroke-dasharray");
        e.line.setAttribute("stroke", rgb(w >= 0 ? POS : NEG, 0.25 + 0.75 * t));
        e.line.setAttribute("stroke-width", (0.5 + 5.5 * t).toFixed(2));
        e.title.textContent = `W${k + 1}[${j},${i}] = ${w.toPrecision(4)}  (click: explain)`;
      }));
    });
  }

  select(kind, a, b, c) {
    this.root.querySelectorAll(".selected").forEach((el) => el.classList.remove("selected"));
    if (kind === "unit") {
      const u = this.units[a] && this.units[a][b];
      if (u) u.box.classList.add("selected");
    } else if (kind === "weight") {
      const e = this.edges[a - 1] && this.edges[a - 1][b] && this.edges[a - 1][b][c];
      if (e) e.line.classList.add("selected");
    }
  }
}

function sub(j) { return String(j).split("").map((d) => "₀₁₂₃₄₅₆₇₈₉"[+d]).join(""); }
