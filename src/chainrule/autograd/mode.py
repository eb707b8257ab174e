"""Grad mode: whether ops record the graph (``no_grad``, ``enable_grad``).

The flag lives on a tiny state object that :func:`chainrule.autograd.primitive.apply`
reads once per op, so switching it costs nothing on the hot path.
"""

from __future__ import annotations

import functools


class _State:
    __slots__ = ("anomaly", "enabled")

    def __init__(self):
        self.enabled = True  # record ops into the graph
        self.anomaly = None  # an anomaly checker (see chainrule.diagnostics), or None


state = _State()


def is_grad_enabled() -> bool:
    """True when new ops are recorded for backward."""
    return state.enabled


class _GradMode:
    """Context manager and decorator that sets grad mode and restores it on exit."""

    _mode = True

    def __enter__(self):
        self._prev = state.enabled
        state.enabled = self._mode
        return self

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Run without recording the graph: ``with cr.no_grad(): ...`` or ``@cr.no_grad()``."""

    _mode = False


class enable_grad(_GradMode):
    """Record the graph again inside a ``no_grad`` block."""

    _mode = True
