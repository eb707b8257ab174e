"""The backward pass: one iterative reverse topological walk over the recorded graph.

For each tensor, in reverse topological order, the engine takes the gradient that has
accumulated for it (``g`` — the sum over all its consumers: *branches add*), calls the
VJP of the op that produced it once per input that requires grad, checks the result's
shape and dtype against that input, and adds it into the input's pending gradient.
Pending gradients live in a dict keyed by ``id`` and are popped when consumed, so memory
is released as the walk proceeds; nothing is written onto interior tensors unless asked
(``retain_grad``). The walk uses a heap ordered by creation number (no recursion), so
graph depth is unlimited.

In-place changes are checked here too: before a VJP runs, the tensors its op saved must
not have changed since the forward (:mod:`chainrule.autograd.versions`).

First-order backward runs on raw arrays with the ``RAW`` namespace and records nothing.
``create_graph=True`` runs the same VJPs on Tensors with the ``DIFF`` namespace while grad
mode is on, so the backward pass becomes part of the graph (gradients of gradients).
"""

from __future__ import annotations

from heapq import heappop, heappush

from chainrule.autograd import versions
from chainrule.autograd.mode import state
from chainrule.autograd.primitive import DIFF, RAW
from chainrule.backend import xp
from chainrule.errors import GraphError, ShapeError
from chainrule.tensor import Tensor


def _seed_gradient(root, gradient, create_graph):
    if gradient is None:
        if root.data.size != 1:
            raise GraphError(
                f"backward: the output has shape {root.shape}; pass gradient= (the upstream "
                "gradient ∂L/∂output, same shape) for non-scalar outputs"
            )
        g = _unit_seed(root.data)
    else:
        g = gradient.data if isinstance(gradient, Tensor) else xp.asarray(gradient)
        if g.shape != root.shape:
            raise ShapeError(f"backward: gradient shape {g.shape} != output shape {root.shape}")
        g = g.astype(root.data.dtype, copy=True)
    if create_graph:
        return gradient if isinstance(gradient, Tensor) and gradient.dtype == g.dtype else Tensor(g)
    return g


_UNIT_SEEDS: dict = {}


def _unit_seed(data):
    """∂L/∂L = 1 shaped like ``data``: for the usual 0-d loss a shared read-only array
    (``_accumulate`` copies read-only arrays before storing them as a ``.grad``)."""
    if data.ndim or type(data) is not xp.ndarray:
        return xp.ones_like(data)
    one = _UNIT_SEEDS.get(data.dtype)
    if one is None:
        one = _UNIT_SEEDS[data.dtype] = xp.ones((), data.dtype)
        one.flags.writeable = False
    return one


