"""The array backend: the one place that imports NumPy (or CuPy) for tensor math.

Everything that does arithmetic on raw arrays asks this module for the array namespace
(``xp``), the default floating dtype and the random generator. Ops never branch on the
backend: a CuPy array goes through the same code with ``xp = cupy``.
"""

from __future__ import annotations

import numpy

xp = numpy  # the default namespace; ``namespace_of`` picks CuPy for CuPy arrays

_default_dtype = numpy.dtype(numpy.float32)
_rng = numpy.random.default_rng(0)


def namespace_of(array):
    """The array module (numpy or cupy) that owns ``array``."""
    if type(array).__module__.startswith("cupy"):
        import cupy

        return cupy
    return numpy


def get_default_dtype():
    """The floating dtype that Python numbers and lists become (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype):
    """Set the floating dtype for new tensors made from Python data: float32 or float64."""
    global _default_dtype
    dt = numpy.dtype(dtype)
    if dt.kind != "f":
        raise ValueError(f"set_default_dtype: expected a floating dtype, got {dt}")
    _default_dtype = dt


def manual_seed(seed: int):
    """Reseed chainrule's generator, which drives ``randn``, ``rand``, init and dropout."""
    global _rng
    _rng = numpy.random.default_rng(seed)
    return _rng


def rng():
    """The current global ``numpy.random.Generator``."""
    return _rng


def get_rng_state() -> dict:
    """The global generator's state as a JSON-serialisable dict (for checkpoints)."""
    return _rng.bit_generator.state


def set_rng_state(state: dict):
    """Restore a state returned by :func:`get_rng_state`."""
    _rng.bit_generator.state = state
