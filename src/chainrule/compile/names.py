"""Names for the generated source: the model's parameter names and the lecture's symbols.

Parameters are named after the model: the k-th ``Linear`` layer used is ``fc{k}``
(``fc1.weight``, variable ``fc1_weight``) when the model keeps its layers in a
``Sequential`` (as ``MLP`` does); otherwise its attribute path (``encoder.proj.weight``).
Values follow the lecture's notation for an MLP — ``h_0 = x``, ``a_k = W_k h_{k-1} + b_k``,
``h_k = g(a_k)``, ``δ_k = ∂L/∂a_k`` — so the backward pass reads ``delta_2``,
``grad_h_1``, ``grad_fc1_weight``. Anything else is named after its op (``mul_7``).
"""

from __future__ import annotations

import keyword
import re

from chainrule.compile.guards import reachable_modules


def identifier(text: str) -> str:
    name = re.sub(r"\W+", "_", text).strip("_") or "v"
    if name[0].isdigit():
        name = "p_" + name
    return name + "_" if keyword.iskeyword(name) else name


def parameter_labels(program, fn, args=(), kwargs=None):
    """``{id(param): (state_dict name, display name)}`` for the program's leaves."""
    owner = {}
    roots = reachable_modules(fn, args, kwargs)
    for r, root in enumerate(roots):
        prefix = f"{r}." if len(roots) > 1 else ""  # several roots: "0.weight", "1.weight"
        for mod_name, m in root.named_modules():
            for attr, p in m._parameters.items():
                if p is not None:
                    full = prefix + (f"{mod_name}.{attr}" if mod_name else attr)
                    owner.setdefault(id(p), (full, m, attr))
    labels, linear_index = {}, {}
    for t in program.leaves:
        if id(t) not in owner:
            if t.requires_grad:  # a parameter outside any module the step reaches
                name = f"param{sum(1 for v in labels.values() if v[0].startswith('param'))}"
                labels[id(t)] = (name, name)
            continue
        full, m, attr = owner[id(t)]
        display = full
        numbered = any(part.isdigit() for part in full.split(".")[:-1])
        if type(m).__name__ == "Linear" and numbered:
            k = linear_index.setdefault(id(m), len(linear_index) + 1)
            display = f"fc{k}.{attr}"
        labels[id(t)] = (full, display)
    return labels


class Namer:
    """Unique Python names for nodes, with the lecture's symbols where they apply."""

    def __init__(self):
        self.used: set[str] = set()
        self.of: dict[int, str] = {}

    def take(self, n, wanted):
        name = identifier(wanted)
        base, k = name, 2
        while name in self.used:
            name = f"{base}_{k}"
            k += 1
        self.used.add(name)
        self.of[n] = name
        return name

    def temp(self, hint="t"):
        return self.take(-len(self.used) - 1000, f"_{hint}")
