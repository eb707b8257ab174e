"""Guards: the cheap checks a replay makes first, so that a changed model is re-captured.

A replay does not run the step's Python code, so it cannot notice a layer swapped for
another, a parameter frozen, ``model.eval()``, or a parameter group added to the
optimizer. Each guard is one comparison against the captured state (``is`` for objects,
``==`` for shapes and dtypes); a few dozen of them cost a few microseconds. The modules
checked are those the step can reach: its closure, the globals it names, ``self`` of a
bound method and the attributes of those objects, and its Module arguments. And each
name the step reads (closure variables, globals) must still name the same object.
"""

from __future__ import annotations

import contextlib
import types

from chainrule.compile import refusals
from chainrule.tensor import Tensor


def _module_class():
    import sys

    nn = sys.modules.get("chainrule.nn.module")  # no import: compile does not need nn
    return None if nn is None else nn.Module


def reachable_modules(fn, args=(), kwargs=None):
    """Root Modules the step function can reach (one level into plain objects)."""
    Module = _module_class()
    if Module is None:
        return []
    seen, roots = set(), []

    def visit(v, depth):
        if isinstance(v, Module):
            if id(v) not in seen:
                seen.add(id(v))
                roots.append(v)
        elif depth and callable(v) and getattr(v, "__closure__", None):
            for cell in v.__closure__:  # a helper function closing over the layers
                with contextlib.suppress(ValueError):
                    visit(cell.cell_contents, depth - 1)
        elif depth and hasattr(v, "__dict__") and not isinstance(v, type):
            for x in list(vars(v).values()):
                visit(x, depth - 1)
        elif depth and isinstance(v, (list, tuple)):
            for x in v:
                visit(x, depth - 1)

    target = getattr(fn, "__func__", fn)
    owner = getattr(fn, "__self__", None)
    if owner is not None:
        visit(owner, 2)
    for cell in getattr(target, "__closure__", None) or ():
        with contextlib.suppress(ValueError):  # an empty cell
            visit(cell.cell_contents, 2)
    code = getattr(target, "__code__", None)
    glb = getattr(target, "__globals__", {})
    if code is not None:
        for name in code.co_names:
            if name in glb:
                visit(glb[name], 1)
    for a in list(args) + list((kwargs or {}).values()):
        visit(a, 1)
    return roots


def guards(program, fn, args, kwargs):
    """``[(expression, {placeholder: object})]`` for :func:`chainrule.compile.replay.build`."""
    out = []
    for t in program.leaves:
        out.append(
            (
                f"type({{t}}.data) is {{a}} and {{t}}.data.shape == {tuple(t.data.shape)!r} "
                f"and {{t}}.data.dtype == {{d}} and {{t}}.requires_grad is {bool(t.requires_grad)}",
                {"t": t, "a": type(t.data), "d": t.data.dtype},
            )
        )
    for n in program.nodes:
        if n.kind == "grad" and n.info[1]:
            out.append(("{t}.grad is not None", {"t": n.info[0]}))
    for opt in program.optimizers:
        groups = opt.param_groups
        # unrolled: a generator expression here cost ~0.5 µs, a third of all the guards
        parts = [f"len({{o}}.param_groups) == {len(groups)}"]
        parts += [
            f"len({{o}}.param_groups[{k}]['params']) == {len(g['params'])}"
            for k, g in enumerate(groups)
        ]
        out.append((" and ".join(parts), {"o": opt}))
    out += _names(fn)
    seen = set()
    for root in reachable_modules(fn, args, kwargs):
        for _, m in root.named_modules():
            if id(m) in seen:
                continue
            seen.add(id(m))
            if m._forward_hooks:
                raise refusals.hooks(f"a forward hook on {type(m).__name__}")
            objs = {"m": m}
            parts = [f"{{m}}.training is {bool(m.training)}", "not {m}._forward_hooks"]
            parts.append(f"len({{m}}._modules) == {len(m._modules)}")
            for k, (name, child) in enumerate(m._modules.items()):
                objs[f"c{k}"] = child
                parts.append(f"{{m}}._modules.get({name!r}) is {{c{k}}}")
            parts.append(f"len({{m}}._parameters) == {len(m._parameters)}")
            for k, (name, p) in enumerate(m._parameters.items()):
                objs[f"p{k}"] = p
                parts.append(f"{{m}}._parameters.get({name!r}) is {{p{k}}}")
            out.append((" and ".join(parts), objs))
    return out


def _code_names(code):
    """The global names a code object and the functions defined inside it read."""
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _code_names(const)
    return names


def _names(fn, depth=2, seen=None):
    """Guards that the step's names still mean what they meant: each closure variable and
    each global it reads is the object it was at capture, and so are the attributes a
    bound method's code reads from ``self``; functions found there are followed
    ``depth`` levels (a module-level ``forward`` reading the global ``model``). A notebook
    that re-runs the cell making ``model`` and ``opt`` gives the step new objects under
    the same names; a replay would train the old ones."""
    seen = set() if seen is None else seen
    target = getattr(fn, "__func__", fn)
    code = getattr(target, "__code__", None)
    if code is None or id(target) in seen:
        return []
    seen.add(id(target))
    found = []  # (namespace expression, its object, the value)
    for cell in getattr(target, "__closure__", None) or ():
        try:
            found.append(("{c}.cell_contents is {v}", {"c": cell}, cell.cell_contents))
        except ValueError:  # an empty cell (a name bound later): leave it
            continue
    names = sorted(_code_names(code))
    glb = getattr(target, "__globals__", {})
    found += [(f"{{g}}.get({n!r}) is {{v}}", {"g": glb}, glb[n]) for n in names if n in glb]
    owner = getattr(fn, "__self__", None)
    attrs = getattr(owner, "__dict__", None)
    if isinstance(attrs, dict):
        found += [
            (f"{{d}}.get({n!r}) is {{v}}", {"d": attrs}, attrs[n]) for n in names if n in attrs
        ]
    out = []
    for expr, objs, value in found:
        out.append((expr, {**objs, "v": value}))
        user = not (getattr(value, "__module__", None) or "").startswith("chainrule")
        if depth and user and isinstance(value, types.FunctionType | types.MethodType):
            out += _names(value, depth - 1, seen)  # the library's own names do not move
    return out


def parameter_names(fn, args=(), kwargs=None):
    """``{id(parameter): "fc1.weight"}`` for every parameter of the reachable modules."""
    names = {}
    for root in reachable_modules(fn, args, kwargs):
        for name, p in root.named_parameters():
            if isinstance(p, Tensor):
                names.setdefault(id(p), name)
    return names
