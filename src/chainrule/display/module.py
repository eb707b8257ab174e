"""A model in a notebook: one row per layer — its type, parameter shapes and counts, the
gradient norm ‖∂L/∂θ‖₂ of each parameter once a backward pass has run, and (with an
example input, :func:`summary`) the shape each layer outputs."""

from __future__ import annotations

import math

import numpy as np

from chainrule.display.scope import esc, wrap
from chainrule.display.tensor import number

CSS = """
{root} td.text { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
{root} tr.total th, {root} tr.total td { border-top: 2px solid #8c959f; font-weight: 600; }
"""


class ModuleSummary:
    """Layers of ``model`` with the output shapes seen on ``inputs`` (see :func:`summary`)."""

    def __init__(self, model, out_shapes=None):
        self.model = model
        self.out_shapes = out_shapes or {}

    def rows(self) -> list[dict]:
        """One dict per leaf layer: name, type, extra (its repr arguments), params
        ``[(name, shape, count, grad_norm or None)]`` and out_shape (or None)."""
        rows = []
        for name, m in self.model.named_modules():
            if m._modules and not m._parameters:
                continue  # a container: its children have rows of their own
            params = []
            for pname, p in m._parameters.items():
                if p is None:
                    continue
                g = None
                if p.grad is not None:
                    a = np.asarray(p.grad.data, dtype=np.float64).ravel()
                    g = float(math.sqrt(a @ a))
                params.append((pname, tuple(p.shape), int(p.size), g))
            rows.append(
                {
                    "name": name or "(model)",
                    "type": type(m).__name__,
                    "extra": m.extra_repr(),
                    "params": params,
                    "out_shape": self.out_shapes.get(id(m)),
                }
            )
        return rows

    def text(self) -> str:
        lines = [repr(self.model)]
        outs = [(r["name"], r["out_shape"]) for r in self.rows() if r["out_shape"] is not None]
        if outs:
            lines.append("output shapes: " + ", ".join(f"{n} {s}" for n, s in outs))
        grads = [(r["name"], p) for r in self.rows() for p in r["params"] if p[3] is not None]
        if grads:
            lines.append(
                "gradient norms: " + ", ".join(f"{n}.{p[0]} {number(p[3], 3)}" for n, p in grads)
            )
        return "\n".join(lines)

    def html(self) -> str:
        rows = self.rows()
        show_out = any(r["out_shape"] is not None for r in rows)
        show_grad = any(p[3] is not None for r in rows for p in r["params"])
        head = [
            "layer",
            "type",
            *(["output shape"] if show_out else []),
            "parameter",
            "shape",
            "count",
            *(["‖grad‖₂"] if show_grad else []),
        ]
        body = []
        for r in rows:
            params = r["params"] or [None]
            for k, p in enumerate(params):
                cells = []
                if k == 0:
                    span = f' rowspan="{len(params)}"' if len(params) > 1 else ""
                    cells.append(f'<th class="row"{span}>{esc(r["name"])}</th>')
                    kind = r["type"] + (f"({r['extra']})" if r["extra"] else "")
                    cells.append(f'<td class="text"{span}>{esc(kind)}</td>')
                    if show_out:
                        shape = "—" if r["out_shape"] is None else str(r["out_shape"])
                        cells.append(f"<td{span}>{esc(shape)}</td>")
                if p is None:
                    cells += ['<td class="muted">—</td>', "<td></td>", "<td>0</td>"]
                    cells += ["<td></td>"] if show_grad else []
                else:
                    cells += [
                        f'<td class="text">{esc(p[0])}</td>',
                        f"<td>{p[1]}</td>",
                        f"<td>{p[2]:,}</td>",
                    ]
                    if show_grad:
                        g = "—" if p[3] is None else number(p[3], 3)
                        cells.append(f'<td class="grad">{esc(g)}</td>')
                body.append("<tr>" + "".join(cells) + "</tr>")
        total = self.model.num_parameters()
        trainable = self.model.num_parameters(trainable_only=True)
        span = len(head) - (2 if show_grad else 1)
        note = "" if trainable == total else f" ({trainable:,} trainable)"
        body.append(
            f'<tr class="total"><th class="row" colspan="{span}">total{esc(note)}</th>'
            f"<td>{total:,}</td>{'<td></td>' if show_grad else ''}</tr>"
        )
        caption = f"{type(self.model).__name__}: {total:,} parameters"
        table = (
            f"<table><caption>{esc(caption)}</caption><tr>"
            + "".join(f"<th>{esc(h)}</th>" for h in head)
            + "</tr>"
            + "".join(body)
            + "</table>"
        )
        return wrap(table, CSS, "module")

    def __repr__(self):
        return self.text()

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/plain": self.text(), "text/html": self.html()}


def summary(model, *inputs) -> ModuleSummary:
    """The layer table of ``model``; with example ``inputs``, one forward pass (no graph
    recorded) fills in each layer's output shape."""
    from chainrule.autograd import no_grad
    from chainrule.nn import Module

    if not isinstance(model, Module):
        raise TypeError(f"summary: expected a chainrule Module, got {type(model).__name__}")
    shapes, handles = {}, []
    if inputs:
        for _, m in model.named_modules():

            def hook(mod, args, out):
                shapes[id(mod)] = tuple(out.shape) if hasattr(out, "shape") else None

            handles.append(m.register_forward_hook(hook))
        try:
            with no_grad():
                model(*inputs)
        finally:
            for h in handles:
                h.remove()
    return ModuleSummary(model, shapes)


def module_bundle(model) -> dict:
    s = ModuleSummary(model)
    return {"text/plain": s.text(), "text/html": s.html()}
