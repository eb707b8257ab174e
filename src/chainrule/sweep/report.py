"""What a sweep leaves behind besides its records: the ranked table (``report.txt``), the
best configuration as a ``chainrule train`` config (``best.toml``) and, with matplotlib,
the metric against each hyperparameter (``plots.png``)."""

from __future__ import annotations

import math
import os

from chainrule.experiment.config import TrainConfig, to_toml
from chainrule.files import atomic_write
from chainrule.sweep.runner import SweepResult


def format_option(value) -> str:
    """An option's value as the table shows it: ``-`` for None, ``true``/``false``, four
    significant digits (scientific outside 1e-3…1e4), a layer list as ``64-32``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e4:
            return f"{value:.4g}"
        return f"{value:.2e}"
    if isinstance(value, list):
        return "-".join(str(v) for v in value) if value else "none"
    return str(value)


def _fmt_metric(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def table(result: SweepResult, top: int | None = None, show_failed: bool = True) -> str:
    """The ranked table as text: one row per trial, the searched options as columns."""
    ranked = result.ranked()
    params = list(result.spec_tables.get("search", {}))
    extra = [m for m in ("test_accuracy",) if m != result.metric]
    header = ["rank", "trial", "status", result.metric, *extra, "epochs", "time", *params]
    rows = []
    shown = [r for r in ranked if show_failed or r["status"] != "failed"]
    for rank, r in enumerate(shown[:top] if top else shown, start=1):
        row = [str(rank), str(r["index"]), r["status"], _fmt_metric(r.get("metric"))]
        row += [_fmt_metric(r.get("metrics", {}).get(m)) for m in extra]
        row += [str(r.get("epochs", "-")), f"{r.get('seconds', 0):.1f}s"]
        row += [format_option(r["params"].get(p)) for p in params]
        rows.append(row)
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
        for i, h in enumerate(header)
    ]
    numeric = {0, 1, 3, 4 + len(extra) - 1, 4 + len(extra), 5 + len(extra)}

    def line(cells):
        out = []
        for i, (cell, w) in enumerate(zip(cells, widths)):
            out.append(cell.rjust(w) if i in numeric else cell.ljust(w))
        return "  ".join(out).rstrip()

    lines = [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]
    if top and len(shown) > top:
        lines.append(f"... {len(shown) - top} more (chainrule sweep-report --top 0 for all)")
    failed = [r for r in ranked if r["status"] == "failed"]
    if failed and show_failed:
        lines.append("")
        lines.append(f"{len(failed)} failed trial(s):")
        for r in failed[:10]:
            lines.append(f"  trial {r['index']}: {r.get('error')}")
    return "\n".join(lines)


def summary(result: SweepResult) -> str:
    counts = {}
    for r in result.records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    parts = [f"{n} {status}" for status, n in sorted(counts.items())]
    seconds = sum(r.get("seconds", 0) for r in result.records)
    text = f"{len(result.records)} trials ({', '.join(parts)}), {seconds:.0f} trial-seconds"
    best = result.best
    if best is not None:
        text += f"; best {result.metric} {best['metric']:.4f} (trial {best['index']})"
    return text


def best_config_toml(result: SweepResult) -> str | None:
    """The best completed trial as a full ``chainrule train`` config (TOML), or None."""
    best = result.best
    if best is None:
        return None
    spec = result.spec_tables
    options = {**spec.get("base", {}), **best["params"]}
    options.pop("out", None)
    config = TrainConfig.from_dict(options, source="best trial")
    head = (
        f"# best trial of the sweep in {result.folder}: trial {best['index']} ({best['id']})\n"
        f"# {result.metric} = {best['metric']:.6g}"
    )
    test = best.get("metrics", {}).get("test_accuracy")
    if test is not None and result.metric != "test_accuracy":
        head += f", test_accuracy = {test:.6g}"
    head += f"\n# rerun: chainrule train --config {os.path.join(result.folder, 'best.toml')}\n"
    return head + to_toml(config)


def write_report(result: SweepResult, plots: bool = True) -> dict:
    """Write report.txt, best.toml and plots.png into the sweep folder; returns
    ``{name: path or note}`` for what was written (a note when matplotlib is missing)."""
    written = {}
    path = os.path.join(result.folder, "report.txt")
    atomic_write(path, summary(result) + "\n\n" + table(result) + "\n")
    written["report"] = path
    if result.spec_tables.get("sweep", {}).get("objective", "").startswith("chainrule.sweep"):
        text = best_config_toml(result)
        if text is not None:
            path = os.path.join(result.folder, "best.toml")
            atomic_write(path, text)
            written["best"] = path
    if plots:
        written["plots"] = save_plots(result)
    return written


def save_plots(result: SweepResult) -> str:
    """``plots.png``: the metric against each searched option (log axis for log-uniform
    ones; pruned trials hollow). Returns the path, or a note when it could not be drawn."""
    try:  # optional dependency (the plot extra)
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "plots skipped: pip install matplotlib"
    search = result.spec_tables.get("search", {})
    shown = [r for r in result.records if r["status"] != "failed" and r.get("metric") is not None]
    if not search or not shown:
        return "plots skipped: no finished trial"
    n = len(search)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, (name, dist) in zip(axes.flat, search.items()):
        values = [r["params"].get(name) for r in shown]
        ys = [r["metric"] for r in shown]
        hollow = [r["status"] != "completed" for r in shown]
        if all(isinstance(v, list) for v in values):  # layer structures
            _plot_structures(ax, name, values, ys, hollow)
        else:
            _plot_option(ax, name, dist, values, ys, hollow)
        ax.set_ylabel(result.metric)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(f"{result.metric} per trial (hollow: pruned)", fontsize=10)
    fig.tight_layout()
    path = os.path.join(result.folder, "plots.png")
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=90))
    plt.close(fig)
    return path


def _scatter(ax, xs, ys, hollow, color="C0", label=None):
    filled = [(x, y) for x, y, h in zip(xs, ys, hollow) if not h]
    empty = [(x, y) for x, y, h in zip(xs, ys, hollow) if h]
    if filled:
        ax.scatter(*zip(*filled), s=22, color=color, alpha=0.8, label=label)
    if empty:
        ax.scatter(
            *zip(*empty),
            s=22,
            facecolors="none",
            edgecolors=color,
            alpha=0.8,
            label=None if filled else label,
        )


def _plot_option(ax, name, dist, values, ys, hollow):
    """One scalar option: numbers on a linear or log axis, anything else as categories."""
    if any(isinstance(v, (str, bool)) or v is None for v in values):
        labels = sorted({str(v) for v in values}, key=_natural)
        xs = [labels.index(str(v)) for v in values]
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_xlim(-0.5, len(labels) - 0.5)
    else:
        xs = values
        if isinstance(dist, dict) and any(str(k).startswith("log") for k in dist):
            ax.set_xscale("log")
    _scatter(ax, xs, ys, hollow)
    ax.set_xlabel(name)


def _plot_structures(ax, name, values, ys, hollow):
    """Layer structures: total hidden units on a log axis, one colour per depth."""
    depths = sorted({len(v) for v in values})
    for i, depth in enumerate(depths):
        pick = [j for j, v in enumerate(values) if len(v) == depth]
        xs = [max(1, sum(values[j])) for j in pick]
        _scatter(
            ax,
            xs,
            [ys[j] for j in pick],
            [hollow[j] for j in pick],
            f"C{i}",
            f"{depth} layer{'s' if depth != 1 else ''}",
        )
    ax.set_xscale("log")
    from matplotlib.ticker import NullFormatter  # optional dependency, checked by save_plots

    ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide on short ranges
    ax.set_xlabel(f"{name}: total hidden units")
    ax.legend(fontsize=7, loc="lower right")


def _natural(label: str):
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, len(label.split("-")), label)
