"""A diagnosis in a notebook: the findings as a table (most severe first, coloured by
severity, with evidence and suggestion), and — when the run's monitor records are at
hand — the gradient profile it rests on: the median ‖δ_k‖ = ‖∂L/∂a_k‖ and
‖∂L/∂W_k‖ per layer on a log axis (the lecture's δ_k = W_kᵀ δ_{k+1} ⊙ g'(a_k) shrinking
layer by layer is a falling line), plus the loss per epoch."""

from __future__ import annotations

import statistics

from chainrule.display.chart import line_chart
from chainrule.display.scope import esc, wrap

COLOR = {"error": "#cf222e", "warning": "#9a6700", "info": "#0969da", "ok": "#1a7f37"}
CSS = """
{root} td.text { text-align: left; max-width: 46em; }
{root} .sev { font-weight: 700; text-transform: uppercase; font-size: 11px; }
"""


def _run_data(report, run=None):
    """The monitor data behind ``report``: ``run`` (a RunData, a GradientFlowMonitor or a
    run folder), the report's own ``data``, or its run folder; None when there is none."""
    from chainrule.diagnostics.run_data import RunData, from_records, load_run

    source = run if run is not None else getattr(report, "data", None)
    if source is None and report.run_dir:
        source = report.run_dir
    if source is None:
        return None
    if isinstance(source, RunData):
        return source
    if hasattr(source, "records"):
        return from_records(source.records)
    try:
        return load_run(source)
    except (OSError, ValueError):
        return None


def gradient_profile_svg(data) -> str | None:
    """Median ‖δ_k‖ and ‖∂L/∂W_k‖ by layer k over the sampled steps (log axis)."""
    per_layer = {}
    for step in data.steps:
        for layer in step.get("layers", []):
            per_layer.setdefault(layer["index"], []).append(layer)
    if not per_layer:
        return None
    ks = sorted(per_layer)

    def median(key):
        out = []
        for k in ks:
            vals = [r[key] for r in per_layer[k] if r.get(key) is not None]
            out.append(statistics.median(vals) if vals else None)
        return out

    series = {"‖δ‖": median("delta_norm"), "‖∂L/∂W‖": median("grad_norm")}
    return line_chart(
        [k + 1 for k in ks],
        series,
        title="gradient by layer (median)",
        xlabel="layer",
        ylabel="norm",
        logy=True,
    )


def _loss_svg(data):
    rows = [m for m in data.metrics if m.get("epoch") is not None]
    if not rows:
        return None
    series = {s: [m.get(f"{s}_loss") for m in rows] for s in ("train", "val")}
    series = {k: v for k, v in series.items() if any(x is not None for x in v)}
    if not series:
        return None
    return line_chart(
        [m["epoch"] for m in rows], series, title="loss", xlabel="epoch", ylabel="loss", logy=True
    )


def report_html(report, run=None) -> str:
    rows = []
    for f in report.findings:
        c = COLOR.get(f.severity, "#59636e")
        layers = ", ".join(str(k) for k in f.layers) if f.layers else ""
        rows.append(
            f'<tr data-kind="{esc(f.kind)}"><td class="text"><span class="sev" '
            f'style="color:{c}">{esc(f.severity)}</span></td>'
            f'<th class="row">{esc(f.kind)}</th><td class="text">{esc(f.message)}</td>'
            f'<td class="text muted">{esc(f.evidence)}</td>'
            f'<td class="text">{esc(f.suggestion)}</td><td>{esc(layers)}</td></tr>'
        )
    head = "diagnosis" + (f" of {report.run_dir}" if report.run_dir else "")
    verdict = "healthy" if report.healthy else "problems found"
    table = (
        f"<table><caption>{esc(head)}: {verdict}</caption>"
        "<tr><th>severity</th><th>finding</th><th>what</th><th>evidence</th>"
        f"<th>suggestion</th><th>layers</th></tr>{''.join(rows)}</table>"
    )
    summary = f'<p class="muted">{esc(report.summary)}</p>' if report.summary else ""
    charts = []
    data = _run_data(report, run)
    if data is not None:
        charts = [c for c in (gradient_profile_svg(data), _loss_svg(data)) if c]
    plots = f'<div class="panes">{"".join(f"<div>{c}</div>" for c in charts)}</div>'
    return wrap(summary + table + (plots if charts else ""), CSS, "diagnosis")


def report_bundle(report, run=None) -> dict:
    return {"text/plain": str(report), "text/html": report_html(report, run)}
