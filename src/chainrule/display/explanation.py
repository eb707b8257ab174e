"""An explanation in a notebook: the step-through page, embedded so it cannot collide.

The page (:func:`chainrule.explain.page.to_html`) is a whole HTML document with its own
element ids, stylesheet and script. Pasted into a notebook next to other outputs, its
ids and CSS would clash with theirs (and with a second explanation). So it goes into an
``<iframe srcdoc=…>``: a document of its own, still fully inline — no file, no network,
no widget state — that shows and steps the same in JupyterLab, VS Code, Colab and in a
saved notebook converted by nbconvert or rendered by MkDocs. The frame takes its
content's height, and follows it as the steps change.
"""

from __future__ import annotations

import re

from chainrule.display.scope import esc, new_id, wrap

PAGE_CHROME = 520  # px below the picture: controls, narration, gradient table


def page_iframe(expl, layout="builtin") -> str:
    """The step-through page of ``expl`` as one self-contained ``<iframe srcdoc>``."""
    page = expl.html(layout=layout)
    drawn = re.search(r'<svg id="graph"[^>]* height="(\d+)"', page)
    graph_h = int(drawn.group(1)) if drawn else 300
    guess = graph_h + PAGE_CHROME  # until the frame has measured itself
    fid = new_id("crx", page)
    # same-origin srcdoc: the parent may measure the frame's document. The frame follows
    # its content's height (the narration of some steps is longer than others), so the
    # page never scrolls inside the notebook.
    # Where a sanitiser strips the frame (GitHub's notebook view), the static picture next
    # to it stays; where the frame loads, it removes that fallback.
    grow = (
        "var f=this,s=f.parentNode&&f.parentNode.querySelector('.chainrule-fallback');"
        "if(s)s.remove();function fit(){try{var h=f.contentDocument.documentElement"
        ".getBoundingClientRect().height;f.style.height=Math.ceil(h)+2+'px'}catch(e){}}"
        "fit();try{new f.contentWindow.ResizeObserver(fit)"
        ".observe(f.contentDocument.body)}catch(e){}"
    )
    return (
        f'<iframe id="{fid}" class="chainrule-explain" title="{esc(expl.title or "explain")}" '
        f'srcdoc="{esc(page)}" style="width:100%;height:{guess}px;border:1px solid #d0d7de;'
        f'border-radius:8px" loading="eager" onload="{esc(grow)}"></iframe>'
    )


class GraphPicture:
    """A static picture of a graph with every value and gradient (what :func:`draw` returns).

    In a notebook it shows as SVG; ``.svg`` is the text, ``.save(path)`` writes it
    (``.svg``; ``.png``/``.pdf`` through Graphviz when installed).
    """

    def __init__(self, expl, layout="builtin", precision=3):
        from chainrule.display.graph import graph_svg

        self.explanation = expl
        self.layout = layout
        self.svg = graph_svg(expl, layout=layout, precision=precision)

    def save(self, path):
        """Write the picture to ``path`` (atomically; the suffix picks the format)."""
        from pathlib import Path

        from chainrule.files import atomic_write

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".svg":
            data = self.svg.encode("utf-8")
        elif suffix in (".png", ".pdf"):
            from chainrule.explain.dot import run_dot, to_dot

            data = run_dot(to_dot(self.explanation), suffix[1:])
        else:
            raise ValueError(f"draw: cannot save as {path.name!r}; use a .svg, .png or .pdf name")
        atomic_write(path, data)
        return path

    def __repr__(self):
        e = self.explanation
        return f"<GraphPicture of {e.output}: {len(e.nodes)} nodes, layout {self.layout}>"

    def _repr_svg_(self):
        return self.svg

    def _repr_mimebundle_(self, include=None, exclude=None):
        text = self.explanation._gradient_table()
        return {
            "text/plain": repr(self) + "\n" + "\n".join(text),
            "image/svg+xml": self.svg,
        }


def explanation_bundle(expl, layout="builtin") -> dict:
    """``text/plain``: the narration; ``text/html``: the page (with the static picture as
    a fallback for viewers that strip frames); ``image/svg+xml``: the graph."""
    from chainrule.display.graph import graph_svg

    picture = graph_svg(expl, layout=layout)
    fallback = f'<div class="chainrule-fallback">{picture}</div>'
    return {
        "text/plain": expl.text(),
        "text/html": wrap(page_iframe(expl, layout) + fallback, kind="explanation"),
        "image/svg+xml": picture,
    }


def draw(obj, *, layout="builtin", precision=3, **explain_options) -> GraphPicture:
    """A static picture of the graph behind ``obj``, values and gradients on every node.

    ``obj`` is a Tensor (explained first, as :func:`chainrule.explain` does; options such
    as ``name=`` or ``gradient=`` pass through), an expression string with ``at=``
    (``draw("(x+y)*z", at="x=-2,y=5,z=-4")``), or an :class:`Explanation`. ``layout``:
    "builtin" (no Graphviz needed), "graphviz" or "auto".
    """
    from chainrule.explain import Explanation, explain, explain_expression
    from chainrule.tensor import Tensor

    if isinstance(obj, Explanation):
        expl = obj
    elif isinstance(obj, Tensor):
        expl = explain(obj, **explain_options)
    elif isinstance(obj, str):
        at = explain_options.pop("at", None)
        expl = explain_expression(obj, at, **explain_options)
    else:
        raise TypeError(
            f"draw: expected a Tensor, an expression string or an Explanation, "
            f"got {type(obj).__name__}"
        )
    return GraphPicture(expl, layout=layout, precision=precision)