def run_backward(roots, gradients, retain_graph=False, create_graph=False, inputs=None, trace=None):
    """The walk behind ``Tensor.backward`` and ``grad``.

    With ``inputs=None`` leaves accumulate into ``.grad``. Otherwise nothing is written
    and the gradients of ``inputs`` are returned (None where unreached). ``trace``, if
    given, is called as ``trace(t, i, parent, g, g_i)`` for every edge — used by
    ``chainrule.explain`` to narrate the chain rule from the very same pass.

    The reverse topological order comes from a max-heap on the creation number: a tensor
    is pushed when its first gradient arrives and popped only after every tensor created
    later, i.e. after all its consumers have added their share. So discovery, ordering and
    the walk are one pass, and only tensors that actually receive a gradient are visited.
    """
    for r in roots:
        if not r.requires_grad:
            raise GraphError(
                "backward: the output does not require grad (no input had requires_grad=True, "
                "or it was computed under no_grad)"
            )
    grads = {}  # id -> pending gradient: the sum over the consumers seen so far
    heap = []  # (-creation number, id, tensor): the latest-created tensor pops first
    for r, gr in zip(roots, gradients):
        g = _seed_gradient(r, gr, create_graph)
        key = id(r)
        prev = grads.get(key)
        if prev is None:
            grads[key] = g
            heappush(heap, (-r._seq, key, r))
        else:
            grads[key] = prev + g
    wanted = None if inputs is None else {id(t): k for k, t in enumerate(inputs)}
    found = [None] * (0 if inputs is None else len(inputs))
    handed_out = set()  # arrays already stored as a .grad: never share one between tensors
    F = DIFF if create_graph else RAW
    anomaly = state.anomaly
    changed = versions.CHANGED_MEMORY  # empty until something is changed in place
    was_enabled = state.enabled
    state.enabled = create_graph  # record the backward pass only for create_graph
    try:
        while heap:
            _, key, t = heappop(heap)
            g = grads.pop(key)
            if t._hooks:
                g = _run_hooks(t, g, create_graph)
            if wanted is not None and key in wanted:
                if not create_graph and not g.flags.writeable:
                    g = g.copy()  # the shared unit seed: hand the caller its own array
                found[wanted[key]] = g if create_graph else Tensor(g)
            prim = t._op
            if prim is None or t._retains_grad:
                if wanted is None:
                    _accumulate(t, g, create_graph, handed_out)
                if prim is None:
                    continue
            parents = t._parents
            if parents is None:
                raise GraphError(
                    f"backward through the graph a second time: the graph below "
                    f"'{prim.name}' was freed by an earlier backward; pass retain_graph=True "
                    "to keep it"
                )
            if changed:  # something was changed in place: is this VJP safe?
                versions.check_saved(t, prim, parents)
            params = t._params
            if create_graph:
                ans, args = t, parents
            elif len(parents) == 1:
                ans, args = t.data, (parents[0].data,)
            elif len(parents) == 2:
                ans, args = t.data, (parents[0].data, parents[1].data)
            else:
                ans, args = t.data, [p.data for p in parents]
            vjps = prim.vjps
            seq = t._seq
            for i, p in enumerate(parents):
                if p._seq > seq:  # changed by a recorded in-place op after t used it
                    p = versions.as_it_was(p, seq)
                if not p.requires_grad:
                    continue
                gi = vjps[i](F, g, ans, *args, **params) if params else vjps[i](F, g, ans, *args)
                pd = p.data
                if gi.shape != pd.shape or gi.dtype != pd.dtype:
                    _bad_gradient(prim, i, gi, p)
                if trace is not None:
                    trace(t, i, p, g, gi)
                if anomaly is not None:
                    anomaly.check_backward(t, i, gi)
                pkey = id(p)
                prev = grads.get(pkey)
                if prev is None:
                    grads[pkey] = gi
                    heappush(heap, (-p._seq, pkey, p))
                else:
                    grads[pkey] = prev + gi
            if not retain_graph:
                t._parents = None
                t._params = None
    finally:
        state.enabled = was_enabled
    return found


def _run_hooks(t, g, create_graph):
    if not create_graph and not g.flags.writeable:
        g = g.copy()  # hooks may edit their gradient in place; never the shared seed
    for hook in list(t._hooks):
        out = hook(g if create_graph else Tensor(g))
        if out is not None:
            out = out if isinstance(out, Tensor) else Tensor(xp.asarray(out))
            if out.shape != t.shape:
                raise ShapeError(f"hook: returned gradient {out.shape} for a tensor of {t.shape}")
            g = out if create_graph else out.data
    return g


def _accumulate(t, g, create_graph, handed_out):
    """Add ``g`` into ``t.grad`` (never assigning over an existing gradient)."""
    if create_graph:
        t.grad = g if t.grad is None else t.grad + g
        return
    if t.grad is not None:
        t.grad = Tensor(t.grad.data + g)
        return
    # own the array: a view (reshape/broadcast) or an array already given to another
    # tensor (add distributes one g to both inputs) would let in-place edits leak across
    flags = g.flags  # a new flags object per access: read it once
    if id(g) in handed_out or not (flags.owndata and flags.writeable):
        g = g.copy()
    handed_out.add(id(g))
    t.grad = Tensor(g)


def _bad_gradient(prim, i, gi, p):
    raise ShapeError(
        f"{prim.name}: the VJP for input {i} returned a gradient of shape {tuple(gi.shape)} "
        f"and dtype {gi.dtype}, but the input has shape {p.shape} and dtype {p.dtype}"
    )


def backward(tensor, gradient=None, retain_graph=False, create_graph=False):
    """Accumulate ∂tensor/∂leaf into every leaf's ``.grad`` (see ``Tensor.backward``)."""
    run_backward([tensor], [gradient], retain_graph or create_graph, create_graph)


def grad(
    outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False
):
    """Gradients of ``outputs`` with respect to ``inputs``, returned rather than stored.

    Like ``torch.autograd.grad``: ``.grad`` attributes are left untouched; with
    ``create_graph=True`` the results are themselves differentiable (Hessian-vector
    products, gradient penalties). ``inputs`` may be interior tensors.
    """
    single_out = isinstance(outputs, Tensor)
    outputs = [outputs] if single_out else list(outputs)
    single_in = isinstance(inputs, Tensor)
    inputs = [inputs] if single_in else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor) or not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: {len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    for t in inputs:
        if not t.requires_grad:
            raise GraphError("grad: one of the inputs does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    found = run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs=inputs)
    for k, f in enumerate(found):
        if f is None and not allow_unused:
            raise GraphError(
                f"grad: input {k} was not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
    return tuple(found)
