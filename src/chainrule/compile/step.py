"""``cr.compile``: capture a training step on its first calls, then replay it.

    @cr.compile
    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

The first two calls with a given *signature* (the shapes and dtypes of the array
arguments, the values of the other arguments, grad mode and the default dtype) run
eagerly and are recorded (:mod:`.capture`); if they agree (:mod:`.plan`), later calls
with that signature replay the recorded NumPy calls (:mod:`.replay`). Another signature
— the last, smaller batch of an epoch, float64 data — is captured separately; the cache
holds ``max_cache`` signatures (least recently used dropped first). When a guard finds
that the model, a parameter or the optimizer changed, that signature is captured again.
A branch on the step's inputs (``cross_entropy``'s fused path, taken when no label is
``ignore_index``) splits a signature into paths: captures pair up by the path their call
took, and a replay whose first check finds the other path hands the call to that path's
replay (:class:`~.replay.BranchChanged`), up to four paths per signature.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections import OrderedDict

import numpy as np

from chainrule import backend
from chainrule.autograd.mode import state as _mode
from chainrule.compile import guards as _guards
from chainrule.compile import refusals
from chainrule.compile.calls_text import inputs
from chainrule.compile.capture import Recorder
from chainrule.compile.known_calls import same_branch
from chainrule.compile.plan import StepsDiffer, plan
from chainrule.compile.refusals import CaptureError
from chainrule.compile.replay import BranchChanged, Stale, compile_replay
from chainrule.compile.source import render
from chainrule.tensor import Tensor

_MAX_ATTEMPTS = 3  # pairs of consecutive captures that may disagree before refusing
_MAX_PATHS = 4  # captures kept per signature for the paths of its branches
_MISS = object()


def _flatten(args, kwargs):
    """The step's array arguments (Tensors give their data) and its signature."""
    if not kwargs:  # the usual call, step(x, y) with arrays or Tensors: no recursion
        arrays, sig = [], [_mode.enabled, backend.get_default_dtype()]
        for v in args:
            if type(v) is Tensor:
                d = v.data
                arrays.append(d)
                # the array type too: a replay lowered to NumPy calls never sees CuPy data
                sig += (type(d), d.shape, d.dtype, v.requires_grad, d.flags.c_contiguous)
            elif type(v) is np.ndarray:
                arrays.append(v)
                sig += (v.shape, v.dtype, None, v.flags.c_contiguous)
            else:
                break
        else:
            return arrays, tuple(sig)
    arrays, sig = [], []

    def walk(v):
        if isinstance(v, Tensor):
            arrays.append(v.data)
            d = v.data
            sig.append(("T", type(d), d.shape, d.dtype.str, v.requires_grad, d.flags.c_contiguous))
        elif isinstance(v, np.ndarray):
            arrays.append(v)
            sig.append(("A", v.shape, v.dtype.str, v.flags.c_contiguous))
        elif isinstance(v, (tuple, list)):
            sig.append((type(v).__name__, len(v)))
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            sig.append(("dict", tuple(v)))
            for x in v.values():
                walk(x)
        elif v is None or isinstance(v, (bool, int, float, str)):
            sig.append(("V", type(v).__name__, v))
        else:
            sig.append(("O", id(v)))  # any other object: the same one (a model, a config)

    walk(args)
    walk(kwargs)
    sig.append((_mode.enabled, backend.get_default_dtype().str))
    return arrays, tuple(sig)


