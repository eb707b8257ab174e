"""chainrule in Jupyter: rich display of every object, and graph pictures with no binary.

Notebook front ends (JupyterLab, VS Code, Colab, nbconvert) ask an object for
``_repr_mimebundle_()`` and show the richest format they can. chainrule's objects answer
with :func:`mimebundle`, which returns every format it can make — always a meaningful
``text/plain``, plus ``text/html`` (and ``image/svg+xml`` for graphs):

- ``Tensor``: values (and gradient) as tables when small; shape, dtype, min/mean/max,
  norm, share of zeros, gradient norm, ``requires_grad`` and op when large.
- ``cr.explain(loss)``: the step-through page (forward node by node, backward edge by
  edge, upstream × local = downstream) in a self-contained frame; the narration as text.
- :func:`draw`: a static SVG of the graph with every value and gradient, CS231n style,
  laid out by chainrule itself (Graphviz optional).
- ``Module``: layers, parameter shapes and counts, gradient norms after a backward;
  :func:`summary` adds each layer's output shape.
- ``History``, a diagnosis ``Report`` and a ``SweepResult``: tables with inline SVG
  charts (no matplotlib needed).

Every HTML output is self-contained (inline CSS and script, no network, no widget
state) and scoped under its own unique id, so several outputs share a page safely.
"""

from __future__ import annotations

from chainrule.display.explanation import GraphPicture, draw
from chainrule.display.module import ModuleSummary, summary


def _renderer(obj):
    """The bundle function for ``obj``'s type (imports only what that type needs)."""
    # imported on first display, not with `import chainrule`: the renderers and what they
    # read (sweep, diagnostics) cost 57 ms on top of the package's 308 ms (measured once,
    # 2-core machine), which a script that never displays anything should not pay
    from chainrule.diagnostics.report import Report
    from chainrule.explain import Explanation
    from chainrule.nn import Module
    from chainrule.tensor import Tensor
    from chainrule.train.history import History

    if isinstance(obj, Tensor):
        from chainrule.display.tensor import tensor_bundle

        return tensor_bundle
    if isinstance(obj, Explanation):
        from chainrule.display.explanation import explanation_bundle

        return explanation_bundle
    if isinstance(obj, Module):
        from chainrule.display.module import module_bundle

        return module_bundle
    if isinstance(obj, History):
        from chainrule.display.history import history_bundle

        return history_bundle
    if isinstance(obj, Report):
        from chainrule.display.diagnosis import report_bundle

        return report_bundle
    from chainrule.sweep.runner import SweepResult

    if isinstance(obj, SweepResult):
        from chainrule.display.sweep import sweep_bundle

        return sweep_bundle
    return None


def mimebundle(obj, include=None, exclude=None) -> dict:
    """Every display format of ``obj`` as ``{mime type: data}`` (IPython's protocol).

    ``include`` / ``exclude`` are collections of mime types to keep / drop, as IPython
    passes them; ``text/plain`` is always kept so that every front end shows something.
    Raises TypeError for an object chainrule does not display.
    """
    render = _renderer(obj)
    if render is None:
        raise TypeError(f"display: chainrule cannot display a {type(obj).__name__}")
    bundle = render(obj)
    if include:
        bundle = {k: v for k, v in bundle.items() if k in include or k == "text/plain"}
    if exclude:
        bundle = {k: v for k, v in bundle.items() if k not in exclude or k == "text/plain"}
    return bundle


def html(obj) -> str:
    """The ``text/html`` display of ``obj`` (a self-contained fragment)."""
    return mimebundle(obj)["text/html"]


__all__ = ["GraphPicture", "ModuleSummary", "draw", "html", "mimebundle", "summary"]
