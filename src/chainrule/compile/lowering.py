"""Lowered kernels: the common primitives of a training step as NumPy calls with ``out=``.

A replay line normally calls a primitive's registered forward or VJP, which allocates its
result. For the ops of an MLP step — ``linear``, 2-D ``matmul``, the activations,
elementwise arithmetic, the gradient sums and the fused softmax cross-entropy — the
kernels here write the very NumPy calls those functions make, in their order, as lines of
the replay, writing into an input's array when the op can work in place and that input
dies there (:mod:`.liveness` says when). ufuncs compute the same bits with and without
``out=``, so a lowered replay stays bit-for-bit equal to eager mode
(tests/compile/test_compile_equality.py); it skips the primitive's Python call and
keyword arguments, and an in-place op skips an allocation and a pass of fresh memory.

Cross-entropy is lowered as a pair, forward and VJP together. Eager mode's VJP
recomputes ``p = softmax(a)`` from the logits; the forward already computed
``e = exp(a − max a)`` for ``log Σ e``, so the lowered forward keeps ``e`` and its row
sums ``s``, and the VJP finishes ``δ = (e / s − onehot(y)) · g / N`` in place — the same
operations on the same values, so the same bits, done once.

A kernel is ``Kernel(applies, emit, inplace)``: ``applies(node, ins)`` says whether the
case is covered (dtypes, ranks), ``emit(c, o, dst, names, params)`` returns the lines that
bind ``o`` — into ``dst`` when it is given (a dying input's array), else a fresh one — and
``inplace`` lists the input positions whose buffer the result may take over when that
input dies at this line; ``reads`` the positions the lines read (a VJP of ``linear``
does not read the layer's output, so that array can die earlier).
"""

from __future__ import annotations

import numpy as np

from chainrule.compile.capture import Ref


class Kernel:
    __slots__ = ("applies", "emit", "inplace", "reads")

    def __init__(self, applies, emit, inplace=(), reads=None):
        self.applies, self.emit, self.inplace = applies, emit, inplace
        self.reads = reads  # the positions the lines read (None: all), for lifetimes


UFUNCS = ("matmul", "maximum", "tanh", "add", "subtract", "multiply", "divide", "negative")
UFUNCS += ("exp", "log", "greater")
# The replay's namespace binds each as ``np_<name>``, and lines pass ``out`` by position:
# a global name and a positional argument are ~0.15 µs cheaper per call than
# ``np.multiply(..., out=...)``, on calls of about a microsecond.


def call(o, dst, fn, *args):
    """``o = np_fn(args)``, or ``o = np_fn(args, dst)`` (``out=dst``)."""
    inner = ", ".join(str(a) for a in args)
    if dst is not None:  # NumPy deprecates a positional out for maximum and minimum only
        inner += f", out={dst}" if fn in ("maximum", "minimum") else f", {dst}"
    return f"{o} = np_{fn}({inner})"


def _same_dtype(node, ins):
    return all(i.dtype == node.dtype for i in ins)


def _elementwise(node, ins):
    """Operands of the output's dtype and shape (or 0-d): no broadcast, no cast."""
    return all(i.dtype == node.dtype and i.shape in (node.shape, ()) for i in ins)


# ---------------------------------------------------------------- forwards
def _linear(c, o, dst, names, params):
    x, w, b = names  # eager: out = x @ w.T; out += b
    return [call(o, dst, "matmul", x, f"{w}.T"), f"{o} += {b}"]


def _ufunc(name, *extra):
    def emit(c, o, dst, names, params):
        return [call(o, dst, name, *names, *extra)]

    return emit


def _rank2(node, ins):
    return _same_dtype(node, ins) and all(len(i.shape) == 2 for i in (node, *ins))


FORWARD = {
    "linear": Kernel(lambda n, ins: _same_dtype(n, ins) and len(ins[1].shape) == 2, _linear),
    "matmul": Kernel(_rank2, _ufunc("matmul")),  # eager: x @ y
    "relu": Kernel(_elementwise, _ufunc("maximum", 0), inplace=(0,)),
    "tanh": Kernel(_elementwise, _ufunc("tanh"), inplace=(0,)),
    "add": Kernel(_elementwise, _ufunc("add"), inplace=(0, 1)),
    "sub": Kernel(_elementwise, _ufunc("subtract"), inplace=(0, 1)),
    "mul": Kernel(_elementwise, _ufunc("multiply"), inplace=(0, 1)),
    "div": Kernel(_elementwise, _ufunc("divide"), inplace=(0, 1)),
    "neg": Kernel(_elementwise, _ufunc("negative"), inplace=(0,)),
    "exp": Kernel(_elementwise, _ufunc("exp"), inplace=(0,)),
}


# ---------------------------------------------------------------- VJPs
# names are (g, ans, *inputs); a VJP kernel is keyed by (primitive name, input index)
def _linear_x(c, o, dst, names, params):
    g, w = names[0], names[3]  # eager: g @ w
    return [call(o, dst, "matmul", g, w)]


