"""Plots of a monitored run, saved as PNG files in the run folder (needs matplotlib).

* ``gradient_flow.png``: heat maps, layer × sampled step, of log10 ‖∂L/∂W_k‖ and of the
  update/weight ratio log10 ‖ΔW_k‖/‖W_k‖ — vanishing gradients show as a dark band at
  the bottom layers, exploding ones as a bright one;
* ``saturation.png``: layer × step heat map of the fraction of units that pass (almost)
  no gradient: saturated sigmoid/tanh outputs, or dead ReLU units;
* ``activation_histograms.png``: per-layer histograms of the pre-activations a_k = W_k h + b_k at
  the first and the last sampled step, with the saturation thresholds marked;
* ``loss_curves.png``: training (and validation) loss per epoch, and the sampled batch losses.

matplotlib is imported here only, through its object API (no pyplot, no global state).
"""

from __future__ import annotations

import math
import os

import numpy as np

from chainrule.diagnostics.layer_stats import SATURATION_THRESHOLD
from chainrule.diagnostics.run_data import RunData, load_run
from chainrule.files import atomic_write

PLOT_FILES = ("gradient_flow.png", "saturation.png", "activation_histograms.png", "loss_curves.png")


def _matplotlib():
    try:  # optional dependency (the plot extra)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "plots need matplotlib, which is not installed: pip install 'chainrule[plot]'"
        ) from None
    return Figure, FigureCanvasAgg


def _save(fig, canvas_cls, path):
    canvas_cls(fig)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    return path


def _matrix(data, key, transform=None):
    """(layers × steps) array of ``key``, NaN where unmeasured."""
    n = len(data.layers)
    out = np.full((n, len(data.steps)), np.nan)
    for j, s in enumerate(data.steps):
        for k in range(n):
            v = s["layers"][k].get(key)
            if v is not None:
                out[k, j] = transform(v) if transform else v
    return out


def _layer_ticks(ax, data):
    n = len(data.layers)
    ax.set_yticks(range(n))
    ax.set_yticklabels(
        [f"{k + 1} {data.layers[k].get('activation', '')}" for k in range(n)], fontsize=7
    )
    ax.set_ylabel("layer (1 = input side)")


def _step_ticks(ax, data):
    steps = [s["step"] for s in data.steps]
    idx = np.linspace(0, len(steps) - 1, min(len(steps), 8)).round().astype(int)
    ax.set_xticks(idx)
    ax.set_xticklabels([str(steps[i]) for i in idx], fontsize=7)
    ax.set_xlabel("step")


def _log_heatmap(fig, ax, data, key, title):
    """imshow of log10 ``key``; exact zeros in red (log10 0 = -inf), unmeasured in gray."""
    raw = _matrix(data, key)
    zero = raw == 0
    m = np.where(raw > 0, np.log10(np.where(raw > 0, raw, 1.0)), np.nan)
    cmap = _colormap("viridis")
    im = ax.imshow(m, aspect="auto", origin="lower", cmap=cmap, interpolation="nearest")
    if zero.any():
        overlay = np.zeros(zero.shape + (4,))
        overlay[zero] = (0.85, 0.1, 0.1, 1.0)
        ax.imshow(overlay, aspect="auto", origin="lower", interpolation="nearest")
        title += "\n(red: exactly 0)"
    if np.isfinite(m).any():
        fig.colorbar(im, ax=ax)
    ax.set_title(title, fontsize=9)
    _layer_ticks(ax, data)
    _step_ticks(ax, data)


def _colormap(name):
    from matplotlib import colormaps  # optional dependency, present once _matplotlib() passed

    return colormaps[name].with_extremes(bad="#dddddd")  # gray: not measured / not finite


def plot_gradient_flow(data, path, Figure, Canvas):
    fig = Figure(figsize=(9, 3.8))
    _log_heatmap(fig, fig.add_subplot(1, 2, 1), data, "grad_norm", "log10 ‖∂L/∂W‖")
    _log_heatmap(fig, fig.add_subplot(1, 2, 2), data, "update_ratio", "log10 ‖ΔW‖/‖W‖ per step")
    fig.suptitle("gradient flow by layer and step", fontsize=10)
    fig.tight_layout()
    return _save(fig, Canvas, path)


