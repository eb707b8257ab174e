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

import numpy as np

from chainrule.compile.calls_text import CallsText
from chainrule.compile.names import Namer, identifier, parameter_labels
from chainrule.compile.templates import FORWARD, VJP

ACTIVATIONS = {"relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu", "log_sigmoid"}
DERIVATIVE = {
    "relu": "[a > 0]",
    "tanh": "1 − h²",
    "sigmoid": "h(1 − h)",
    "leaky_relu": "1 or α",
}


# ---------------------------------------------------------------- the renderer
class _Render(CallsText):
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


def render(program, fn, name="train_step"):
    """The source text of ``program`` (see the module docstring)."""
    return _Render(program, fn).render(name)