def _linear_w(c, o, dst, names, params):
    g, x = names[0], names[2]  # eager: gᵀ x
    return [call(o, dst, "matmul", f"{g}.T", x)]


def _linear_b(c, o, dst, names, params):
    g = names[0]  # eager: 1ᵀ g with the engine's shared ones (a BLAS gemv)
    return [call(o, dst, "matmul", c.ones(c.shape_of(0)[0], c.out.dtype), g)]


def _rank2_linear(node, ins):
    g, x = ins[0], ins[2]
    return _same_dtype(node, ins) and len(g.shape) == 2 and len(x.shape) == 2


def _relu_vjp(c, o, dst, names, params):
    g, ans = names[0], names[1]  # eager: g * (ans > 0)
    mask = c.local("mask")
    return [f"{mask} = np_greater({ans}, 0)", call(o, dst, "multiply", g, mask), f"del {mask}"]


def _tanh_vjp(c, o, dst, names, params):
    g, ans = names[0], names[1]  # eager: g * (1 - ans * ans)
    t = c.local("t")
    return [
        f"{t} = np_multiply({ans}, {ans})",
        f"np_subtract(1, {t}, {t})",
        call(o, dst, "multiply", g, t),
        f"del {t}",
    ]


def _sigmoid_vjp(c, o, dst, names, params):
    g, ans = names[0], names[1]  # eager: g * ans * (1 - ans), left to right
    t = c.local("t")
    return [
        f"{t} = np_subtract(1, {ans})",
        call(o, dst, "multiply", g, ans),
        f"np_multiply({o}, {t}, {o})",
        f"del {t}",
    ]


def _vjp_elementwise(node, ins):
    return _elementwise(node, ins) and node.shape == ins[0].shape


def _mul_vjp(i):
    def emit(c, o, dst, names, params):
        g, other = names[0], names[2 + (1 - i)]  # eager: g * y (i = 0), g * x (i = 1)
        return [call(o, dst, "multiply", g, other)]

    return emit


def _matmul_vjp(i):
    def emit(c, o, dst, names, params):
        g, x, y = names[0], names[2], names[3]  # eager: g @ y.mT (i = 0), x.mT @ g (i = 1)
        return [
            call(o, dst, "matmul", g, f"{y}.mT") if i == 0 else call(o, dst, "matmul", f"{x}.mT", g)
        ]

    return emit


VJP = {
    ("matmul", 0): Kernel(_rank2, _matmul_vjp(0), reads=(0, 3)),
    ("matmul", 1): Kernel(_rank2, _matmul_vjp(1), reads=(0, 2)),
    ("linear", 0): Kernel(_rank2_linear, _linear_x, reads=(0, 3)),
    ("linear", 1): Kernel(_rank2_linear, _linear_w, reads=(0, 2)),
    ("linear", 2): Kernel(_rank2_linear, _linear_b, reads=(0,)),
    ("relu", 0): Kernel(_vjp_elementwise, _relu_vjp, inplace=(0,), reads=(0, 1)),
    ("tanh", 0): Kernel(_vjp_elementwise, _tanh_vjp, inplace=(0,), reads=(0, 1)),
    ("sigmoid", 0): Kernel(_vjp_elementwise, _sigmoid_vjp, inplace=(0,), reads=(0, 1)),
    ("mul", 0): Kernel(_vjp_elementwise, _mul_vjp(0), inplace=(0,), reads=(0, 3)),
    ("mul", 1): Kernel(_vjp_elementwise, _mul_vjp(1), inplace=(0,), reads=(0, 2)),
}

# the engine's gradient sum ``a + b``: (a, b) may be taken over
GRADIENT_SUM = Kernel(_elementwise, _ufunc("add"), inplace=(0, 1))


# ---------------------------------------------------------------- cross-entropy, paired
def cross_entropy_pairs(nodes):
    """``{forward node: vjp node}`` for cross-entropy losses whose VJP the step runs, on
    2-D float logits with integer labels (the cases the pair below covers)."""
    forwards = {
        n: node
        for n, node in enumerate(nodes)
        if node.kind == "fwd" and node.info[0].name == "cross_entropy"
    }
    readers: dict[int, list[int]] = {}
    for n, node in enumerate(nodes):
        if node.kind == "vjp" and node.info[3] in forwards:
            readers.setdefault(node.info[3], []).append(n)
    pairs = {}
    for fn, found in readers.items():
        if len(found) != 1:  # backward through the loss twice: the VJPs stay calls
            continue
        n = found[0]
        node, f = nodes[n], forwards[fn]
        if node.info[1] != 0:
            continue
        x = nodes[f.info[1][0]]
        params = f.info[2]
        labels = params.get("labels")
        if len(x.shape) != 2 or x.dtype.kind != "f" or not node.dtype == f.dtype == x.dtype:
            continue
        if not isinstance(labels, Ref) or nodes[labels.n].dtype.kind not in "iu":
            continue
        if set(params) - {"labels", "reduction"} or node.info[5] != params:
            continue
        if params.get("reduction", "mean") not in ("mean", "sum", "none"):
            continue
        pairs[fn] = n
    return pairs


