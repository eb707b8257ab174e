"""Printing an optimizer's kernel: run it once with a recording ``xp`` and scalars that
remember their names, so the printed update is exactly the kernel's statements."""

from __future__ import annotations

import numpy as np


class Num(float):
    """A float that remembers how it was computed (``1.0 - lr * weight_decay``), so a
    kernel run with it prints its scalars by name; arithmetic is plain float math."""

    def __new__(cls, value, text):
        obj = super().__new__(cls, value)
        obj.text = text
        return obj

    def _op(self, other, fmt, fn):
        value = fn(float(self), float(other))
        other_text = other.text if isinstance(other, Num) else repr(other)
        return Num(value, fmt.format(a=self.text, b=other_text))

    def __add__(self, o):
        return self._op(o, "({a} + {b})", lambda a, b: a + b)

    def __radd__(self, o):
        return self._op(o, "({b} + {a})", lambda a, b: b + a)

    def __sub__(self, o):
        return self._op(o, "({a} - {b})", lambda a, b: a - b)

    def __rsub__(self, o):
        return self._op(o, "({b} - {a})", lambda a, b: b - a)

    def __mul__(self, o):
        return self._op(o, "{a} * {b}", lambda a, b: a * b)

    def __rmul__(self, o):
        return self._op(o, "{b} * {a}", lambda a, b: b * a)

    def __truediv__(self, o):
        return self._op(o, "{a} / {b}", lambda a, b: a / b)

    def __rtruediv__(self, o):
        return self._op(o, "{b} / {a}", lambda a, b: b / a)

    def __neg__(self):
        return Num(-float(self), f"-{self.text}")


_IN_PLACE = {"add": "+=", "subtract": "-=", "multiply": "*=", "divide": "/="}


class _AnyName(dict):
    """Names for a probing run of a kernel: every array is called ``a``."""

    def __missing__(self, key):
        return "a"


class _RecordingXP:
    """The ``xp`` a kernel receives while it is printed: runs NumPy, writes each call."""

    def __init__(self, names, lines):
        self.names, self.lines = names, lines

    def _arg(self, a):
        if isinstance(a, Num):
            return a.text
        if isinstance(a, np.ndarray):
            return self.names[id(a)]
        return repr(a)

    def __getattr__(self, fname):
        fn = getattr(np, fname)

        def call(*args, out=None, **kw):
            raw = [float(a) if isinstance(a, Num) else a for a in args]
            result = fn(*raw, out=out, **kw) if out is not None else fn(*raw, **kw)
            texts = [self._arg(a) for a in args]
            if out is not None and fname in _IN_PLACE and out is args[0] and len(args) == 2:
                self.lines.append(f"{texts[0]} {_IN_PLACE[fname]} {texts[1]}")
            elif out is not None:
                self.lines.append(f"np.{fname}({', '.join(texts)}, out={self._arg(out)})")
            else:
                self.lines.append(f"np.{fname}({', '.join(texts)})")
            return result

        return call
