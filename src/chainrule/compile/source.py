"""``step.source()``: the captured step as plain NumPy a student can read — and run.

The program a replay runs is printed as one NumPy statement per line, with the model's
names (``fc1_weight``, ``a_1``, ``h_1``, ``delta_2``, ``grad_fc1_weight``) and a comment
per block tying it to backpropagation: the forward pass, the loss, δ_K = softmax − onehot,
∂L/∂W_k = δ_k h_{k−1}ᵀ, δ_k = (W_{k+1}ᵀ δ_{k+1}) ⊙ g'(a_k), and the optimizer's update.

Each primitive with a NumPy template below is written as the NumPy calls its own forward
and VJP make (same operations, same order: running the source gives the replay's bits,
and a test holds it to that). A primitive without a template is written as a call of
its registered forward or VJP (``PRIMS["gelu"].forward(a_1)``), so the source still
runs. The optimizer's update is its own kernel, run once with a recording ``xp`` so the
printed lines are exactly the kernel's; its scalars (``lr``, Adam's ``step_size``) come
in ``hyper``, computed by the optimizer's ``_plan`` as for a real step.
"""

from __future__ import annotations

import inspect
import re

import numpy as np

from chainrule.compile.names import Namer, identifier, parameter_labels
from chainrule.ops.operands import keepdims_shape

ACTIVATIONS = {"relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu", "log_sigmoid"}
DERIVATIVE = {
    "relu": "[a > 0]",
    "tanh": "1 − h²",
    "sigmoid": "h(1 − h)",
    "leaky_relu": "1 or α",
}
STATE_NAMES = {
    "momentum_buffer": "v",
    "exp_avg": "m",
    "exp_avg_sq": "v",
    "max_exp_avg_sq": "vmax",
    "square_avg": "v",
    "grad_avg": "gbar",
    "sum": "G",
}
UPDATES = {
    "sgd_update": "SGD (PyTorch form): v ← μ·v + g;  θ ← θ − α·v  (plain: θ ← θ − α·g)",
    "adam_update": "Adam: m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  θ ← θ − step_size·m/(√v + ε̂)",
    "rmsprop_update": "RMSprop: v ← a·v + (1−a)·g²;  θ ← θ − α·g/(√v + ε)",
    "adagrad_update": "Adagrad: G ← G + g²;  θ ← θ − αₜ·g/(√G + ε)",
}


# ---------------------------------------------------------------- NumPy templates
# fwd(out, ins, params, c) / vjp(out, i, g, ans, ins, params, c) -> lines, or None when
# the case is not covered (then the primitive's own function is called instead).
def _fwd_linear(out, ins, params, c):
    x, w, b = ins
    return [f"{out} = {x} @ {w}.T", f"{out} += {b}"]


def _fwd_cross_entropy(out, ins, params, c):
    x, labels = ins[0], c.expr(params["labels"])
    n = c.shape(0)[0]
    red = params.get("reduction", "mean")
    z, losses = c.temp("z"), c.temp("losses")
    lines = [
        f"{z} = {x} - {x}.max(axis=1, keepdims=True)",
        f"{losses} = np.log(np.exp({z}).sum(axis=1)) - {z}[np.arange({n}), {labels}]",
    ]
    if red == "none":
        return [*lines, f"{out} = {losses}"]
    total = f"{losses}.sum() / {n}" if red == "mean" else f"{losses}.sum()"
    return [*lines, f"{out} = np.asarray({total})"]


def _fwd_sigmoid(out, ins, params, c):
    (x,) = ins
    e = c.temp("e")
    return [
        f"{e} = np.exp(-np.abs({x}))",
        f"{out} = np.where({x} >= 0, 1 / (1 + {e}), {e} / (1 + {e}))",
    ]


def _fwd_sum(out, ins, params, c):
    (x,) = ins
    expr = f"{x}.sum(axis={params.get('axis')!r}, keepdims={params.get('keepdims', False)!r})"
    return [f"{out} = np.asarray({expr})" if not c.out_shape else f"{out} = {expr}"]