def cross_entropy_forward(c, o, x, labels, reduction, keep, n_rows):
    """The forward of a paired cross-entropy; ``keep`` is ``(e, s, i)``: the names of the
    arrays the VJP reads, ``i`` (or None) the labels' flat index ``k · C + y_k``, made
    only for labels checked to lie in ``0..C-1`` above (then it picks the same entries
    as ``[rows, labels]``, with one cheaper gather and scatter instead of two)."""
    e_name, s_name, i_name = keep
    z = f"z{o[1:]}"
    if i_name is None:
        picked = f"{z}[{c.rows(n_rows)}, {labels}]"
        index = []
    else:
        width = c.cur[0].shape[1]
        picked = f"{z}.reshape({n_rows * width}).take({i_name})"
        index = [f"{i_name} = np_add({labels}, {c.rows(n_rows, width)})"]
    lines = [
        # eager: z = x - max; losses = log(Σ e^z) - z[rows, labels]. x.max(axis=1) is
        # np.maximum.reduce(x, 1) behind a Python wrapper: the same reduction, called direct
        f"{z} = np_subtract({x}, np_maximum.reduce({x}, 1, None, None, True))",
        f"{e_name} = np_exp({z})",
        # keepdims for the VJP's e / s; the same row sums as eager's sum(axis=1)
        f"{s_name} = np_add.reduce({e_name}, 1, None, None, True)",
        *index,
        f"{o} = np_log({s_name}.reshape({n_rows})) - {picked}",
        f"del {z}",
    ]
    if reduction == "mean":  # losses.sum() is np.add.reduce(losses, None)
        lines.append(f"{o} = asarray(np_add.reduce({o}, None) / {n_rows})")
    elif reduction == "sum":
        lines.append(f"{o} = asarray(np_add.reduce({o}, None))")
    return lines


def cross_entropy_vjp(c, o, g, labels, reduction, keep, n_rows, seed=None):
    """δ = (e / s − onehot(y)) · g / N, in ``e`` (eager: softmax, then minus one-hot in
    place, then ``*= g / n``); ``e`` is the forward's fresh array, so δ may take it
    whether or not it leaves the step. ``seed``: the unit seed array when ``g`` is it."""
    e_name, s_name, i_name = keep
    lines = [f"np_divide({e_name}, {s_name}, {e_name})"]
    by_rows = f"{e_name}[{c.rows(n_rows)}, {labels}] -= 1"
    if i_name is None:
        lines.append(by_rows)
    else:  # the forward's flat index (one entry per row: none repeats), where e's rows
        # lie end to end; e follows the logits' layout, which a transposed view changes
        lines += [
            f"if {e_name}.flags.c_contiguous:",
            f"    {e_name}.reshape({e_name}.size)[{i_name}] -= 1",
            "else:",
            f"    {by_rows}",
        ]
    if reduction == "none":
        return [*lines, f"{o} = {e_name} * {g}.reshape(({n_rows}, 1))"]
    scale = f"{g} / {n_rows}" if reduction == "mean" else g
    if seed is not None and reduction == "mean":  # g is the unit seed: g / N is a constant
        scale = c.obj(seed / n_rows, "K")  # the very division eager mode makes, once
    return [*lines, f"{e_name} *= {scale}", f"{o} = {e_name}"]


# ---------------------------------------------------------------- the label checks
def label_check(node, args):
    """Whether ``class_labels(**args)`` on ``node``'s array can be replayed as its range
    test alone. A replay's inputs have the captured shapes and dtypes (they are the
    step's signature), so of the check's work only ``0 <= y < C`` is left to make; it is
    made as one reduction over the labels seen as unsigned (a negative label is huge),
    and only a batch that fails it calls the check itself, which then decides (labels
    equal to ``ignore_index`` are exempt) and words the error."""
    n_classes, batch = args.get("n_classes"), args.get("batch")
    return (
        isinstance(args.get("labels"), Ref)
        and node.kind in ("arg", "derived", "view")
        and node.dtype.kind in "iu"
        and type(n_classes) is int
        and type(batch) is int
        and batch > 0
        and node.shape == (batch,)
    )


def label_max(c, labels, dtype):
    """The line binding the labels' largest value seen as unsigned (same byte order)."""
    unsigned = labels
    if dtype.kind == "i":
        as_unsigned = np.dtype(dtype.str.replace("i", "u"))
        unsigned = f"{labels}.view({c.obj(as_unsigned, 'K')})"
    return f"np_maximum.reduce({unsigned})"


def in_range_or(top, n_classes, call):
    """Call ``call`` (a check) only when some label is outside ``0..C-1``: all of them in
    range pass every label check, and a check that ``ignore_index`` (outside the range)
    is in no row."""
    return [f"if {top} >= {n_classes}:", f"    {call}"]
