"""What ``cr.compile`` refuses, by name: the error type and the messages that name the line.

A captured step is replayed without running its Python code again, so anything the
replay could not repeat exactly is refused while capturing, never mis-replayed: reading a
tensor's value into Python, in-place tensor edits, hooks, ``create_graph``, arrays that
change between calls without coming from the step's arguments, and Python control flow
that took a different path on the two capture calls.
"""

from __future__ import annotations

import os
import sys

# chainrule/ itself (this file is chainrule/compile/refusals.py)
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
# files whose frames never count as "the user's line": the engine and this package
_ENGINE_PARTS = ("autograd", "ops", "compile", "tensor.py", "creation.py", "backend.py")


_CALL_CODE = None  # CompiledStep.__call__'s code, set by chainrule.compile.step


class CaptureError(RuntimeError):
    """``cr.compile`` cannot capture this step; the message says what, where and what to do."""


def user_line(frame=None) -> str:
    """``file:line`` (and the source text) of the innermost frame outside chainrule.

    Falls back to the innermost frame outside the engine when the whole stack is
    chainrule's own (a step built by ``fit`` calling a chainrule loss).
    """
    frame = frame if frame is not None else sys._getframe(1)
    fallback = None
    f = frame
    while f is not None:
        if f.f_code is _CALL_CODE:  # beyond this frame is the step's caller, not the step
            break
        path = os.path.abspath(f.f_code.co_filename)
        if not path.startswith(_PACKAGE_DIR):
            return _describe(f)
        rel = path[len(_PACKAGE_DIR) :]
        if fallback is None and not rel.startswith(_ENGINE_PARTS):
            fallback = f
        f = f.f_back
    return _describe(fallback or frame)


def _describe(frame) -> str:
    import linecache

    text = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
    return f"{where} ({text})" if text else where


def value_read(what: str, frame) -> CaptureError:
    return CaptureError(
        f"cr.compile: the step reads a tensor's value into Python ({what}) at "
        f"{user_line(frame)}; a replayed step never runs that line again, so the value "
        "would be frozen at the captured one. Move it out of the step (use the returned "
        "loss after the call), or run this step without compile"
    )


def in_place(what: str, frame) -> CaptureError:
    return CaptureError(
        f"cr.compile: in-place tensor operation {what} at {user_line(frame)} is not "
        "captured; use an optimizer from cr.optim (or an out-of-place op) inside the step, "
        "or do the in-place update outside it"
    )


def hooks(what: str) -> CaptureError:
    return CaptureError(
        f"cr.compile: {what}: hooks run Python code during backward, which a replay does "
        "not repeat; remove the hook or run this step without compile"
    )


def create_graph(frame) -> CaptureError:
    return CaptureError(
        f"cr.compile: backward with create_graph=True at {user_line(frame)} (higher-order "
        "gradients) is not captured; run this step without compile"
    )


def unknown(message: str) -> CaptureError:
    return CaptureError(f"cr.compile: {message}")
