"""Turning a user's ``rng`` argument into a NumPy Generator, and its state into JSON.

Every random choice in ``chainrule.data`` (shuffles, splits, synthetic points) takes
``rng``/``seed`` as an int or a ``numpy.random.Generator``, so a run is reproducible from
one number yet can share a generator when the caller wants that. The JSON round trip is
what lets a ``DataLoader`` checkpoint sit in a plain JSON file next to the weights.
"""

from __future__ import annotations

import numbers

import numpy as np


def as_generator(rng) -> np.random.Generator:
    """An int seed (or None for fresh OS entropy) becomes a new Generator; a Generator is
    returned as is (the caller shares it)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be an int seed or a numpy.random.Generator, got {rng!r}")


def _to_json(value):
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    return value


def generator_state(gen: np.random.Generator) -> dict:
    """The bit generator's state as plain dicts, lists and ints (JSON-serialisable)."""
    return _to_json(gen.bit_generator.state)


def _like(template, value):
    """``value`` (from JSON) shaped like ``template``: lists become arrays of its dtype."""
    if isinstance(template, dict):
        return {k: _like(template[k], value[k]) if k in template else value[k] for k in value}
    if isinstance(template, np.ndarray):
        return np.asarray(value, dtype=template.dtype)
    return value


def set_generator_state(gen: np.random.Generator, state: dict) -> np.random.Generator:
    """Restore ``state`` (from ``generator_state``) into ``gen`` if it has the same kind of
    bit generator, else into a new Generator of the recorded kind; return the result."""
    kind = state.get("bit_generator")
    if gen.bit_generator.state.get("bit_generator") != kind:
        bitgen_cls = getattr(np.random, str(kind), None)
        if not (isinstance(bitgen_cls, type) and issubclass(bitgen_cls, np.random.BitGenerator)):
            raise ValueError(f"unknown bit generator {kind!r} in saved generator state")
        gen = np.random.Generator(bitgen_cls())
    gen.bit_generator.state = _like(gen.bit_generator.state, state)
    return gen