def plot_saturation(data, path, Figure, Canvas):
    sat = _matrix(data, "saturated")
    dead = _matrix(data, "dead")
    m = np.where(np.isnan(sat), dead, sat)
    fig = Figure(figsize=(6.5, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(
        m,
        aspect="auto",
        origin="lower",
        cmap=_colormap("magma"),
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    fig.colorbar(im, ax=ax)
    ax.set_title(
        "fraction of units passing no gradient\n(sigmoid/tanh: saturated outputs; ReLU: "
        "dead units; gray: n/a)",
        fontsize=9,
    )
    _layer_ticks(ax, data)
    _step_ticks(ax, data)
    fig.tight_layout()
    return _save(fig, Canvas, path)


def plot_activations(data, path, Figure, Canvas):
    n = len(data.layers)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(3 * cols, 2.3 * rows))
    first, last = data.steps[0], data.steps[-1]
    for k in range(n):
        ax = fig.add_subplot(rows, cols, k + 1)
        act = data.layers[k].get("activation")
        for rec, label, color in ((first, "first", "tab:blue"), (last, "last", "tab:orange")):
            h = rec["layers"][k].get("hist")
            if not h:
                continue
            counts = np.asarray(h["counts"], dtype=float)
            edges = np.linspace(h["lo"], h["hi"], len(counts) + 1)
            total = counts.sum() or 1.0
            ax.stairs(counts / total, edges, color=color, label=f"{label} (step {rec['step']})")
        thr = SATURATION_THRESHOLD.get(act)
        if thr is not None:
            for x in (-thr, thr):
                ax.axvline(x, color="red", lw=0.8, ls="--")
        elif act == "relu":
            ax.axvline(0, color="red", lw=0.8, ls="--")
        ax.set_title(f"layer {k + 1} ({act}) a = Wh + b", fontsize=8)
        ax.tick_params(labelsize=7)
        if k == 0:
            ax.legend(fontsize=6)
    fig.suptitle("pre-activation histograms (red: saturation thresholds / ReLU kink)", fontsize=10)
    fig.tight_layout()
    return _save(fig, Canvas, path)


def plot_loss(data, path, Figure, Canvas):
    fig = Figure(figsize=(6.5, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    if data.metrics:
        ep = [m.get("epoch", k + 1) for k, m in enumerate(data.metrics)]
        for key, label in (("train_loss", "training loss"), ("val_loss", "validation loss")):
            vals = [np.nan if m.get(key) is None else m[key] for m in data.metrics]
            if any(np.isfinite(vals)):
                ax.plot(ep, vals, marker="o", ms=3, label=label)
        ax.set_xlabel("epoch")
        steps_per_epoch = None
        last = data.metrics[-1].get("step")
        if last:
            steps_per_epoch = last / max(len(data.metrics), 1)
        if steps_per_epoch:
            xs = [(s["step"] + 1) / steps_per_epoch for s in data.steps]
            ys = [np.nan if s.get("loss") is None else s["loss"] for s in data.steps]
            ax.plot(xs, ys, ".", color="gray", alpha=0.6, label="sampled batches")
    else:
        xs = [s["step"] for s in data.steps]
        ys = [np.nan if s.get("loss") is None else s["loss"] for s in data.steps]
        ax.plot(xs, ys, marker=".", label="sampled batches")
        ax.set_xlabel("step")
    ax.set_ylabel("loss")
    vals = [s.get("loss") for s in data.steps if s.get("loss")]
    if vals and min(vals) > 0 and max(vals) / min(vals) > 50:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_title("loss", fontsize=10)
    fig.tight_layout()
    return _save(fig, Canvas, path)


def plot_run(run, out_dir=None) -> list:
    """Save the four PNGs for a run folder (or :class:`RunData`); returns their paths.

    ``out_dir`` defaults to the run folder. Raises ImportError when matplotlib is missing.
    """
    Figure, Canvas = _matplotlib()
    data = run if isinstance(run, RunData) else load_run(run)
    out_dir = out_dir or data.run_dir
    if out_dir is None:
        raise ValueError("plot_run: pass out_dir= for in-memory records")
    os.makedirs(out_dir, exist_ok=True)
    makers = (plot_gradient_flow, plot_saturation, plot_activations, plot_loss)
    return [
        make(data, os.path.join(out_dir, name), Figure, Canvas)
        for make, name in zip(makers, PLOT_FILES)
    ]


__all__ = ["PLOT_FILES", "plot_run"]
