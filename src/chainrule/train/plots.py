"""Learning curves as PNG files (needs matplotlib: ``pip install chainrule[plot]``)."""

from __future__ import annotations

import os

from chainrule.files import atomic_write


def save_curves(history, run_dir) -> str | None:
    """Write ``loss.png`` and ``accuracy.png`` (train and validation per epoch) into
    ``run_dir``. Returns a note when matplotlib is missing, else None."""
    try:  # optional dependency (the plot extra)
        import matplotlib

        matplotlib.use("Agg")  # files only: never open a window
        import matplotlib.pyplot as plt
    except ModuleNotFoundError:
        return "note: no plots (matplotlib is not installed: pip install 'chainrule[plot]')"
    epochs = history["epoch"]
    for metric, ylabel in (("loss", "loss"), ("accuracy", "accuracy")):
        series = {f"{split} {metric}": history[f"{split}_{metric}"] for split in ("train", "val")}
        series = {k: v for k, v in series.items() if any(x is not None for x in v)}
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        for label, values in series.items():
            points = [(e, v) for e, v in zip(epochs, values) if v is not None]
            ax.plot([e for e, _ in points], [v for _, v in points], marker=".", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        if metric == "loss" and all(v > 0 for vs in series.values() for v in vs if v is not None):
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        atomic_write(
            os.path.join(run_dir, f"{metric}.png"), lambda f, fig=fig: fig.savefig(f, format="png")
        )
        plt.close(fig)
    return None
