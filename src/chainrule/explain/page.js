// chainrule explain: step forward node by node and backward edge by edge.
// All the logic lives in the data: each step lists the nodes and wires to highlight,
// and every revealed element carries data-show-at, the first step at which it is known.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("explain-data").textContent);
  var steps = data.steps;
  var current = 0;
  var $ = function (id) { return document.getElementById(id); };
  var revealed = Array.prototype.slice.call(document.querySelectorAll("[data-show-at]"));
  var items = Array.prototype.slice.call(document.querySelectorAll("#step-list li"));
  var phaseNames = { forward: "Forward pass", backward: "Backward pass", summary: "Gradients" };

  function attrSelector(name, value) {
    return "[" + name + '="' + String(value).replace(/["\\]/g, "\\$&") + '"]';
  }

  function renderNarration(step) {
    var box = $("narration");
    box.textContent = "";
    step.lines.forEach(function (line, k) {
      var div = document.createElement("div");
      div.className = "line" + (k === 0 && step.kind !== "inputs" && step.kind !== "gradients" &&
        step.phase === "backward" ? " head" : "") + (line.indexOf("\u26a0") === 0 ? " warn" : "");
      div.textContent = line;
      box.appendChild(div);
    });
  }

  function show(k) {
    current = Math.max(0, Math.min(steps.length - 1, k));
    var step = steps[current];
    document.body.setAttribute("data-step", String(current));
    document.body.setAttribute("data-phase", step.phase);
    revealed.forEach(function (el) {
      var hide = Number(el.getAttribute("data-show-at")) > current;
      if (el.classList.contains("node")) {
        el.classList.toggle("pending", hide);  // nodes stay visible, dimmed until computed
      } else {
        el.classList.toggle("hidden", hide);
      }
    });
    document.querySelectorAll(".active").forEach(function (el) { el.classList.remove("active"); });
    step.nodes.forEach(function (name) {
      document.querySelectorAll("#graph " + attrSelector("data-node", name))
        .forEach(function (el) { el.classList.add("active"); });
    });
    step.edges.forEach(function (id) {
      document.querySelectorAll("#graph " + attrSelector("data-edge", id))
        .forEach(function (el) { el.classList.add("active"); });
    });
    $("step-title").textContent = step.title;
    renderNarration(step);
    $("step-counter").textContent = "Step " + (current + 1) + " of " + steps.length;
    var phase = $("phase");
    phase.textContent = phaseNames[step.phase] || step.phase;
    phase.className = step.phase;
    $("prev").disabled = current === 0;
    $("reset").disabled = current === 0;
    $("next").disabled = current === steps.length - 1;
    items.forEach(function (li, i) {
      li.classList.toggle("current", i === current);
      li.classList.toggle("future", i > current);
    });
    // a tall graph (drawn top to bottom) does not fit the window: bring the highlighted
    // node or wire into view, clear of the step buttons that stay at the bottom
    var focus = document.querySelector("#graph .wire.active, #graph .node.active");
    if (focus && focus.getBoundingClientRect && focus.scrollIntoView) {
      var box = focus.getBoundingClientRect();
      var bottom = window.innerHeight - $("controls").getBoundingClientRect().height;
      if (box.top < 0 || box.bottom > bottom) { focus.scrollIntoView({ block: "center" }); }
    }
    // keep the current step in sight inside the step list, without scrolling the page
    var list = $("step-list"), item = items[current];
    if (item && (item.offsetTop < list.scrollTop ||
        item.offsetTop + item.offsetHeight > list.scrollTop + list.clientHeight)) {
      list.scrollTop = item.offsetTop - (list.clientHeight - item.offsetHeight) / 2;
    }
  }

  $("next").addEventListener("click", function () { show(current + 1); });
  $("prev").addEventListener("click", function () { show(current - 1); });
  $("reset").addEventListener("click", function () { show(0); });
  items.forEach(function (li, i) {
    li.querySelector("button").addEventListener("click", function () { show(i); });
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) { return; }
    if (ev.key === "ArrowRight" || ev.key === "ArrowDown" || ev.key === "PageDown") { show(current + 1); }
    else if (ev.key === "ArrowLeft" || ev.key === "ArrowUp" || ev.key === "PageUp") { show(current - 1); }
    else if (ev.key === "Home") { show(0); }
    else if (ev.key === "End") { show(steps.length - 1); }
    else { return; }
    ev.preventDefault();
  });
  show(0);
}());
