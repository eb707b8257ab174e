"""Anomaly mode: stop at the first operation that makes a NaN or an infinity.

``with cr.detect_anomaly(): ...`` (or ``@cr.detect_anomaly()``) installs a checker on the
engine's hook ``chainrule.autograd.mode.state.anomaly``:

* ``check_forward(prim, inputs, out)`` runs after every op's forward. If ``out`` holds a
  NaN or an infinity, the op is named together with the line of user code that called it;
  if one of the *inputs* was already non-finite (a leaf the user made, since any op
  result would have been caught where it was made), the message says so instead.
* ``check_backward(t, i, g_i)`` runs for every gradient the backward walk computes. The
  first non-finite one names the op whose VJP produced it and where that op was created
  in the forward pass — remembered at forward time for every tensor that requires grad.

Outside anomaly mode the hook is ``None`` and the engine pays one attribute test per op.
"""

from __future__ import annotations

import functools
import linecache
import os
import sys
import weakref

from chainrule.autograd import mode
from chainrule.backend import xp

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_CLI_PARTS = (_PACKAGE_DIR + "cli" + os.sep, _PACKAGE_DIR + "__main__.py")
# the engine itself: never the "line that created" an op
_ENGINE_PARTS = tuple(
    _PACKAGE_DIR + p for p in ("autograd" + os.sep, "ops" + os.sep, "tensor.py", "diagnostics")
)


class AnomalyError(FloatingPointError, ValueError):
    """An op produced NaN or inf under :func:`detect_anomaly`.

    A ``FloatingPointError``; also a ``ValueError``, so the ``chainrule`` command reports
    it as one line (exit status 2) rather than a traceback.

    Attributes: ``op`` (the primitive's name), ``phase`` ("forward" or "backward"),
    ``kind`` ("nan", "inf" or "nan and inf"), ``location`` ("file:line" or None).
    """

    def __init__(self, message, op=None, phase=None, kind=None, location=None):
        super().__init__(message)
        self.op = op
        self.phase = phase
        self.kind = kind
        self.location = location


def user_frame(start):
    """The first frame, walking outwards from ``start``, in code the user wrote.

    Prefers a frame outside the chainrule package; under the ``chainrule`` command (where
    the whole loop is library code, and the only outside frame is the console script)
    falls back to the first frame outside the engine — the layer's forward.
    """
    frame = start
    fallback = None
    while frame is not None:
        fname = frame.f_code.co_filename
        if fname.startswith(_CLI_PARTS):
            return fallback
        if not fname.startswith(_PACKAGE_DIR):
            return frame
        if fallback is None and not fname.startswith(_ENGINE_PARTS):
            fallback = frame
        frame = frame.f_back
    return fallback


def describe_frame(frame):
    """``file.py:42: `the source line``` for a frame (or None)."""
    if frame is None:
        return None
    fname, line = frame.f_code.co_filename, frame.f_lineno
    source = linecache.getline(fname, line).strip()
    where = f"{os.path.basename(fname)}:{line}"
    return f"{where}: `{source}`" if source else where


def _inside_backward(frame):
    """Whether the engine's backward walk is on the stack (VJPs run as ops)."""
    engine = _PACKAGE_DIR + os.path.join("autograd", "engine.py")
    while frame is not None:
        if frame.f_code.co_name == "run_backward" and frame.f_code.co_filename == engine:
            return True
        frame = frame.f_back
    return False


def _nonfinite_kind(arr):
    """None if ``arr`` is all finite (or not floating point), else "nan"/"inf"/"nan and inf"."""
    if arr.dtype.kind not in "fc" or bool(xp.isfinite(arr).all()):
        return None
    has_nan = bool(xp.isnan(arr).any())
    has_inf = bool(xp.isinf(arr).any())
    return "nan and inf" if has_nan and has_inf else ("nan" if has_nan else "inf")


class AnomalyChecker:
    """The object installed as ``state.anomaly``; see the module docstring."""

    def __init__(self):
        # id(tensor) -> (weakref, "file:line: `code`"); entries vanish with their tensor
        self._created_at = {}

    def _forget(self, key):
        def callback(_ref, created_at=self._created_at):
            created_at.pop(key, None)

        return callback

    def check_forward(self, prim, inputs, out):
        kind = _nonfinite_kind(out.data)
        if kind is None:
            if out.requires_grad:
                key = id(out)
                where = describe_frame(user_frame(sys._getframe(1)))
                self._created_at[key] = (weakref.ref(out, self._forget(key)), where)
            return
        where = describe_frame(user_frame(sys._getframe(1)))
        at = f" (created at {where})" if where else ""
        for k, t in enumerate(inputs):
            bad = _nonfinite_kind(t.data)
            if bad is not None:
                if t._op is not None:
                    source = f"made by '{t._op.name}'"
                elif t.requires_grad:
                    source = "a parameter, made non-finite outside the graph, e.g. by an update"
                else:
                    source = "a leaf tensor: the data"
                raise AnomalyError(
                    f"detect_anomaly: input {k} of '{prim.name}' already contained {bad} "
                    f"({source}){at}",
                    op=prim.name,
                    phase="forward",
                    kind=bad,
                    location=where,
                )
        if _inside_backward(sys._getframe(1)):
            # create_graph=True: the VJPs run as recorded ops, so the culprit shows up here
            raise AnomalyError(
                f"detect_anomaly: '{prim.name}' produced {kind} while computing gradients "
                f"(a VJP recorded with create_graph=True){at}",
                op=prim.name,
                phase="backward",
                kind=kind,
                location=where,
            )
        raise AnomalyError(
            f"detect_anomaly: '{prim.name}' produced {kind} in the forward pass{at}",
            op=prim.name,
            phase="forward",
            kind=kind,
            location=where,
        )

    def check_backward(self, t, i, g_i):
        arr = g_i.data if hasattr(g_i, "requires_grad") else g_i
        kind = _nonfinite_kind(arr)
        if kind is None:
            return
        entry = self._created_at.get(id(t))
        where = entry[1] if entry is not None and entry[0]() is t else None
        at = f" (the op was created at {where})" if where else ""
        name = t._op.name if t._op is not None else "?"
        raise AnomalyError(
            f"detect_anomaly: the backward of '{name}' produced {kind} in the gradient of "
            f"its input {i}{at}",
            op=name,
            phase="backward",
            kind=kind,
            location=where,
        )


class detect_anomaly:
    """Raise :class:`AnomalyError` at the first op that makes a NaN or inf.

    Use as a context manager (``with cr.detect_anomaly(): loss.backward()``) or as a
    decorator (``@cr.detect_anomaly()``). Checking every op's output costs a pass over
    it, so keep it for debugging. Nested uses share the outermost checker.
    """

    def __init__(self):
        self._prev = None

    def __enter__(self):
        self._prev = mode.state.anomaly
        if self._prev is None:
            mode.state.anomaly = AnomalyChecker()
        return self

    def __exit__(self, *exc):
        mode.state.anomaly = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with detect_anomaly():
                return fn(*args, **kwargs)

        return wrapper


__all__ = ["AnomalyChecker", "AnomalyError", "detect_anomaly", "user_frame"]
