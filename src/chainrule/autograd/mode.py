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


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(mode)``: as PyTorch, both a call that sets grad mode now and a
    context manager (``with cr.set_grad_enabled(training): ...``) that restores it."""

    def __init__(self, mode):
        if not isinstance(mode, (bool, int)):
            raise TypeError(f"set_grad_enabled: mode must be True or False, got {mode!r}")
        self._prev = state.enabled
        self._mode = bool(mode)
        state.enabled = self._mode  # takes effect at once, as torch.set_grad_enabled

    def __enter__(self):
        return self

    def __call__(self, fn):
        mode = self._mode
        state.enabled = self._prev  # as a decorator it only applies inside the function

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper
