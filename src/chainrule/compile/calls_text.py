"""``step.source()``'s calls: zero_grad, clipping, schedules and the optimizer's update
(its kernel printed by running it once, see :mod:`.kernel_text`), and the inputs that run
the printed function once as the next replay would (:func:`inputs`)."""

from __future__ import annotations

import re

import numpy as np

from chainrule.compile.kernel_text import Num, _AnyName, _RecordingXP

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


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class CallsText:
    """The part of the renderer that writes the step's calls (a mixin of ``_Render``)."""

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


def inputs(program, fn):
    """``{"params", "state", "hyper"}`` for running the source once, as the next replay
    would run: copies of the parameters and optimizer buffers, and the scalars the
    optimizer's ``_plan`` gives for the next step (computed on copies of its state)."""
    from chainrule.compile.source import _Render  # source imports this module: late

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
