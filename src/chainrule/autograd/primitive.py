"""Primitives: a forward on raw arrays plus one vector-Jacobian product per input.

A primitive is the unit the engine differentiates. Its VJP for input ``i`` is the
vector-Jacobian product of the chain rule, ``∇x z = (∂y/∂x)ᵀ ∇y z`` for ``y = op(x)``
feeding a scalar ``z``: it receives the upstream gradient ``g`` (shaped like
the output ``ans``) and returns the gradient for input ``i`` (shaped like that input).

VJPs are written once and run in two modes. Each receives a namespace ``F`` first:

* first-order backward passes :data:`RAW`, whose functions are the primitives' raw array
  forwards, and raw arrays for ``g``, ``ans`` and the inputs — nothing is recorded;
* ``create_graph=True`` passes :data:`DIFF`, the differentiable Tensor functions of
  :mod:`chainrule.ops`, and Tensors — so the backward pass is itself a graph and can be
  differentiated again.

Arithmetic in VJPs uses operators and methods that NumPy arrays and Tensors share
(``g * y``, ``g.sum(axis=0)``, ``x.mT``); everything else goes through ``F``.

Define a new primitive with :func:`defprimitive` (forward, VJPs, and its description in
words), put its Tensor-level function right under it with :func:`tensor_function`, and
call :func:`apply` inside that function; this is exactly how the built-in ops are made.
"""

from __future__ import annotations

import functools
import itertools
from types import SimpleNamespace

from chainrule.autograd.description import Description, describe
from chainrule.autograd.mode import state
from chainrule.backend import xp

PRIMITIVES: dict[str, Primitive] = {}
_sequence = itertools.count(1)


class Primitive:
    """A differentiable operation.

    Attributes:
        name: the op's name, used in graphs, narration and error messages.
        forward: ``forward(*arrays, **params) -> array``.
        vjps: one function per input, ``vjp(F, g, ans, *inputs, **params)``, or ``None``
            for an input that is not differentiable (labels, masks). For variadic ops
            (``concatenate``) an object whose ``[i]`` returns the VJP for input ``i``.
        pattern: how the op treats gradients, in the words of the gate patterns of
            backpropagation ("distributes", "switches", "routes", "gates", "copies",
            "adds"), or None.
        description: the op in words (:class:`~chainrule.autograd.description.Description`):
            formula, local derivative, domain hint — what ``explain`` narrates.
        function: the Tensor-level function that applies it (see :func:`tensor_function`),
            or None until one is registered.
        saves: what the VJPs read besides ``g``: input positions and/or ``"ans"`` (the
            output), e.g. ``(1, "ans")``; None means everything. Backward refuses to run
            a VJP whose saved tensors were changed in place since the forward
            (:mod:`chainrule.autograd.versions`); what is not saved may change freely.
    """

    __slots__ = ("description", "forward", "function", "name", "pattern", "saves", "vjps")

    def __init__(self, name, forward, vjps, pattern=None, description=None, saves=None):
        self.name = name
        self.forward = forward
        self.vjps = vjps
        self.pattern = pattern
        self.saves = None if saves is None else tuple(saves)
        self.description = description if description is not None else Description()
        self.function = None

    def __repr__(self):
        return f"Primitive({self.name!r})"


