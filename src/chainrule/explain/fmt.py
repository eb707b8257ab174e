"""Numbers and arrays as narration text: Unicode minus, significant digits, summaries.

Values with at most :data:`SMALL` elements are written out in full (``[[0.1, 0.5],
[−0.3, 0.8]]``); larger ones as their shape and a summary (mean, min, max, norm).
"""

from __future__ import annotations

import math

import numpy as np

SMALL = 12  # write tensors with at most this many elements out in full
MINUS = "\u2212"

# Unicode -> ASCII, for terminals that cannot print the narration's math
ASCII = str.maketrans(
    {
        MINUS: "-",
        "∂": "d",
        "σ": "sigma",
        "·": "*",
        "×": "*",
        "⊙": "*",
        "•": "*",
        "∇": "grad ",
        "ᵀ": "^T",
        "²": "^2",
        "√": "sqrt",
        "Σ": "sum ",
        "‖": "||",
        "→": "->",
        "←": "<-",
        "≈": "~",
        "≠": "!=",
        "✓": "ok",
        "✗": "MISMATCH",
        "⚠": "!",
        "∞": "inf",
        "÷": "/",
        "—": "--",
        "…": "...",
        "δ": "delta",
        "α": "alpha",
        "│": "|",
        "─": "-",
    }
)


def to_ascii(text):
    """Replace the narration's Unicode math by ASCII (``∂f/∂x`` -> ``df/dx``)."""
    return text.translate(ASCII)


def number(v, precision=4):
    """One number: integers without a decimal point, else ``precision`` significant digits."""
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "∞" if v > 0 else MINUS + "∞"
    if v == 0:
        return "0"
    if v == round(v) and abs(v) < 1e15:
        text = str(round(v))
    else:
        text = f"{v:.{precision}g}"
        if "e" in text:
            mant, exp = text.split("e")
            text = f"{mant}e{int(exp)}"
    return text.replace("-", MINUS)


def paren(text):
    """Wrap a negative number (or anything with a leading minus) in parentheses."""
    return f"({text})" if text.startswith(MINUS) or text.startswith("-") else text


def array(a, precision=4, full=SMALL):
    """``a`` written out (small) or summarised (large)."""
    a = np.asarray(a)
    if a.ndim == 0:
        return number(a, precision)
    if a.size <= full:
        return _nested(a, precision)
    return summary(a, precision)


def _nested(a, precision):
    if a.ndim == 1:
        return "[" + ", ".join(number(v, precision) for v in a) + "]"
    return "[" + ", ".join(_nested(r, precision) for r in a) + "]"


def shape(a):
    s = tuple(np.shape(a))
    return "(" + ", ".join(str(d) for d in s) + ("," if len(s) == 1 else "") + ")"


def summary(a, precision=4):
    """Shape and statistics: ``shape (3, 784): mean 0.01, min −0.2, max 0.3, ‖·‖ 4.5``."""
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(all="ignore"):
        if a.size == 0:
            return f"shape {shape(a)}: empty"
        stats = (
            f"mean {number(a.mean(), precision)}, min {number(a.min(), precision)}, "
            f"max {number(a.max(), precision)}, ‖·‖ {number(np.linalg.norm(a), precision)}"
        )
    return f"shape {shape(a)}: {stats}"


def short(a, precision=3, limit=4):
    """A wire label: the number, a tiny vector, or just the shape."""
    a = np.asarray(a)
    if a.ndim == 0:
        return number(a, precision)
    if a.size <= limit:
        return _nested(a, precision)
    return "×".join(str(d) for d in a.shape)


def is_scalar(a):
    return np.asarray(a).size == 1


def fill(template, values):
    """Format ``template`` with ``values`` ({0}, {1}, ...), parenthesising negative values
    that follow an operator (``1 · (−4)``) but not one that opens the text, a call or a
    right-hand side (``= −4``)."""
    out, i = [], 0
    while i < len(template):
        c = template[i]
        if c == "{":
            j = template.index("}", i)
            key = template[i + 1 : j]
            if isinstance(values, dict):
                text = values[key]
            else:
                text = values[int(key)]
            before = "".join(out).rstrip()
            if before and before[-1] not in "([,=":
                text = paren(text)
            out.append(text)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def finite(a):
    with np.errstate(all="ignore"):
        return bool(np.all(np.isfinite(np.asarray(a, dtype=np.float64))))


def json_number(v):
    """A float for JSON / data attributes: ``repr`` for finite values, else a word."""
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)
