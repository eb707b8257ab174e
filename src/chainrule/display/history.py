"""What ``fit`` returns, in a notebook: the loss and accuracy curves as inline SVG (train
and validation per epoch; loss on a log axis when positive) above the table of every
epoch's numbers."""

from __future__ import annotations

from chainrule.display.chart import line_chart
from chainrule.display.scope import esc, wrap
from chainrule.display.tensor import number

COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")


def _cell(key, v):
    if v is None:
        return "—"
    if key == "epoch" or isinstance(v, int):
        return str(v)
    if key.endswith("accuracy"):
        return f"{100 * float(v):.2f}%"
    return number(v, 4)


def curves_svg(history) -> list[str]:
    """One SVG chart per metric (loss, accuracy) that has any value."""
    epochs = history["epoch"]
    charts = []
    for metric in ("loss", "accuracy"):
        series = {
            split: history[f"{split}_{metric}"]
            for split in ("train", "val")
            if any(v is not None for v in history[f"{split}_{metric}"])
        }
        if not series:
            continue
        logy = metric == "loss" and all(
            v is None or v > 0 for vals in series.values() for v in vals
        )
        charts.append(
            line_chart(epochs, series, title=metric, xlabel="epoch", ylabel=metric, logy=logy)
        )
    return charts


def history_html(history) -> str:
    keys = [k for k in COLUMNS if any(e.get(k) is not None for e in history)]
    keys += sorted({k for e in history for k in e} - set(COLUMNS) - {"step"})
    head = "".join(f"<th>{esc(k)}</th>" for k in keys)
    rows = "".join(
        "<tr>" + "".join(f"<td>{esc(_cell(k, e.get(k)))}</td>" for k in keys) + "</tr>"
        for e in history
    )
    stop = ""
    if history.stop_reason:
        stop = f'<p class="muted">stopped early: {esc(history.stop_reason)}</p>'
    charts = "".join(f"<div>{c}</div>" for c in curves_svg(history)) if len(history) else ""
    caption = f"{len(history)} epoch{'s' if len(history) != 1 else ''}"
    body = (
        f'<div class="panes">{charts}</div>{stop}'
        f"<table><caption>{caption}</caption><tr>{head}</tr>{rows}</table>"
    )
    return wrap(body, kind="history")


def history_text(history) -> str:
    keys = [k for k in COLUMNS if any(e.get(k) is not None for e in history)]
    table = [[k for k in keys]] + [[_cell(k, e.get(k)) for k in keys] for e in history]
    widths = [max(len(r[i]) for r in table) for i in range(len(keys))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in table]
    if history.stop_reason:
        lines.append(f"stopped early: {history.stop_reason}")
    return "\n".join(lines) if keys else repr(history)


def history_bundle(history) -> dict:
    return {"text/plain": history_text(history), "text/html": history_html(history)}