class _Entry:
    """One signature: captures waiting for their second (one per path), and the replays
    of the paths captured (the one used last first)."""

    __slots__ = ("attempts", "others", "pending", "program", "replay", "source")

    def __init__(self):
        self.attempts = 0  # captures compared so far without agreement
        self.pending = {}  # branch answers -> a capture waiting for its second
        self.replay = None
        self.source = None
        self.program = None
        self.others = []  # (replay, source, program) of the other paths, latest first

    def other_path(self, arrays):
        """Replay ``arrays`` with a capture of another path, which then comes first;
        ``_MISS`` when none takes it (each stops at its first check if not its path)."""
        for k, (replay, source, program) in enumerate(self.others):
            try:
                out = replay(arrays)
            except BranchChanged:
                continue
            except Stale:  # the model changed under this one: it is of no more use
                del self.others[k]
                return self.other_path(arrays)
            self.others[k] = (self.replay, self.source, self.program)
            self.replay, self.source, self.program = replay, source, program
            return out
        return _MISS

    def add(self, replay, source, program):
        """The newest capture replays first; the one it displaces is kept as a path."""
        if self.replay is not None:
            self.others.insert(0, (self.replay, self.source, self.program))
            del self.others[_MAX_PATHS - 1 :]
        self.replay, self.source, self.program = replay, source, program


def _branch_answers(rec):
    """What a capture's branches on the step's inputs answered (one path's key)."""
    return tuple(e[2]["expected"] for e in rec.code if e[0] == "check" and e[1] is same_branch)