FORWARD = {
    "linear": _fwd_linear,
    "matmul": lambda out, ins, p, c: [f"{out} = {ins[0]} @ {ins[1]}"],
    "relu": lambda out, ins, p, c: [f"{out} = np.maximum({ins[0]}, 0)"],
    "tanh": lambda out, ins, p, c: [f"{out} = np.tanh({ins[0]})"],
    "sigmoid": _fwd_sigmoid,
    "leaky_relu": lambda out, ins, p, c: [
        f"{out} = np.where({ins[0]} > 0, {ins[0]}, {ins[0]} * {p['negative_slope']!r})"
    ],
    "cross_entropy": _fwd_cross_entropy,
    "add": lambda out, ins, p, c: [f"{out} = {ins[0]} + {ins[1]}"],
    "sub": lambda out, ins, p, c: [f"{out} = {ins[0]} - {ins[1]}"],
    "mul": lambda out, ins, p, c: [f"{out} = {ins[0]} * {ins[1]}"],
    "div": lambda out, ins, p, c: [f"{out} = {ins[0]} / {ins[1]}"],
    "neg": lambda out, ins, p, c: [f"{out} = -{ins[0]}"],
    "exp": lambda out, ins, p, c: [f"{out} = np.exp({ins[0]})"],
    "log": lambda out, ins, p, c: [f"{out} = np.log({ins[0]})"],
    "abs": lambda out, ins, p, c: [f"{out} = np.abs({ins[0]})"],
    "sum": _fwd_sum,
}


def _vjp_linear(out, i, g, ans, ins, params, c):
    x, w, _ = ins
    if c.ndim(g) != 2:
        return None
    if i == 0:
        return [f"{out} = {g} @ {w}"]
    if i == 1:
        return [f"{out} = {g}.T @ {x}"]
    n, dtype = c.shape_of(g)[0], c.dtype_of(g)
    return [f"{out} = np.ones({n}, np.{dtype}) @ {g}"]


def _vjp_cross_entropy(out, i, g, ans, ins, params, c):
    x, labels = ins[0], c.expr(params["labels"])
    red = params.get("reduction", "mean")
    if red == "none":
        return None
    n = c.shape_of(x)[0]
    lines = [
        f"{out} = np.exp({x} - {x}.max(axis=1, keepdims=True))",
        f"{out} /= {out}.sum(axis=1, keepdims=True)  # p = softmax(a)",
        f"{out}[np.arange({n}), {labels}] -= 1  # p − onehot(y)",
    ]
    return [*lines, f"{out} *= {g} / {n}" if red == "mean" else f"{out} *= {g}"]


def _vjp_sum(out, i, g, ans, ins, params, c):
    (x,) = ins
    shape = c.shape_of(x)
    kshape = keepdims_shape(shape, params.get("axis"))
    return [f"{out} = np.broadcast_to({g}.reshape({kshape!r}), {shape!r})"]


VJP = {
    "linear": _vjp_linear,
    "matmul": lambda out, i, g, ans, ins, p, c: [
        f"{out} = {g} @ {ins[1]}.mT" if i == 0 else f"{out} = {ins[0]}.mT @ {g}"
    ],
    "relu": lambda out, i, g, ans, ins, p, c: [f"{out} = {g} * ({ans} > 0)"],
    "tanh": lambda out, i, g, ans, ins, p, c: [f"{out} = {g} * (1 - {ans} * {ans})"],
    "sigmoid": lambda out, i, g, ans, ins, p, c: [f"{out} = {g} * {ans} * (1 - {ans})"],
    "leaky_relu": lambda out, i, g, ans, ins, p, c: [
        f"{out} = np.where({ins[0]} > 0, {g}, {g} * {p['negative_slope']!r})"
    ],
    "cross_entropy": _vjp_cross_entropy,
    "add": lambda out, i, g, ans, ins, p, c: [f"{out} = {g}"],
    "sub": lambda out, i, g, ans, ins, p, c: [f"{out} = {g}" if i == 0 else f"{out} = -{g}"],
    "mul": lambda out, i, g, ans, ins, p, c: [f"{out} = {g} * {ins[1 - i]}"],
    "div": lambda out, i, g, ans, ins, p, c: [
        f"{out} = {g} / {ins[1]}" if i == 0 else f"{out} = -{g} * {ans} / {ins[1]}"
    ],
    "neg": lambda out, i, g, ans, ins, p, c: [f"{out} = -{g}"],
    "exp": lambda out, i, g, ans, ins, p, c: [f"{out} = {g} * {ans}"],
    "log": lambda out, i, g, ans, ins, p, c: [f"{out} = {g} / {ins[0]}"],
    "abs": lambda out, i, g, ans, ins, p, c: [f"{out} = {g} * np.sign({ins[0]})"],
    "sum": _vjp_sum,
}


