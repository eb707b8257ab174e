"""A self-contained HTML page: the diagnosis plus the plots, embedded as base64 PNGs."""

from __future__ import annotations

import base64
import html
import os

from chainrule.diagnostics.checks import diagnose
from chainrule.diagnostics.plots import plot_run
from chainrule.diagnostics.run_data import RunData, load_run
from chainrule.files import atomic_write

_COLORS = {"error": "#c0392b", "warning": "#d68910", "info": "#2e86c1", "ok": "#1e8449"}

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>chainrule diagnosis: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; color: #222; }}
.finding {{ border-left: 6px solid; padding: .4em .8em; margin: .8em 0; background: #fafafa; }}
.kind {{ font-weight: bold; }} .ev {{ font-family: monospace; font-size: 90%; color: #444; }}
img {{ max-width: 100%; border: 1px solid #ddd; margin: .5em 0; }}
</style></head><body>
<h1>Diagnosis of {title}</h1>
<p>{summary}</p>
{findings}
<h2>Plots</h2>
{images}
</body></html>
"""


def write_html_report(run, path=None) -> str:
    """Write ``diagnosis.html`` (or ``path``) for a run folder; returns its path.

    The plots are drawn (into the run folder) and embedded, so the page is one file
    that can be mailed or archived.
    """
    data = run if isinstance(run, RunData) else load_run(run)
    report = diagnose(data)
    pngs = plot_run(data)
    path = path or os.path.join(data.run_dir, "diagnosis.html")
    blocks = []
    for f in report.findings:
        blocks.append(
            f'<div class="finding" style="border-color:{_COLORS[f.severity]}">'
            f'<span class="kind">[{f.severity}] {html.escape(f.kind)}</span>: '
            f"{html.escape(f.message)}"
            + (f'<div class="ev">evidence: {html.escape(f.evidence)}</div>' if f.evidence else "")
            + (f"<div>suggestion: {html.escape(f.suggestion)}</div>" if f.suggestion else "")
            + "</div>"
        )
    images = []
    for png in pngs:
        with open(png, "rb") as fh:
            b64 = base64.b64encode(fh.read()).decode("ascii")
        name = html.escape(os.path.basename(png))
        images.append(f'<h3>{name}</h3><img alt="{name}" src="data:image/png;base64,{b64}">')
    page = _PAGE.format(
        title=html.escape(str(data.run_dir)),
        summary=html.escape(report.summary),
        findings="\n".join(blocks),
        images="\n".join(images),
    )
    atomic_write(path, page)
    return path


__all__ = ["write_html_report"]