def defprimitive(name, forward, *vjps, pattern=None, variadic=False, saves=None, **description):
    """Register a primitive: its raw forward, one VJP per input (in input order), and
    what it means in words.

    >>> def cube(x): return x ** 3
    >>> CUBE = defprimitive(
    ...     "cube", cube, lambda F, g, ans, x: g * 3 * x * x,
    ...     symbol="³", formula="{0}³", local="3·{0}²", vjp="{g} ⊙ 3·{0}²",
    ...     elementwise=True, substitute=True,
    ... )
    >>> @tensor_function(CUBE)
    ... def tensor_cube(t):  # t³; ∂/∂t = 3t²
    ...     return apply(CUBE, t)

    With ``variadic=True`` a single VJP ``vjp(i, F, g, ans, *inputs, **params)`` serves
    every input position. ``saves`` lists what the VJPs read (input positions and
    ``"ans"``; default: everything), so that backward can refuse exactly the in-place
    changes that would corrupt a gradient (see :attr:`Primitive.saves`).

    The keyword fields after ``pattern`` describe the op for people (all optional; see
    :class:`~chainrule.autograd.description.Description` for each): ``symbol`` (its node's
    label), ``formula`` (the forward, ``"{0} + {1}"``), ``local`` (per input, the local
    derivative ∂out/∂input, ``("1", "1")``), ``local_values`` (the local derivative worth
    filling with numbers), ``vjp`` (per input, the VJP written with ``{g}``), ``domain``
    (why the output may be nan/inf), ``tie`` and ``ties`` (where a convention decides the
    derivative — a tie of ``max``, the kink of ``relu`` — and what the VJP does there),
    ``elementwise``, ``commutative``, ``substitute``, ``params``, ``sentence``,
    ``pattern_text`` and ``display``. ``chainrule.explain`` narrates a graph from these
    fields, so a user's primitive explains like a built-in one; without them it is
    narrated in generic words.
    """
    if name in PRIMITIVES:
        raise ValueError(f"defprimitive: a primitive named {name!r} is already registered")
    text = describe(name, **description)
    if variadic:
        (vjp_any,) = vjps
        vjps = _NthVJP(vjp_any)
    prim = Primitive(name, forward, vjps, pattern, text, saves)
    PRIMITIVES[name] = prim
    setattr(RAW, name, forward)
    return prim


def tensor_function(prim):
    """Decorator: ``fn`` is the Tensor-level function of ``prim`` (the one that calls
    ``apply(prim, ...)``).

    It becomes ``prim.function`` and ``DIFF.<prim.name>``, the function VJPs call as
    ``F.<name>`` when ``create_graph=True``. This is the one place ``DIFF`` is filled.
    """

    def register(fn):
        prim.function = fn
        setattr(DIFF, prim.name, fn)
        return fn

    return register


def namespace_helper(name, raw, diff):
    """Give VJPs a non-differentiable helper ``F.<name>``: ``raw`` on arrays (first order),
    ``diff`` on Tensors (``create_graph=True``) — for steps such as an in-place edit of a
    fresh raw array that has no Tensor equivalent."""
    setattr(RAW, name, raw)
    setattr(DIFF, name, diff)


class _NthVJP:
    """``vjps[i]`` for a variadic primitive: the shared VJP with ``i`` bound."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def __getitem__(self, i):
        return functools.partial(self.fn, i)


def apply(prim, *inputs, **params):
    """Run ``prim`` on Tensors and, when grad mode is on, link the result into the graph.

    The output records ``prim``, its inputs and ``params`` only if some input requires
    grad; otherwise it is a plain constant and backward never sees it.
    """
    # This runs once per op: it is kept to the fewest Python steps (no imports, no list
    # building for the common one- and two-input ops).
    if len(inputs) == 1:
        ans = prim.forward(inputs[0].data, **params)
    elif len(inputs) == 2:
        ans = prim.forward(inputs[0].data, inputs[1].data, **params)
    else:
        ans = prim.forward(*[t.data for t in inputs], **params)
    if not ans.ndim:  # NumPy returns scalars from 0-d math; keep arrays throughout
        ans = xp.asarray(ans)
    out = _Tensor(ans)
    if state.enabled:
        for t in inputs:
            if t.requires_grad:
                out.requires_grad = True
                out._op = prim
                out._parents = inputs
                out._params = params
                out._seq = next(_sequence)
                break
    if state.anomaly is not None:
        state.anomaly.check_forward(prim, inputs, out)
    return out


def _bind_tensor(cls):
    """Called by :mod:`chainrule.tensor` once ``Tensor`` exists (it imports this module
    indirectly, so the class cannot be imported here at load time)."""
    global _Tensor
    _Tensor = cls


_Tensor = None


# The two namespaces handed to VJPs. RAW gains each primitive's forward as it is
# registered (defprimitive); DIFF gains each primitive's Tensor-level function
# (tensor_function). Both get the few non-differentiable helpers through namespace_helper.
RAW = SimpleNamespace()
DIFF = SimpleNamespace()
namespace_helper("data", raw=lambda a: a, diff=lambda t: t.data)
namespace_helper("sign", raw=xp.sign, diff=lambda t: _Tensor(xp.sign(t.data)))