# ---------------------------------------------------------------- the optimizer kernel
class Num(float):
    """A float that remembers how it was computed (``1.0 - lr * weight_decay``), so a
    kernel run with it prints its scalars by name; arithmetic is plain float math."""

    def __new__(cls, value, text):
        obj = super().__new__(cls, value)
        obj.text = text
        return obj

    def _op(self, other, fmt, fn):
        value = fn(float(self), float(other))
        other_text = other.text if isinstance(other, Num) else repr(other)
        return Num(value, fmt.format(a=self.text, b=other_text))

    def __add__(self, o):
        return self._op(o, "({a} + {b})", lambda a, b: a + b)

    def __radd__(self, o):
        return self._op(o, "({b} + {a})", lambda a, b: b + a)

    def __sub__(self, o):
        return self._op(o, "({a} - {b})", lambda a, b: a - b)

    def __rsub__(self, o):
        return self._op(o, "({b} - {a})", lambda a, b: b - a)

    def __mul__(self, o):
        return self._op(o, "{a} * {b}", lambda a, b: a * b)

    def __rmul__(self, o):
        return self._op(o, "{b} * {a}", lambda a, b: b * a)

    def __truediv__(self, o):
        return self._op(o, "{a} / {b}", lambda a, b: a / b)

    def __rtruediv__(self, o):
        return self._op(o, "{b} / {a}", lambda a, b: b / a)

    def __neg__(self):
        return Num(-float(self), f"-{self.text}")


_IN_PLACE = {"add": "+=", "subtract": "-=", "multiply": "*=", "divide": "/="}


class _AnyName(dict):
    """Names for a probing run of a kernel: every array is called ``a``."""

    def __missing__(self, key):
        return "a"


class _RecordingXP:
    """The ``xp`` a kernel receives while it is printed: runs NumPy, writes each call."""

    def __init__(self, names, lines):
        self.names, self.lines = names, lines

    def _arg(self, a):
        if isinstance(a, Num):
            return a.text
        if isinstance(a, np.ndarray):
            return self.names[id(a)]
        return repr(a)

    def __getattr__(self, fname):
        fn = getattr(np, fname)

        def call(*args, out=None, **kw):
            raw = [float(a) if isinstance(a, Num) else a for a in args]
            result = fn(*raw, out=out, **kw) if out is not None else fn(*raw, **kw)
            texts = [self._arg(a) for a in args]
            if out is not None and fname in _IN_PLACE and out is args[0] and len(args) == 2:
                self.lines.append(f"{texts[0]} {_IN_PLACE[fname]} {texts[1]}")
            elif out is not None:
                self.lines.append(f"np.{fname}({', '.join(texts)}, out={self._arg(out)})")
            else:
                self.lines.append(f"np.{fname}({', '.join(texts)})")
            return result

        return call


