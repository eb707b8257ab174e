"""A sweep's results in a notebook: the ranked table (best first; failed trials with
their error) and the metric against each searched option, one chart per option (log
axis for log-distributed options, hollow points for pruned trials)."""

from __future__ import annotations

from chainrule.display.chart import scatter_chart
from chainrule.display.scope import esc, wrap
from chainrule.sweep.report import format_option


def option_charts(result) -> list[str]:
    search = result.spec_tables.get("search", {})
    shown = [r for r in result.records if r["status"] != "failed" and r.get("metric") is not None]
    charts = []
    for name, dist in search.items():
        xs = [r["params"].get(name) for r in shown]
        if all(isinstance(v, list) for v in xs):
            xs = ["-".join(str(u) for u in v) or "none" for v in xs]
        logx = isinstance(dist, dict) and any(str(k).startswith("log") for k in dist)
        charts.append(
            scatter_chart(
                xs,
                [r["metric"] for r in shown],
                hollow=[r["status"] != "completed" for r in shown],
                title=f"{result.metric} vs {name}",
                xlabel=name,
                ylabel=result.metric,
                logx=logx,
            )
        )
    return charts


def sweep_html(result) -> str:
    from chainrule.sweep.report import summary

    params = list(result.spec_tables.get("search", {}))
    head = ["rank", "trial", "status", result.metric, "epochs", "time", *params]
    rows = []
    for rank, r in enumerate(result.ranked(), start=1):
        m = r.get("metric")
        cells = [
            str(rank),
            str(r["index"]),
            r["status"],
            "—" if m is None else f"{m:.4f}",
            str(r.get("epochs", "—")),
            f"{r.get('seconds', 0):.1f}s",
        ]
        cells += [format_option(r["params"].get(p)) for p in params]
        best = ' style="background:#dafbe1"' if rank == 1 and r["status"] == "completed" else ""
        tr = f'<tr data-trial="{r["index"]}"{best}>'
        tr += "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>"
        if r["status"] == "failed" and r.get("error"):
            tr += f'<tr><td></td><td class="text muted" colspan="{len(head) - 1}">'
            tr += f"{esc(r['error'])}</td></tr>"
        rows.append(tr)
    table = (
        f"<table><caption>{esc(summary(result))}</caption><tr>"
        + "".join(f"<th>{esc(h)}</th>" for h in head)
        + "</tr>"
        + "".join(rows)
        + "</table>"
    )
    charts = "".join(f"<div>{c}</div>" for c in option_charts(result))
    return wrap(f'<div class="panes">{charts}</div>{table}', kind="sweep")


def sweep_bundle(result) -> dict:
    from chainrule.sweep.report import summary, table

    return {"text/plain": summary(result) + "\n\n" + table(result), "text/html": sweep_html(result)}