class CompiledStep:
    """A step function that captures itself and replays (see :func:`compile`).

    Attributes:
        fn: the original step function (``step.fn(x, y)`` always runs eagerly).
        max_cache: how many signatures are kept.
    """

    def __init__(self, fn, max_cache=8, fallback=False):
        if not callable(fn):
            raise TypeError(f"compile: expected a function, got {type(fn).__name__}")
        if not isinstance(max_cache, int) or max_cache < 1:
            raise ValueError(f"compile: max_cache must be an int >= 1, got {max_cache!r}")
        self.fn = fn
        self.max_cache = max_cache
        self._cache: OrderedDict = OrderedDict()
        self.captures = 0  # eager runs that recorded (two per signature, more on changes)
        self.replays = 0
        self.fallback = fallback
        self.refused = None  # with fallback: why the step now always runs eagerly
        functools.update_wrapper(self, fn)

    def __repr__(self):
        name = getattr(self.fn, "__qualname__", self.fn)
        return f"<cr.compile of {name!r}: {len(self._cache)} signatures>"

    def __call__(self, *args, **kwargs):
        if _mode.anomaly is not None or self.refused is not None:
            return self.fn(*args, **kwargs)  # anomaly mode checks eager ops; or refused
        arrays, sig = _flatten(args, kwargs)
        entry = self._cache.get(sig)
        if entry is not None and entry.replay is not None:
            try:
                out = entry.replay(arrays)
            except BranchChanged:  # this batch takes the other path: replay it if known
                if self._hooked(args, kwargs):
                    return self.fn(*args, **kwargs)
                out = entry.other_path(arrays)
                if out is not _MISS:
                    self.replays += 1
                    self._cache.move_to_end(sig)
                    return out
            except Stale:
                if self._hooked(args, kwargs):  # a monitor's hooks for this call: eager
                    return self.fn(*args, **kwargs)
                del self._cache[sig]
                entry = None
            else:
                self.replays += 1
                self._cache.move_to_end(sig)
                return out
        if self._hooked(args, kwargs) or sys.getprofile() is not None:
            # forward hooks (a monitor) must see a real forward; another profiler
            # (cProfile) holds the profile slot the recorder needs: eager
            return self.fn(*args, **kwargs)
        if entry is None:
            entry = self._cache[sig] = _Entry()
            while len(self._cache) > self.max_cache:
                self._cache.popitem(last=False)
        rec = Recorder(arrays)
        rng = backend.get_rng_state() if self.fallback else None
        try:
            with rec:
                out = self.fn(*args, **kwargs)
                rec.output(out)
        except CaptureError as e:
            self._cache.pop(sig, None)
            if not self.fallback:
                raise
            self._refuse(e)
            backend.set_rng_state(rng)  # the eager rerun draws what the first try drew
            return self.fn(*args, **kwargs)
        except BaseException:
            self._cache.pop(sig, None)  # a failing step is not half-captured
            raise
        rec.release()
        self.captures += 1
        key = _branch_answers(rec)  # captures pair up by the path their batch took
        first = entry.pending.pop(key, None)
        if first is None:
            entry.pending[key] = rec
            while len(entry.pending) > _MAX_PATHS:
                del entry.pending[next(iter(entry.pending))]
            return out
        try:
            try:
                program = plan(first, rec)
            except StepsDiffer:
                # the first calls may differ from the rest (state that appears on the
                # first step, gradients accumulated from the call before): compare the
                # next call with this one, a few times, before refusing
                entry.attempts += 1
                if entry.attempts >= _MAX_ATTEMPTS:
                    raise
                entry.pending[key] = rec
                return out
            checks = _guards.guards(program, self.fn, args, kwargs)
            entry.add(*compile_replay(program, checks), program)
        except CaptureError as e:
            del self._cache[sig]
            if not self.fallback:
                raise
            self._refuse(e)  # this call ran eagerly in full: its result stands
        except BaseException:
            del self._cache[sig]
            raise
        return out

    def _refuse(self, error):
        """With ``fallback``: run eagerly from now on, and say why once."""
        self.refused = str(error)
        self._cache.clear()
        warnings.warn(f"{self.refused} — running this step eagerly", RuntimeWarning, stacklevel=3)

    def _hooked(self, args, kwargs):
        """Whether a module the step reaches has forward hooks now (a diagnostics monitor
        watching this step): such calls run eagerly, so the hooks see a real forward."""
        return any(
            m._forward_hooks
            for root in _guards.reachable_modules(self.fn, args, kwargs)
            for _, m in root.named_modules()
        )

    # --- inspection -------------------------------------------------------------------
    def _latest(self):
        for entry in reversed(self._cache.values()):
            if entry.program is not None:
                return entry
        raise RuntimeError(
            "compile: nothing is captured yet; call the step (twice, with the same shapes) first"
        )

    def replay_source(self) -> str:
        """The generated replay function of the most recent signature (for debugging)."""
        return self._latest().source

    def source(self, name="train_step") -> str:
        """The captured step as readable, runnable NumPy (see ``docs/compile.md``)."""
        return render(self._latest().program, self.fn, name)

    def source_inputs(self) -> dict:
        """Keyword arguments for running :meth:`source`'s function once, as the next replay
        would: copies of the parameters and optimizer buffers (``params``, ``state``), the
        optimizer's scalars for the next step (``hyper``), earlier gradients
        (``grads_before``) and any constants (``consts``). Nothing live is changed."""
        return inputs(self._latest().program, self.fn)

    def clear(self):
        """Forget every capture (the next calls capture again)."""
        self._cache.clear()


refusals._CALL_CODE = CompiledStep.__call__.__code__  # where "the user's line" search stops


def compile(fn=None, *, max_cache=8, fallback=False):
    """Capture a training step once and replay it as straight-line NumPy.

    ``@cr.compile`` or ``cr.compile(step, max_cache=8)``. The step runs eagerly on its
    first two calls per input signature and is replayed afterwards, bit for bit equal to
    eager mode; see :class:`CompiledStep` and ``docs/compile.md`` for what is captured,
    what is read at every call (learning rates, optimizer state, random draws) and what
    is refused.

    ``fallback=True`` turns a refusal into a ``RuntimeWarning`` and runs the step eagerly
    from then on (``step.refused`` says why). A step refused in the middle of a capture
    is run again from its start (with the random generator rewound), so use it only for
    a step that is safe to repeat up to that point — ``fit`` uses it for its forward and
    backward, which end before the optimizer's update.
    """
    if fn is None:
        return lambda f: CompiledStep(f, max_cache, fallback)
    return CompiledStep(fn, max_cache, fallback)