# ---------------------------------------------------------------- the renderer
class _Render:
    def __init__(self, program, fn):
        self.p = program
        self.fn = fn
        self.labels = parameter_labels(program, fn)
        self.namer = Namer()
        self.made: set[int] = set()
        self.lines: list[str] = []
        self.uses_cr = False
        self.uses_prims = False
        self.consts: dict[str, np.ndarray] = {}
        self.grad_expr: dict[int, str] = {}  # id(param) -> its gradient's name now
        self.param_var: dict[int, str] = {}
        self.out_shape = ()
        self.layer: dict[int, int] = {}  # node -> layer index k (a_k, h_k)
        self._arg_names = self._argument_names()

    # --- helpers the templates use --------------------------------------------------
    def temp(self, hint):
        return self.namer.temp(hint)

    def shape_of(self, name_or_n):
        return self._node_by_name(name_or_n).shape

    def shape(self, k):
        return self.p.nodes[self._ins[k]].shape

    def ndim(self, name):
        return len(self.shape_of(name))

    def dtype_of(self, name):
        return np.dtype(self._node_by_name(name).dtype).name

    def _node_by_name(self, name):
        for n, nm in self.namer.of.items():
            if nm == name and n >= 0:
                return self.p.nodes[n]
        raise KeyError(name)

    def expr(self, value):
        from chainrule.compile.capture import Ref

        if isinstance(value, Ref):
            return self.ref(value.n)
        if isinstance(value, tuple):
            inner = ", ".join(self.expr(v) for v in value)
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        if isinstance(value, list):
            return "[" + ", ".join(self.expr(v) for v in value) + "]"
        if isinstance(value, np.dtype):
            return f"np.dtype({value.name!r})"
        if isinstance(value, type) and issubclass(value, np.generic):
            return f"np.{value.__name__}"
        if value is None or isinstance(value, (bool, int, float, str, slice)) or value is Ellipsis:
            return repr(value)
        if isinstance(value, np.generic):
            return f"np.{type(value).__name__}({value.item()!r})"
        key = f"c{len(self.consts)}"
        self.consts[key] = value
        return f"consts[{key!r}]"

    # --- naming ---------------------------------------------------------------------
    def _argument_names(self):
        try:
            params = [
                p.name
                for p in inspect.signature(self.fn).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
        except (TypeError, ValueError):
            params = []
        n = self.p.n_args
        return params[:n] if len(params) >= n else [f"arg{k}" for k in range(n)]

    def _leaf_name(self, t):
        label = self.labels.get(id(t))
        return identifier(label[1]) if label else f"tensor_{len(self.param_var)}"

    def _name_nodes(self):
        nodes = self.p.nodes
        linear_k = 0
        vjp_targets: dict[int, int] = {}
        for entry in self.p.code:
            if entry[0] == "node" and nodes[entry[1]].kind == "vjp":
                target = nodes[entry[1]].info[4][nodes[entry[1]].info[1]]
                vjp_targets[target] = vjp_targets.get(target, 0) + 1
        self._vjp_targets = vjp_targets
        for n, node in enumerate(nodes):
            if node.kind == "arg":
                self.namer.take(n, self._arg_names[node.info[0]])
            elif node.kind == "leaf":
                t = node.info[0]
                self.param_var[id(t)] = self.namer.take(n, self._leaf_name(t))
        for n, node in enumerate(nodes):
            if n in self.namer.of:
                continue
            kind = node.kind
            if kind in ("derived", "view"):
                arg = self._arg_names[node.info[0]]
                label = np.dtype(node.dtype).name if kind == "derived" else "slice"
                self.namer.take(n, f"{arg}_{label}")
                continue
            if kind == "fwd":
                prim = node.info[0]
                ins = node.info[1]
                if prim.name == "linear" and nodes[ins[1]].kind == "leaf":
                    linear_k += 1
                    self.layer[n] = linear_k
                    self.namer.take(n, f"a_{linear_k}")
                elif prim.name in ACTIVATIONS and ins[0] in self.layer:
                    self.layer[n] = self.layer[ins[0]]
                    self.namer.take(n, f"h_{self.layer[n]}")
                elif prim.name == "cross_entropy":
                    self.namer.take(n, "loss")
                elif (
                    prim.name == "mul" and nodes[ins[1]].kind == "callout" and ins[0] in self.layer
                ):
                    self.layer[n] = self.layer[ins[0]]
                    self.namer.take(ins[1], f"mask_{self.layer[n]}")
                    self.namer.take(n, f"h_{self.layer[n]}_dropped")
                else:
                    self.namer.take(n, f"{prim.name}_{n}")
            elif kind == "vjp":
                prim, i = node.info[0], node.info[1]
                target = node.info[4][i]
                base = self._grad_name(target)
                if self._vjp_targets.get(target, 0) > 1:
                    base = f"{base}_from_{prim.name}"
                self.namer.take(n, base)
            elif kind == "add":
                target = self._add_target(n)
                self.namer.take(n, self._grad_name(target) if target is not None else f"sum_{n}")
            elif kind == "seed":
                self.namer.take(n, "dloss")
            elif kind == "grad":
                t = node.info[0]
                base = self.param_var.get(id(t), "tensor")
                self.namer.take(n, f"grad_{base}_before" if node.info[1] else f"grad_{base}")
            elif kind == "callout":
                self.namer.take(n, f"draw_{n}")
            else:
                self.namer.take(n, f"{kind}_{n}")

    def _add_target(self, n):
        node = self.p.nodes[n]
        for part in node.info:
            pn = self.p.nodes[part]
            if pn.kind == "vjp":
                return pn.info[4][pn.info[1]]
            if pn.kind == "add":
                return self._add_target(part)
        return None

    def _grad_name(self, target):
        nodes = self.p.nodes
        tn = nodes[target]
        if tn.kind == "leaf":
            return f"grad_{self.param_var.get(id(tn.info[0]), 'tensor')}"
        if target in self.layer:
            name = self.namer.of.get(target, "")
            if name.startswith("a_"):
                return f"delta_{self.layer[target]}"
            if name.startswith("h_"):
                return f"grad_{name}"
        if tn.kind == "fwd" and tn.info[0].name == "cross_entropy":
            return "dloss"
        return f"grad_{self.namer.of.get(target, f'v{target}')}"

    # --- nodes ------------------------------------------------------------------------
    def ref(self, n):
        if n not in self.made:
            self.made.add(n)
            node = self.p.nodes[n]
            name = self.namer.of[n]
            kind = node.kind
            if kind == "leaf":
                pass  # unpacked at the top
            elif kind == "arg":
                pass  # a parameter of the function
            elif kind == "derived":
                k, dtype = node.info
                self.lines.append(
                    f"{name} = {self._arg_names[k]}.astype(np.{np.dtype(dtype).name})"
                    "  # the argument as the model's dtype (a copy, as cr.tensor makes)"
                )
            elif kind == "view":
                k, offset, strides = node.info
                self.lines.append(
                    f"{name} = np.ndarray({node.shape!r}, np.{np.dtype(node.dtype).name}, "
                    f"buffer={self._arg_names[k]}, offset={offset}, strides={strides!r})"
                    "  # a slice of the argument"
                )
            elif kind == "const":
                self.lines.append(f"{name} = {self._const(node.info[0])}")
            elif kind == "callout":
                self.uses_cr = True
                call = node.info[0]
                self.lines.append(f"{name} = {call.text}  # {call.label}: a fresh random draw")
            else:
                raise AssertionError(f"node {n} ({kind}) used before it is computed")
        return self.namer.of[n]

    def _const(self, a):
        dt = np.dtype(a.dtype).name
        flat = a.reshape(-1)
        if a.ndim == 1 and a.dtype.kind in "iu" and np.array_equal(a, np.arange(a.size)):
            return f"np.arange({a.size})"
        if flat.size and (flat == flat[0]).all() and not np.isnan(flat[0]):
            if a.ndim == 0:
                return f"np.asarray({flat[0].item()!r}, np.{dt})"
            return f"np.full({a.shape!r}, {flat[0].item()!r}, np.{dt})"
        return self.expr(a)

    def compute(self, n):
        node = self.p.nodes[n]
        kind, info = node.kind, node.info
        name = self.namer.of[n]
        self.out_shape = node.shape
        if kind == "fwd":
            prim, refs, tmpl = info
            self._ins = refs
            ins = [self.ref(r) for r in refs]
            self._comment_fwd(n, prim)
            template = FORWARD.get(prim.name)
            lines = template(name, ins, tmpl, self) if template else None
            if lines is None:
                self.uses_prims = True
                call = f"PRIMS[{prim.name!r}].forward({', '.join(ins)}{self._kw(tmpl)})"
                lines = [f"{name} = np.asarray({call})" if not node.shape else f"{name} = {call}"]
            self.lines += lines
        elif kind == "vjp":
            prim, i, g, ans, refs, tmpl = info
            self._ins = refs
            ins = [self.ref(r) for r in refs]
            gname, aname = self.ref(g), self.ref(ans)
            self._comment_vjp(n, prim, i, refs)
            template = VJP.get(prim.name)
            lines = template(name, i, gname, aname, ins, tmpl, self) if template else None
            if lines is None:
                self.uses_prims = True
                lines = [
                    f"{name} = PRIMS[{prim.name!r}].vjps[{i}](RAW, {gname}, {aname}, "
                    f"{', '.join(ins)}{self._kw(tmpl)})"
                ]
            self.lines += lines
        elif kind == "add":
            a, b = info
            self.lines.append(f"{name} = {self.ref(a)} + {self.ref(b)}  # branches add")
        elif kind == "seed":
            self.lines.append("")
            self.lines.append("# ---- backward: the chain rule, from the loss down to every weight")
            dt = np.dtype(node.dtype).name
            self.lines.append(f"{name} = np.ones({node.shape!r}, np.{dt})  # ∂L/∂L = 1")
        elif kind == "seedcopy":
            dt = np.dtype(node.dtype).name
            self.lines.append(
                f"{name} = np.asarray({self.ref(info[0])}).astype(np.{dt}, copy=True)"
            )
        elif kind == "grad":
            t, before = info
            key = self.labels.get(id(t), ("?",))[0]
            if before:
                self.lines.append(f"{name} = grads_before[{key!r}]  # .grad from earlier calls")
            else:
                self.lines.append(f"{name} = {self.grad_expr.get(id(t), 'None')}")
            self.grad_expr[id(t)] = name
        elif kind == "callout":
            self.uses_cr = True
            call = info[0]
            self.lines.append(f"{name} = {call.text}  # {call.label}: a fresh random draw")
        self.made.add(n)

    def _kw(self, tmpl):
        return "".join(f", {k}={self.expr(v)}" for k, v in tmpl.items())

    def _comment_fwd(self, n, prim):
        name = self.namer.of[n]
        prev = self.namer.of[self.p.nodes[n].info[1][0]]  # the op's first input
        if name.startswith("a_") and n in self.layer:
            k = self.layer[n]
            self.lines += [
                "",
                f"# layer {k}: a_{k} = W_{k} {prev} + b_{k}"
                f"  (a row per example: {prev} W_{k}ᵀ + b_{k})",
            ]
        elif name.startswith("h_") and n in self.layer and not name.endswith("_dropped"):
            self.lines.append(f"# {name} = {prim.name}({prev})")
        elif name.endswith("_dropped"):
            self.lines.append(f"# dropout: {prev} ⊙ mask, the mask keep/(1 − p) drawn fresh")
        elif prim.name == "cross_entropy":
            self.lines += [
                "",
                "# loss: softmax + negative log-likelihood, L = mean_i(log Σ_c e^(a_ic) − a_i,y_i)",
            ]

    def _comment_vjp(self, n, prim, i, refs):
        name = self.namer.of[n]
        if prim.name == "cross_entropy":
            k = self.layer.get(refs[0])
            d, a = (f"δ_{k}", f"a_{k}") if k else ("δ", "a")
            self.lines.append(
                f"# {d} = ∂L/∂{a} = (softmax({a}) − onehot(y)) / n   (δ_K, the output layer)"
            )
        elif prim.name == "linear" and refs[1] in self.nodes_with_leaf():
            k = self.layer.get(self._linear_node_of(refs), "k")
            prev = self.namer.of[refs[0]]
            if i == 0:
                self.lines.append(f"# ∂L/∂{prev} = W_{k}ᵀ δ_{k}  (rows: δ_{k} W_{k})")
            elif i == 1:
                self.lines.append(
                    f"# ∂L/∂W_{k} = δ_{k} {prev}ᵀ, summed over the batch: δ_{k}ᵀ {prev}"
                )
            else:
                self.lines.append(f"# ∂L/∂b_{k} = Σ_batch δ_{k}  (as 1ᵀ δ_{k}, one BLAS call)")
        elif prim.name in ACTIVATIONS and name.startswith("delta_"):
            k = name.split("_")[1]
            d = DERIVATIVE.get(prim.name, f"{prim.name}'")
            self.lines.append(f"# δ_{k} = ∂L/∂h_{k} ⊙ g'(a_{k}),  g' = {d}")
        elif prim.name == "mul" and self.namer.of.get(refs[1], "").startswith("mask_"):
            self.lines.append(f"# back through dropout: the same mask, {self.namer.of[refs[1]]}")

    def nodes_with_leaf(self):
        return {n for n, node in enumerate(self.p.nodes) if node.kind == "leaf"}

    def _linear_node_of(self, refs):
        for n, node in enumerate(self.p.nodes):
            if node.kind == "fwd" and node.info[0].name == "linear" and node.info[1] == refs:
                return n
        return None

    # --- calls --------------------------------------------------------------------------
    def call(self, call):
        kind = call.kind
        if kind == "zero_grad":
            self.lines += ["", f"# {call.label}: the gradients below start from nothing"]
            for t in self._optimizer_params(call.obj):
                self.grad_expr[id(t)] = f"np.zeros_like({self.param_var.get(id(t), 'None')})"
        elif kind == "optimizer.step":
            self._update(call.obj)
        elif kind in ("clip_grad_norm_", "clip_grad_value_"):
            self._clip(call)
        elif kind == "scheduler.step":
            self.lines.append("# scheduler.step(): the next call's lr comes in hyper")

    def _optimizer_params(self, opt):
        return [p for g in opt.param_groups for p in g["params"]]

    def _clip(self, call):
        self.uses_cr = True
        params = call.replay.args[0]
        rest = ", ".join(repr(a) for a in call.replay.args[1:])
        names = [self.param_var.get(id(p), "None") for p in params]
        grads = [self.grad_expr.get(id(p), "None") for p in params]
        self.lines += [
            "",
            f"# {call.kind}: chainrule's own function, on Tensors that hold the gradients",
            f"_clip = [cr.Tensor(p) for p in ({', '.join(names)},)]",
            f"for _p, _g in zip(_clip, ({', '.join(grads)},)):",
            "    _p.grad = None if _g is None else cr.Tensor(_g)",
            f"cr.nn.utils.{call.kind}(_clip, {rest})",
        ]
        for k, p in enumerate(params):
            self.grad_expr[id(p)] = f"_clip[{k}].grad.data"

    def plans(self, opt):
        """``[(param, kernel, arrays, scalars, state keys)]`` of the next step, computed on
        copies of the state (the live optimizer is not changed)."""
        out = []
        for group in opt.param_groups:
            for p in group["params"]:
                if id(p) not in self.grad_expr:
                    continue
                state = opt.state.get(p)
                st = dict(state) if state else opt._init_state(p, group)
                kernel, arrays, scalars = opt._plan(p, st, group)
                keys = {id(v): k for k, v in st.items() if hasattr(v, "shape")}
                out.append((p, kernel, arrays, scalars, keys))
        return out

    def scalar_names(self, plans):
        """``{(param id, key): name}``: one name (``lr``) when every parameter whose update
        uses the scalar has the same value, else one per parameter (``lr_fc1_weight``)."""
        users = {}
        for p, kernel, arrays, scalars, _ in plans:
            probe = {k: Num(v, f"__{k}__") if _is_number(v) else v for k, v in scalars.items()}
            lines = []
            copies = [None if a is None else a.copy() for a in arrays]
            param = p.data.copy()
            names = {id(param): "p", id(param): "p"}
            rec = _RecordingXP(_AnyName(names), lines)
            kernel(rec, param, param.copy(), *copies, param.copy(), param.copy(), **probe)
            text = "\n".join(lines)
            for k in probe:
                if f"__{k}__" in text:
                    users.setdefault(k, []).append((p, scalars[k]))
        names = {}
        for k, used in users.items():
            shared = all(v == used[0][1] for _, v in used)
            for p, _ in used:
                names[(id(p), k)] = k if shared else f"{k}_{self.param_var.get(id(p), 'p')}"
        for p, _, _, scalars, _ in plans:  # unused scalars still get a (never printed) name
            for k, v in scalars.items():
                if _is_number(v):
                    names.setdefault((id(p), k), f"{k}_{self.param_var.get(id(p), 'p')}")
        return names

    def _update(self, opt):
        plans = self.plans(opt)
        names = self.scalar_names(plans)
        self.hyper_names = sorted(set(names.values()))
        kernel_name = plans[0][1].__name__ if plans else ""
        self.lines += ["", f"# ---- update: {UPDATES.get(kernel_name, type(opt).__name__)}"]
        per_param = []
        for p, kernel, arrays, scalars, keys in plans:
            pv = self.param_var[id(p)]
            key = self.labels[id(p)][0]
            copies = {}
            rec_names = {}
            param_c = p.data.copy()
            grad_src = self.grad_expr[id(p)]
            gname = grad_src if grad_src.isidentifier() else f"_g_{pv}"
            if gname != grad_src:
                self.lines.append(f"{gname} = {grad_src}")
            grad_c = param_c.copy()
            rec_names[id(param_c)] = pv
            rec_names[id(grad_c)] = gname
            arr_c = []
            for a in arrays:
                if a is None:
                    arr_c.append(None)
                    continue
                c = a.copy()
                skey = keys.get(id(a), "buf")
                sname = f"{STATE_NAMES.get(skey, skey)}_{pv}"
                if sname in copies:  # two buffers with one short name (RMSprop): spell out
                    sname = f"{skey}_{pv}"
                rec_names[id(c)] = sname
                copies[sname] = skey
                arr_c.append(c)
            s, t = np.empty_like(param_c), np.empty_like(param_c)
            rec_names[id(s)], rec_names[id(t)] = "_s", "_t"
            sc = {k: Num(v, names[(id(p), k)]) if _is_number(v) else v for k, v in scalars.items()}
            kernel_lines = []
            kernel(_RecordingXP(rec_names, kernel_lines), param_c, grad_c, *arr_c, s, t, **sc)
            used = set(re.findall(r"[A-Za-z_]\w*", "\n".join(kernel_lines)))
            per_param.append((p, pv, key, copies, used, kernel_lines))
            self.used_hyper |= used
        for name in self.hyper_names:
            if name in self.used_hyper:
                self.lines.append(f"{name} = hyper[{name!r}]")
        for p, pv, key, copies, used, kernel_lines in per_param:
            self.lines.append(f"# {self.labels[id(p)][1]}")
            for sname, skey in copies.items():
                if sname in used:
                    self.lines.append(f"{sname} = state[{key!r}][{skey!r}]")
            scratch = [n for n in ("_s", "_t") if n in used]
            if scratch:
                lhs = ", ".join(scratch)
                rhs = ", ".join(f"np.empty_like({pv})" for _ in scratch)
                self.lines.append(f"{lhs} = {rhs}  # scratch")
            self.lines += kernel_lines

    # --- the whole function -------------------------------------------------------------
    def render(self, fname):
        self._name_nodes()
        self.hyper_names = []
        self.used_hyper = set()
        body = []
        for t_id, var in self.param_var.items():
            node = next(nd for nd in self.p.nodes if nd.kind == "leaf" and id(nd.info[0]) == t_id)
            if t_id not in self.labels:  # a tensor outside the model: its value now
                value = self._const(node.info[0].data)
                body.append(f"{var} = {value}  # a tensor outside the model, read at each call")
                continue
            key, display = self.labels[t_id]
            body.append(
                f"{var} = params[{key!r}]  # {display}: {node.shape}, {np.dtype(node.dtype).name}"
            )
        for n, node in enumerate(self.p.nodes):
            if node.kind in ("leaf", "arg"):
                self.made.add(n)
        grads_out = {}
        result = "None"
        for entry in self.p.code:
            kind = entry[0]
            if kind == "node":
                self.compute(entry[1])
            elif kind == "setgrad":
                _, t, n, _ = entry
                self.grad_expr[id(t)] = self.ref(n)
                if id(t) in self.labels:
                    grads_out[self.labels[id(t)][0]] = t
            elif kind == "call":
                self.call(entry[1])
            elif kind == "end":
                result = self._result(entry[1])
        grads = ", ".join(
            f"{k!r}: {self.grad_expr[id(t)]}"
            for k, t in grads_out.items()
            if id(t) in self.grad_expr
        )
        self.lines += ["", f"return {result}, {{{grads}}}"]
        args = ", ".join(self._arg_names)
        sig = f"def {fname}({args}, params, state, hyper, grads_before=None, consts=None):"
        doc = [
            '    """One training step, as the NumPy calls chainrule replays (cr.compile).',
            "",
            "    params: the model's arrays by name (updated in place); state: the",
            "    optimizer's buffers by parameter name (updated in place); hyper: this",
            "    step's optimizer scalars. Returns (the step's result, the gradients).",
            '    """',
        ]
        head = ["import numpy as np"]
        if self.uses_cr:
            head.append("import chainrule as cr")
        if self.uses_prims:
            head.append("from chainrule.autograd.primitive import PRIMITIVES as PRIMS, RAW")
        text = head + ["", "", sig, *doc]
        text += ["    " + line if line else "" for line in body + self.lines]
        return "\n".join(text) + "\n"

    def _result(self, tmpl):
        from chainrule.compile.capture import Ref

        if isinstance(tmpl, Ref):
            return self.ref(tmpl.n)
        if isinstance(tmpl, (tuple, list)):
            inner = ", ".join(self._result(v) for v in tmpl)
            return f"({inner},)" if len(tmpl) == 1 else f"({inner})"
        return repr(tmpl)


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def render(program, fn, name="train_step"):
    """The source text of ``program`` (see the module docstring)."""
    return _Render(program, fn).render(name)


def inputs(program, fn):
    """``{"params", "state", "hyper"}`` for running the source once, as the next replay
    would run: copies of the parameters and optimizer buffers, and the scalars the
    optimizer's ``_plan`` gives for the next step (computed on copies of its state)."""
    r = _Render(program, fn)
    r.render("train_step")
    params = {r.labels[id(t)][0]: t.data.copy() for t in program.leaves if id(t) in r.labels}
    state, hyper = {}, {}
    for opt in program.optimizers:
        plans = r.plans(opt)
        names = r.scalar_names(plans)
        for p, _, arrays, scalars, keys in plans:
            key = r.labels[id(p)][0]
            st = opt.state.get(p) or {}
            state[key] = {k: v.copy() for k, v in st.items() if hasattr(v, "shape")}
            for a in arrays:
                if a is not None and keys.get(id(a)) not in state[key]:
                    state[key][keys.get(id(a), "buf")] = a.copy()
            for k, v in scalars.items():
                if _is_number(v):
                    hyper[names[(id(p), k)]] = v
    grads_before = {
        r.labels[id(t)][0]: t.grad.data.copy()
        for t in program.leaves
        if id(t) in r.labels and t.grad is not None
    }
    return {
        "params": params,
        "state": state,
        "hyper": hyper,
        "grads_before": grads_before,
        "consts": r.consts,
    }
