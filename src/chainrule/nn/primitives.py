"""Primitives that ``chainrule.nn`` adds to the engine: erf, gelu, elu, log_sigmoid and
the elementwise binary cross-entropy.

They are registered with the same public API users have (``cr.defprimitive`` with its
description fields, ``tensor_function``, ``cr.apply``). Each one is fused (one graph
node) for the reason given in its block, and each VJP is written with the ``F``
namespace only, so it is itself differentiable: ``create_graph=True`` gives second (and
higher) derivatives. ``tensor_function`` puts each wrapper into the engine's ``DIFF``
namespace, which is what lets a VJP call ``F.erf`` in either mode.

Backward formulas follow PyTorch's (``derivatives.yaml`` / ``Activation.cpp``), so
float64 gradients agree with torch to rounding.
"""

from __future__ import annotations

import math

from chainrule import backend
from chainrule.autograd.primitive import apply, defprimitive, tensor_function
from chainrule.backend import xp
from chainrule.ops.alignment import binary_operands
from chainrule.ops.operands import lift

_SQRT1_2 = 1.0 / math.sqrt(2.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)  # φ(0), the normal density's peak
_GELU_TANH_BETA = math.sqrt(2.0 / math.pi)
_GELU_TANH_KAPPA = 0.044715


# ---------------------------------------------------------------- erf
_erf_numpy = None


def _erf(x):
    """erf on raw arrays. NumPy has none: SciPy's vectorized one when SciPy is installed
    (it comes with the ``sklearn`` and ``test`` extras), else the C library's ``math.erf``
    element by element (exact, ~50x slower)."""
    global _erf_numpy
    if backend.namespace_of(x) is not xp:  # CuPy
        from cupyx.scipy.special import erf  # optional dependency: only with CuPy arrays

        return erf(x)
    if _erf_numpy is None:
        try:
            from scipy.special import erf as _erf_numpy  # optional dependency (SciPy)
        except ImportError:  # pragma: no cover - depends on the environment
            ufunc = xp.frompyfunc(math.erf, 1, 1)
            _erf_numpy = lambda a: ufunc(a).astype(a.dtype)  # noqa: E731
    out = _erf_numpy(x)
    return out.astype(x.dtype, copy=False) if out.dtype != x.dtype else out


# d/dx erf(x) = 2/√π · e^(-x²)
ERF = defprimitive(
    "erf",
    _erf,
    lambda F, g, ans, x: g * _TWO_OVER_SQRT_PI * F.exp(-(x * x)),
    saves=(0,),
    symbol="erf",
    formula="erf({0})",
    local="2/√π · e^(−{0}²)",
    vjp="{g} ⊙ 2/√π · e^(−{0}²)",
    elementwise=True,
    substitute=True,
)


@tensor_function(ERF)
def erf(x):
    """The error function ``erf(x) = 2/√π ∫₀ˣ e^(-t²) dt``; ∂/∂x = 2/√π · e^(-x²).

    A primitive because NumPy has no erf to compose it from; needed by exact GELU.
    """
    return apply(ERF, lift(x))


# ---------------------------------------------------------------- gelu
def _gelu(x, approximate="none"):
    if approximate == "tanh":
        inner = _GELU_TANH_BETA * (x + _GELU_TANH_KAPPA * x * x * x)
        return 0.5 * x * (1 + xp.tanh(inner))
    return x * 0.5 * (1 + _erf(x * _SQRT1_2))


def _gelu_vjp(F, g, ans, x, approximate="none"):
    if approximate == "tanh":
        # y = ½x(1 + t), t = tanh(β(x + κx³)):  y' = ½(1 + t) + ½x(1 - t²)β(1 + 3κx²)
        x_sq = x * x
        t = F.tanh(_GELU_TANH_BETA * (x + _GELU_TANH_KAPPA * x_sq * x))
        left = 0.5 * (1 + t)
        right = 0.5 * x * (1 - t * t) * (_GELU_TANH_BETA * (1 + 3 * _GELU_TANH_KAPPA * x_sq))
        return g * (left + right)
    # y = x Φ(x):  y' = Φ(x) + x φ(x)
    cdf = 0.5 * (1 + F.erf(x * _SQRT1_2))
    pdf = F.exp(-0.5 * x * x) * _INV_SQRT_2PI
    return g * (cdf + x * pdf)


GELU = defprimitive(
    "gelu",
    _gelu,
    _gelu_vjp,
    saves=(0,),
    symbol="gelu",
    formula="gelu({0})",
    local="Φ({0}) + {0}·φ({0})",
    vjp="{g} ⊙ (Φ({0}) + {0}·φ({0}))",
    elementwise=True,
    params=("approximate",),
)


