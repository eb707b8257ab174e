"""Module: the base class of layers and models, with PyTorch's registration rules.

Assigning a :class:`Parameter` or a :class:`Module` to an attribute registers it, in
assignment order, so ``parameters()`` and ``state_dict()`` find everything without being
told::

    class TwoLayer(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = cr.nn.Linear(2, 8)      # registered as child "hidden"
            self.out = cr.nn.Linear(8, 1)         # registered as child "out"

        def forward(self, x):
            return self.out(self.hidden(x).tanh())

The registries (``_parameters``, ``_modules``, ``_buffers``) are ordered dicts of name ->
value. Every registered value is *also* stored as a plain instance attribute, so that
``self.weight`` in a forward pass is an ordinary attribute lookup, not a ``__getattr__``
detour: ``__setattr__``/``__delattr__`` keep the two in step.
"""

from __future__ import annotations

from collections import namedtuple

from chainrule.backend import xp
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor

_REGISTRIES = ("_parameters", "_modules", "_buffers")

_MISSING = object()

LoadResult = namedtuple("LoadResult", ["missing_keys", "unexpected_keys"])


class _RemovableHandle:
    """Returned by ``register_forward_hook``; ``remove()`` unregisters the hook."""

    __slots__ = ("hooks", "key")
    _next_key = 0

    def __init__(self, hooks):
        self.hooks = hooks
        self.key = _RemovableHandle._next_key
        _RemovableHandle._next_key += 1

    def remove(self):
        self.hooks.pop(self.key, None)


