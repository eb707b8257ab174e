"""What the monitor measures for one layer, on raw arrays.

Saturation (sigmoid and tanh): a unit is saturated on an example when its output is
within 1 % of the activation's bounds, where the local derivative has all but vanished:

* sigmoid: σ(a) < 0.01 or σ(a) > 0.99  ⇔  |a| > ln 99 ≈ 4.595, so σ'(a) < 0.0099
  (under 4 % of σ's maximum slope 1/4);
* tanh: |tanh a| > 0.99  ⇔  |a| > atanh 0.99 ≈ 2.647, so tanh'(a) = 1 − tanh² a < 0.0199
  (under 2 % of its maximum slope 1).

The saturated fraction is taken over all (example, unit) pairs of the batch.

Dead ReLU units: a unit is dead over a window when its pre-activation ``a = W h + b`` is
≤ 0 for every example in the window — then ReLU'(a) = 0 and no gradient reaches its
weights.

Symmetry: hidden units are identical when all rows of ``[W | b]`` are equal to
tolerance; identical units get identical gradients, so gradient descent cannot tell them
apart: initialization must break the symmetry.
"""

from __future__ import annotations

import math

import numpy as np

SATURATION_THRESHOLD = {"sigmoid": math.log(99.0), "tanh": math.atanh(0.99)}
HIST_BINS = 24


def finite_or_none(x):
    """A float for JSON, or None when it is NaN or infinite (JSON has no NaN)."""
    x = float(x)
    return x if math.isfinite(x) else None


def norm(a) -> float:
    """Euclidean (Frobenius) norm: one BLAS dot in the array's own dtype (no copy), redone
    in float64 when float32 squares overflow (callers silence that overflow warning with
    one ``np.errstate`` around a whole record, which is cheaper than one per call)."""
    a = np.asarray(a)
    if a.size == 0:
        return 0.0
    flat = a.reshape(-1)
    sq = float(np.dot(flat, flat))
    if math.isinf(sq) and a.dtype != np.float64 and np.isfinite(flat).all():
        flat = flat.astype(np.float64)
        sq = float(np.dot(flat, flat))
    return math.sqrt(sq) if sq == sq else float("nan")


def saturated_fraction(a, activation):
    """Fraction of (example, unit) pairs in the flat part of a sigmoid/tanh, else None."""
    thr = SATURATION_THRESHOLD.get(activation)
    if thr is None or a.size == 0:
        return None
    return float(np.count_nonzero(np.abs(a) > thr)) / a.size


def alive_mask(a, activation):
    """Per unit: did it pass any gradient on this batch (ReLU only; else None)."""
    if activation != "relu":
        return None
    return (a > 0).any(axis=0)


def histogram(a, bins=HIST_BINS):
    """A small histogram of ``a`` for the record: ``{"lo", "hi", "counts"}``, ``bins``
    equal bins over [min, max] (a bincount: np.histogram costs ten times more)."""
    a = np.asarray(a).reshape(-1)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        a = a[np.isfinite(a)]
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if a.size == 0:
        return {"lo": 0.0, "hi": 0.0, "counts": [0] * bins}
    if hi <= lo:
        hi = lo + 1e-12
    idx = ((a - lo) * (bins / (hi - lo))).astype(np.intp)
    np.minimum(idx, bins - 1, out=idx)  # the maximum lands in the last bin
    return {"lo": lo, "hi": hi, "counts": np.bincount(idx, minlength=bins).tolist()}


def preactivation_stats(a, activation):
    """Mean, std, saturated fraction and histogram of one batch of pre-activations.

    Mean and variance come from Σa and Σa² (one reduction and one BLAS dot, accumulated
    in float64 for the sum): var = Σa²/n − mean². The monitor runs this on every sampled
    batch, where NumPy's per-call overhead, not the arithmetic, is the cost.
    """
    a = np.asarray(a)
    a2 = a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a.reshape(1, -1)
    n = a2.size
    if n == 0:
        return {
            "preact_mean": None,
            "preact_std": None,
            "saturated": None,
            "hist": histogram(a2),
        }, alive_mask(a2, activation)
    flat = a2.reshape(-1)
    mean = float(flat.sum(dtype=np.float64)) / n
    var = float(np.dot(flat, flat)) / n - mean * mean
    if var < 1e-4 * mean * mean:  # Σa²/n − mean² cancels: take the two-pass route
        var = float(flat.var(dtype=np.float64))
    return {
        "preact_mean": finite_or_none(mean),
        "preact_std": finite_or_none(math.sqrt(var) if var > 0 else 0.0),
        "saturated": saturated_fraction(a2, activation),
        "hist": histogram(flat),
    }, alive_mask(a2, activation)


def identical_units(weight, bias=None, rtol=1e-5, atol=1e-8) -> bool:
    """Are all units (rows of ``[W | b]``) equal to tolerance? One pass over W."""
    w = np.asarray(weight)
    if w.shape[0] < 2:
        return False
    scale = float(np.abs(w).max())
    if not math.isfinite(scale):
        return False
    if bias is not None:
        b = np.asarray(bias)
        scale = max(scale, float(np.abs(b).max()))
        tol = atol + rtol * scale
        if float(np.abs(b - b[0]).max()) > tol:
            return False
    tol = atol + rtol * scale
    return bool(float(np.abs(w - w[0]).max()) <= tol)


__all__ = [
    "HIST_BINS",
    "SATURATION_THRESHOLD",
    "alive_mask",
    "finite_or_none",
    "histogram",
    "identical_units",
    "norm",
    "preactivation_stats",
    "saturated_fraction",
]