@tensor_function(GELU)
def gelu(x, approximate="none"):
    """Gaussian error linear unit ``x Φ(x)`` (``approximate="none"``, exact, via erf) or
    ``½x(1 + tanh(√(2/π)(x + 0.044715x³)))`` (``approximate="tanh"``), as in PyTorch;
    ∂/∂x = Φ(x) + x φ(x) for the exact form (φ the standard normal density).

    Fused into one node: composed, it would be 5-8 nodes per hidden layer.
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return apply(GELU, lift(x), approximate=approximate)


# ---------------------------------------------------------------- elu
def _elu(x, alpha=1.0):
    # expm1 of min(x, 0): the positive side is never exponentiated (no overflow warning)
    return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0)))


def _elu_vjp(F, g, ans, x, alpha=1.0):
    # α·e^x on the negative side, computed from x (not from ans + α, which cancels
    # catastrophically for x << 0); exp(where(...)) keeps e^x finite on the positive side
    return F.where(x > 0, g, g * alpha * F.exp(F.where(x > 0, 0.0, x)))


ELU = defprimitive(
    "elu",
    _elu,
    _elu_vjp,
    saves=(0,),
    symbol="elu",
    formula="elu({0})",
    local="1 if {0} > 0, else α·e^{0}",
    vjp="{g} where {0} > 0, else {g} ⊙ α·e^{0}",
    tie=lambda i, inputs, params: inputs[0] == 0,
    ties="at {0} = 0, where the two sides meet: the engine takes the negative side's "
    "α·e⁰ = α (as PyTorch)",
    elementwise=True,
    params=("alpha",),
)


@tensor_function(ELU)
def elu(x, alpha=1.0):
    """Exponential linear unit: ``x`` for x > 0, ``α(eˣ - 1)`` otherwise; ∂/∂x = 1 or αeˣ.

    One fused node, twice differentiable (the VJP is made of ``where`` and ``exp``).
    """
    return apply(ELU, lift(x), alpha=float(alpha))


# ---------------------------------------------------------------- log_sigmoid
def _log_sigmoid(x):
    # log σ(x) = min(x, 0) - log(1 + e^(-|x|)): no exp overflows, no log(0)
    return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))


LOG_SIGMOID = defprimitive(
    "log_sigmoid",
    _log_sigmoid,
    lambda F, g, ans, x: g * F.sigmoid(-x),
    saves=(0,),
    symbol="log σ",
    formula="log σ({0})",
    local="σ(−{0})",
    vjp="{g} ⊙ σ(−{0})",
    elementwise=True,
    substitute=True,
)


@tensor_function(LOG_SIGMOID)
def log_sigmoid(x):
    """``log σ(x)``, stable for any x; ∂/∂x = σ(-x) = 1 - σ(x).

    Fused because ``log(sigmoid(x))`` gives -inf once σ(x) underflows (x < -745 in
    float64, x < -104 in float32); the logits form of binary cross-entropy uses it.
    """
    return apply(LOG_SIGMOID, lift(x))


# ---------------------------------------------------------------- binary cross-entropy
# PyTorch's floor on p(1-p) in the gradient: 1e-12 as a float32 constant (9.99999996e-13)
_BCE_EPS = float(xp.float32(1e-12))


def _binary_cross_entropy(p, y):
    # PyTorch clamps each log at -100 so p = 0 or 1 gives a finite loss
    with xp.errstate(divide="ignore"):
        return (y - 1) * xp.maximum(xp.log1p(-p), -100.0) - y * xp.maximum(xp.log(p), -100.0)


BINARY_CROSS_ENTROPY = defprimitive(
    "binary_cross_entropy",
    _binary_cross_entropy,
    # ∂/∂p = (p - y) / (p(1 - p)), the denominator floored at 1e-12 (finite at p = 0, 1)
    lambda F, g, ans, p, y: g * (p - y) / F.maximum((1 - p) * p, _BCE_EPS),
    # ∂/∂y = log(1 - p) - log p = -logit(p)
    lambda F, g, ans, p, y: -g * F.log(p / (1 - p)),
    saves=(0, 1),
    symbol="bce",
    formula="−({1}·log {0} + (1 − {1})·log(1 − {0}))",
    local=("({0} − {1}) / ({0}(1 − {0}))", "log(1 − {0}) − log {0}"),
    vjp=("{g} ⊙ ({0} − {1}) / ({0}(1 − {0}))", "{g} ⊙ (log(1 − {0}) − log {0})"),
    elementwise=True,
)


@tensor_function(BINARY_CROSS_ENTROPY)
def binary_cross_entropy_elementwise(p, y):
    """``-(y log p + (1 - y) log(1 - p))`` per element, each log clamped at -100;
    ∂/∂p = (p − y) / (p(1 − p)) (the denominator floored at 1e-12), ∂/∂y = −logit(p).

    Fused so that p = 0 or 1 gives PyTorch's finite loss and gradient instead of inf/nan.
    """
    return apply(BINARY_CROSS_ENTROPY, *binary_operands("binary_cross_entropy", p, y))


__all__ = ["binary_cross_entropy_elementwise", "elu", "erf", "gelu", "log_sigmoid"]