class Module:
    """Base class for every layer and model.

    Subclasses call ``super().__init__()`` first, assign their parameters and sub-modules
    as attributes, and define ``forward``. Calling the module calls ``forward``.

    Attributes:
        training: True in training mode (the default), False after ``eval()``; read by
            layers that behave differently at test time (Dropout).
    """

    def __init__(self):
        d = self.__dict__
        d["_parameters"] = {}
        d["_modules"] = {}
        d["_buffers"] = {}
        d["_forward_hooks"] = {}
        d["training"] = True

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        # the hot path: one call to forward, plus a dict truthiness test for hooks
        out = self.forward(*args, **kwargs)
        if self._forward_hooks:
            for hook in tuple(self._forward_hooks.values()):
                result = hook(self, args, out)
                if result is not None:
                    out = result
        return out

    def register_forward_hook(self, hook):
        """Call ``hook(module, inputs, output)`` after every forward; a non-None return
        value replaces the output. Returns a handle whose ``remove()`` unregisters it.

        Diagnostics use this to watch activations of any model; models without hooks
        pay only an empty-dict test per call.
        """
        handle = _RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.key] = hook
        return handle

    # --- registration --------------------------------------------------------------
    def __setattr__(self, name, value):
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() call "
                f"(call super().__init__() first in {type(self).__name__}.__init__)"
            )
        if isinstance(value, Parameter):
            self._register("_parameters", name, value)
        elif isinstance(value, Module):
            self._register("_modules", name, value)
        elif name in d["_parameters"]:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter {name!r} "
                    "(cr.nn.Parameter or None expected)"
                )
            self._register("_parameters", name, None)
        elif name in d["_modules"]:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as child module {name!r} "
                    "(cr.nn.Module or None expected)"
                )
            self._register("_modules", name, None)
        elif name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign {type(value).__name__} as buffer {name!r} "
                    "(Tensor or None expected)"
                )
            d["_buffers"][name] = value
            d[name] = value
        else:
            object.__setattr__(self, name, value)

    def _register(self, registry, name, value):
        d = self.__dict__
        for other in _REGISTRIES:
            if other != registry:
                d[other].pop(name, None)
        d[registry][name] = value
        # mirror as a plain attribute for fast lookup, unless a method or property of
        # the class has that name (a ModuleDict key "keys"): then __getattr__ finds it
        if not hasattr(type(self), name):
            d[name] = value

    def __getattr__(self, name):
        # only reached when normal lookup fails: registered names shadowed by the class
        d = self.__dict__
        for registry in _REGISTRIES:
            values = d.get(registry)
            if values is not None and name in values:
                return values[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        d = self.__dict__
        found = False
        for registry in _REGISTRIES:
            found |= d[registry].pop(name, _MISSING) is not _MISSING
        if name in d:
            del d[name]
        elif not found:
            object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter or None) under ``name``; same as assignment."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None")
        self._register("_parameters", name, param)

    def register_module(self, name, module):
        """Register ``module`` (or None) as a child under ``name``; same as assignment."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"register_module: {name!r} must be a Module or None")
        self._register("_modules", name, module)

    add_module = register_module

    def register_buffer(self, name, tensor):
        """Register a non-trainable tensor (running statistics, masks) that ``state_dict``
        saves and ``astype`` converts, but ``parameters()`` does not return."""
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(xp.asarray(tensor))
        self._register("_buffers", name, tensor)

    # --- traversal -----------------------------------------------------------------
    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """Yield ``(dotted_name, Parameter)``: own parameters in registration order, then
        each child's, depth first (``"layers.0.weight"``). Shared parameters appear once."""
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, module in modules:
            for name, p in module._parameters.items():
                if p is None or (remove_duplicate and id(p) in seen):
                    continue
                seen.add(id(p))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), p

    def parameters(self, recurse=True):
        """Yield every Parameter once, in the order of ``named_parameters()``."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, module in modules:
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{mod_prefix}.{name}" if mod_prefix else name), b

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def named_children(self):
        """Yield ``(name, module)`` for the direct children, in registration order."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_modules(self, memo=None, prefix=""):
        """Yield ``(dotted_name, module)`` for this module (name ``""``) and every
        descendant, depth first, each module once."""
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def apply(self, fn):
        """Call ``fn(module)`` on every child (recursively) and then on this module."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def num_parameters(self, trainable_only=False):
        """The total number of scalar parameters (each shared parameter counted once)."""
        return sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only)

    # --- modes and gradients ---------------------------------------------------------
    def train(self, mode=True):
        """Set training mode on this module and every descendant; returns self."""
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode must be a bool, got {type(mode).__name__}")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self):
        """Evaluation mode (``train(False)``): Dropout passes its input through."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze (True) every parameter; returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Forget gradients: ``p.grad = None`` (default), or a fresh zero gradient array
        (never an old array zeroed in place: one gradient array may be shared)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = Tensor(xp.zeros_like(p.data))

    # --- dtype ---------------------------------------------------------------------
    def astype(self, dtype):
        """Convert every floating parameter, gradient and buffer to ``dtype`` in place:
        the Parameter objects stay the same (an optimizer built earlier still holds
        them), only their ``.data`` changes. Returns self."""
        dtype = xp.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"astype: expected a floating dtype, got {dtype}")
        for p in self.parameters():
            p.data = p.data.astype(dtype, copy=False)
            if p.grad is not None:
                p.grad = Tensor(p.grad.data.astype(dtype, copy=False))
        for b in self.buffers():
            if b.data.dtype.kind == "f":
                b.data = b.data.astype(dtype, copy=False)
        return self

    def float(self):
        """``astype(float32)``."""
        return self.astype(xp.float32)

    def double(self):
        """``astype(float64)``: what numerical checks and PyTorch parity tests use."""
        return self.astype(xp.float64)

    # --- state ---------------------------------------------------------------------
    def state_dict(self):
        """``{dotted_name: numpy array copy}`` for every parameter and buffer, in the
        order of ``named_parameters()`` then ``named_buffers()``."""
        out = {}
        for name, p in self.named_parameters():
            out[name] = p.data.copy()
        for name, b in self.named_buffers():
            out[name] = b.data.copy()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from ``state_dict`` into the parameters and buffers, in place.

        Values are arrays, Tensors or PyTorch tensors (``torch_model.state_dict()``
        loads directly; a ``torch.nn.Sequential``'s ``0.weight`` keys fit a chainrule
        ``Sequential``, and ``mlp.layers`` of an MLP), cast to each parameter's dtype
        (as ``torch``'s ``copy_`` does).
        Problems are collected first and reported in ONE ``RuntimeError`` that lists
        every missing key, every unexpected key (both only when ``strict``) and every
        shape mismatch (always); nothing is copied when there is an error. Returns
        ``(missing_keys, unexpected_keys)``.
        """
        own = dict(self.named_parameters())
        own.update(self.named_buffers())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        values, mismatched = {}, []
        for name, target in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            arr = _host_array(value)
            if arr.shape != target.shape:
                mismatched.append(
                    f"{name}: shape {tuple(arr.shape)} in the state dict, "
                    f"{tuple(target.shape)} in the model"
                )
            values[name] = arr
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if mismatched:
            problems.append("shape mismatches: " + "; ".join(mismatched))
        if problems:
            raise RuntimeError(
                f"load_state_dict: the state dict does not fit {type(self).__name__} — "
                + " | ".join(problems)
            )
        for name, arr in values.items():
            own[name].data[...] = arr
        return LoadResult(missing, unexpected)

    def to_torch(self):
        """The equal ``torch.nn.Sequential``, weights copied (needs PyTorch): for an MLP
        or a Sequential of Linear, activation and Dropout layers; other modules are
        refused by name. An MLP's ``layers.k.weight`` becomes ``k.weight``."""
        # interop sits above nn (it converts whole models); imported when called
        from chainrule.interop.pytorch import to_torch

        return to_torch(self)

    # --- printing ------------------------------------------------------------------
    def extra_repr(self):
        """The text inside this module's parentheses (subclasses override)."""
        return ""

    def _repr_lines(self):
        extra = self.extra_repr()
        if not self._modules:
            line = f"{type(self).__name__}({extra})"
            own = [(n, p) for n, p in self._parameters.items() if p is not None]
            if own:  # a leaf layer: show its parameter shapes
                line += "  # " + ", ".join(f"{n} {tuple(p.shape)}" for n, p in own)
            return [line]
        lines = [f"{type(self).__name__}(" + (extra if extra else "")]
        for name, m in self._modules.items():
            child = ["None"] if m is None else m._repr_lines()
            lines.append(f"  ({name}): {child[0]}")
            lines.extend("  " + line for line in child[1:])
        lines.append(")")
        return lines

    def _repr_mimebundle_(self, include=None, exclude=None):
        # late-bound: chainrule.display sits above this layer (DESIGN.md), so it is
        # imported on the first notebook display, never when this module is imported
        from chainrule.display import mimebundle

        return mimebundle(self, include, exclude)

    def __repr__(self):
        """The layer tree (PyTorch's layout), each layer's parameter shapes, and the
        total parameter count on the last line."""
        lines = self._repr_lines()
        n = self.num_parameters()
        if n or self._modules:
            sep = "; " if "#" in lines[-1] else "  # "
            lines[-1] += f"{sep}{n:,} parameters"
        return "\n".join(lines)


def _host_array(value):
    """A state-dict value as an array: a Tensor's data, or a PyTorch tensor's (detached,
    on the CPU; recognised by its ``detach``/``cpu``/``numpy`` methods, so nn never
    imports torch), or anything ``asarray`` takes."""
    if isinstance(value, Tensor):
        return xp.asarray(value.data)
    if all(hasattr(value, m) for m in ("detach", "cpu", "numpy")):
        value = value.detach().cpu()
        try:
            return xp.asarray(value.numpy())
        except TypeError:  # bfloat16 has no NumPy dtype; float32 holds it exactly
            return xp.asarray(value.float().numpy())
    return xp.asarray(value)


__all__ = ["LoadResult", "Module"]
