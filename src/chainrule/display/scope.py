"""Every display owns a unique id, and its stylesheet applies under that id only.

A notebook page holds many outputs side by side (and nbconvert/MkDocs put them all in
one HTML document), so an output must neither reuse an element id nor style anything
outside itself: each display is wrapped in ``<div class="chainrule-display" id="cr-…">``
and its CSS rules are prefixed with that id.
"""

from __future__ import annotations

import hashlib
import html
import itertools

BASE_CSS = """
{root} { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: #1f2328; margin: 4px 0; }
{root} table { border-collapse: collapse; margin: 4px 0 8px; font-variant-numeric: tabular-nums; }
{root} caption { text-align: left; font-weight: 600; padding: 2px 0 4px; caption-side: top; }
{root} th, {root} td { border: 1px solid #d0d7de; padding: 2px 8px; text-align: right; }
{root} th { background: #f6f8fa; font-weight: 600; }
{root} th.row, {root} td.text { text-align: left; }
{root} .val { color: #1b7f3b; }
{root} .grad { color: #d62728; }
{root} .muted { color: #59636e; }
{root} .head { font-family: ui-monospace, "DejaVu Sans Mono", monospace; margin: 2px 0 4px; }
{root} .panes { display: flex; gap: 18px; flex-wrap: wrap; align-items: flex-start; }
"""


_counter = itertools.count(1)


def new_id(prefix: str = "cr", content: str = "") -> str:
    """A fresh element id: a hash of the output's ``content`` and a per-process counter.

    Two outputs of one kernel never share an id (the counter), outputs of two notebooks
    shown side by side (JupyterLab keeps them in one document) differ unless their
    content is identical — then sharing is harmless — and re-running a notebook gives
    the same ids, so a stored, executed notebook diffs cleanly.
    """
    n = next(_counter)
    digest = hashlib.sha1(f"{n}:{content}".encode()).hexdigest()[:10]
    return f"{prefix}-{digest}"


def esc(text) -> str:
    """Text escaped for HTML content and attribute values."""
    return html.escape(str(text), quote=True)


def wrap(body: str, css: str = "", kind: str = "") -> str:
    """``body`` inside a uniquely-identified div, with ``BASE_CSS`` + ``css`` scoped to it.

    ``css`` is written with ``{root}`` where the display's own selector goes, e.g.
    ``"{root} .bar { fill: red }"``.
    """
    root_id = new_id("cr", body + css)
    style = (BASE_CSS + css).replace("{root}", f"#{root_id}")
    data_kind = f' data-kind="{esc(kind)}"' if kind else ""
    return (
        f'<div class="chainrule-display" id="{root_id}"{data_kind}>'
        f"<style>{style}</style>{body}</div>"
    )
