"""A tensor in a notebook: its numbers (and gradient) when small, a summary when large.

Small means at most :data:`MAX_ROWS` × :data:`MAX_COLS` per matrix and :data:`MAX_CELLS`
numbers in all; anything larger is shown as shape, dtype and statistics — min, mean and
max over the finite entries, the norm ‖t‖ = √(Σ tᵢ²), the share of exact zeros, the
number of nan/inf, the gradient's norm — each one vectorised pass over the data, so a
10⁶-element tensor is summarised in milliseconds.
"""

from __future__ import annotations

import math

import numpy as np

from chainrule.display.scope import esc, wrap

MAX_ROWS = 12
MAX_COLS = 12
MAX_CELLS = 144

CSS = """
{root} td.cell { min-width: 3.2em; }
{root} .pane h4 { margin: 0 0 2px; font-size: 13px; }
"""


def _host(a):
    """``a`` as a NumPy array (copies a CuPy array to the host)."""
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def number(v, precision=4) -> str:
    """One entry as text: integers and booleans as they are, floats to ``precision`` digits."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "−inf"
    text = f"{v:.{precision}g}"
    return text.replace("-", "−")


def is_small(a) -> bool:
    """Whether every entry of ``a`` fits on screen as a table."""
    shape = np.shape(a)
    if len(shape) == 0:
        return True
    rows = shape[-2] if len(shape) >= 2 else 1
    return np.size(a) <= MAX_CELLS and rows <= MAX_ROWS and shape[-1] <= MAX_COLS


def stats(a) -> dict:
    """Summary statistics of an array (any size; a few vectorised passes).

    Keys: ``size``, ``min``/``mean``/``max`` over the finite entries (None if none),
    ``norm`` = √(Σ aᵢ²) over the finite entries, ``zeros`` (share of exact zeros),
    ``nan`` and ``inf`` (counts). Sums run in float64 whatever the dtype; the masks for
    nan/inf are built only when the total says there is one (a finite sum of finite
    numbers), so a clean 10⁶-element tensor costs about five passes over its data.
    """
    from chainrule.backend import namespace_of

    xp = namespace_of(a)
    out = {"size": int(a.size), "nan": 0, "inf": 0}
    if a.size == 0:
        return {**out, "min": None, "mean": None, "max": None, "norm": 0.0, "zeros": 0.0}
    flat = a.reshape(-1)
    if flat.dtype.kind == "b":
        flat = flat.view(np.uint8)
    out["zeros"] = 1.0 - float(xp.count_nonzero(flat)) / a.size
    f64 = flat.astype(np.float64, copy=False)
    with np.errstate(all="ignore"):  # inf − inf in the sum is how a mixed tensor shows
        total = float(f64.sum())
    if not math.isfinite(total):
        finite = xp.isfinite(f64)
        n_finite = int(xp.count_nonzero(finite))
        out["nan"] = int(xp.count_nonzero(xp.isnan(f64)))
        out["inf"] = a.size - n_finite - out["nan"]
        if n_finite == 0:
            return {**out, "min": None, "mean": None, "max": None, "norm": float("nan")}
        if n_finite < a.size:
            flat, f64 = flat[finite], f64[finite]
            total = float(f64.sum())
    out["min"] = float(flat.min())  # exact in the tensor's own dtype
    out["max"] = float(flat.max())
    out["mean"] = total / f64.size
    out["norm"] = math.sqrt(float(xp.einsum("i,i->", f64, f64)))
    return out


def _matrix_html(a, cls, precision):
    """One 0-, 1- or 2-d array as a table body with row/column indices."""
    if a.ndim == 0:
        cell = esc(number(a[()], precision))
        return f'<table><tr><td class="cell {cls}">{cell}</td></tr></table>'
    m = a.reshape(1, -1) if a.ndim == 1 else a
    head = "".join(f"<th>{j}</th>" for j in range(m.shape[1]))
    rows = []
    for i, row in enumerate(m):
        label = "" if a.ndim == 1 else str(i)
        cells = "".join(f'<td class="cell {cls}">{esc(number(v, precision))}</td>' for v in row)
        rows.append(f'<tr><th class="row">{label}</th>{cells}</tr>')
    return f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def _slices_html(a, cls, precision):
    """A ≥3-d array as one table per trailing matrix, each captioned with its index."""
    if a.ndim <= 2:
        return _matrix_html(a, cls, precision)
    parts = []
    for idx in np.ndindex(*a.shape[:-2]):
        label = "[" + ", ".join(str(i) for i in idx) + ", :, :]"
        table = _matrix_html(a[idx], cls, precision)
        parts.append(f'<div class="muted">{esc(label)}</div>{table}')
    return "".join(parts)


def _headline(t) -> str:
    bits = [f"shape {tuple(t.shape)}", f"dtype {t.dtype}"]
    if t.name:
        bits.insert(0, f"name {t.name}")
    if t._op is not None:
        bits.append(f"op {t._op.name}")
    if t.requires_grad:
        bits.append("requires_grad")
    if not isinstance(t.data, np.ndarray):
        bits.append(f"on {type(t.data).__module__.split('.')[0]}")
    return " · ".join(bits)


def _summary_rows(s, precision):
    rows = [("elements", f"{s['size']:,}")]
    for key in ("min", "mean", "max"):
        rows.append((key, "—" if s[key] is None else number(s[key], precision)))
    rows.append(("‖·‖₂", number(s["norm"], precision)))
    rows.append(("zeros", f"{100 * s['zeros']:.1f}%"))
    if s["nan"] or s["inf"]:
        rows.append(("nan / inf", f"{s['nan']:,} / {s['inf']:,}"))
    return rows


def summary_text(t, precision=4, value_stats=None, grad_stats=None) -> str:
    """One paragraph describing ``t`` (used for large tensors' text/plain)."""
    s = value_stats or stats(t.data)
    parts = [f"{k} {v}" for k, v in _summary_rows(s, precision)]
    line = f"tensor {_headline(t)}\n  " + ", ".join(parts)
    if t.grad is not None:
        g = grad_stats or stats(t.grad.data)
        line += f"\n  grad ‖·‖₂ {number(g['norm'], precision)}"
    return line


def tensor_html(t, precision=4, value_stats=None, grad_stats=None) -> str:
    """The tensor as HTML: value (and gradient) tables when small, else a summary table."""
    head = f'<div class="head">{esc(_headline(t))}</div>'
    grad = t.grad.data if t.grad is not None else None
    if is_small(t.data):
        panes = [
            '<div class="pane"><h4 class="val">value</h4>'
            + _slices_html(_host(t.data), "val", precision)
            + "</div>"
        ]
        if grad is not None:
            panes.append(
                '<div class="pane"><h4 class="grad">grad</h4>'
                + _slices_html(_host(grad), "grad", precision)
                + "</div>"
            )
        return wrap(head + f'<div class="panes">{"".join(panes)}</div>', CSS, "tensor")
    cols = [("value", value_stats or stats(t.data))]
    if grad is not None:
        cols.append(("grad", grad_stats or stats(grad)))
    names = [name for name, _ in _summary_rows(cols[0][1], precision)]
    if len(cols) > 1:
        names += [n for n, _ in _summary_rows(cols[1][1], precision) if n not in names]
    table = {name: {} for name in names}
    for col, s in cols:
        for name, text in _summary_rows(s, precision):
            table[name][col] = text
    header = "".join(f'<th class="{c}">{c}</th>' for c, _ in cols)
    body = "".join(
        f'<tr><th class="row">{esc(name)}</th>'
        + "".join(f'<td class="{c}">{esc(table[name].get(c, "—"))}</td>' for c, _ in cols)
        + "</tr>"
        for name in names
    )
    return wrap(head + f"<table><tr><th></th>{header}</tr>{body}</table>", CSS, "tensor")


def tensor_bundle(t, precision=4) -> dict:
    """``text/plain`` (the repr, or the summary when large) and ``text/html``."""
    if is_small(t.data):
        text = repr(t)
        if t.grad is not None:
            text += f"\ngrad: {t.grad!r}"
        return {"text/plain": text, "text/html": tensor_html(t, precision)}
    vs = stats(t.data)  # once for both formats
    gs = stats(t.grad.data) if t.grad is not None else None
    return {
        "text/plain": summary_text(t, precision, vs, gs),
        "text/html": tensor_html(t, precision, vs, gs),
    }
