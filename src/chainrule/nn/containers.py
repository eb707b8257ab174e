"""Containers: Sequential, ModuleList and ModuleDict.

Modules kept in a plain Python list or dict are invisible to ``parameters()``; these
containers register them (under the names "0", "1", ... or the dict's keys), so
``named_parameters()`` yields ``"layers.0.weight"`` and the optimizer sees everything.
"""

from __future__ import annotations

import operator
from collections import OrderedDict

from chainrule.nn.module import Module


def _check_module(owner, m):
    if not isinstance(m, Module):
        raise TypeError(f"{owner}: expected a cr.nn.Module, got {type(m).__name__}")
    return m


class _IndexedContainer(Module):
    """Shared by Sequential and ModuleList: children named "0", "1", ... in order."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def _index(self, idx):
        idx = operator.index(idx)
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"{type(self).__name__}: index {idx} is out of range for {n} modules")
        return idx % n

    def _renumber(self, modules):
        for name in list(self._modules):
            self.__dict__.pop(name, None)
        self._modules.clear()
        for m in modules:
            self.append(m)

    def __setitem__(self, idx, module):
        name = list(self._modules)[self._index(idx)]
        self.register_module(name, _check_module(type(self).__name__, module))

    def __delitem__(self, idx):
        modules = list(self._modules.values())
        if isinstance(idx, slice):
            del modules[idx]
        else:
            del modules[self._index(idx)]
        self._renumber(modules)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        self.register_module(str(len(self._modules)), _check_module(type(self).__name__, module))
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        modules = list(self._modules.values())
        modules.insert(index, _check_module(type(self).__name__, module))
        self._renumber(modules)


class Sequential(_IndexedContainer):
    """Apply modules in order: ``Sequential(Linear(2, 8), Tanh(), Linear(8, 1))(x)``.

    Indexable (``seq[0]``, ``seq[-1]``, ``seq[1:]`` gives a Sequential), has ``len`` and
    iterates over its layers. Also accepts one ``OrderedDict`` of named modules.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (OrderedDict, dict)):
            for name, m in modules[0].items():
                self.register_module(str(name), _check_module("Sequential", m))
        else:
            for m in modules:
                self.append(m)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return Sequential(*list(self._modules.values())[idx])
        if isinstance(idx, str):
            return self._modules[idx]
        return list(self._modules.values())[self._index(idx)]

    def forward(self, x):
        for layer in self._modules.values():
            x = layer(x)
        return x


class ModuleList(_IndexedContainer):
    """A list of modules that registers them: ``self.blocks = ModuleList([...])``.

    Supports indexing (slices give a ModuleList), ``len``, iteration, ``append``,
    ``extend``, ``insert`` and ``del``; it has no ``forward`` of its own.
    """

    def __init__(self, modules=()):
        super().__init__(modules)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return self._modules[str(self._index(idx))]


class ModuleDict(Module):
    """A dict of modules that registers them under their keys (insertion order)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        if not isinstance(key, str):
            raise TypeError(f"ModuleDict: keys must be strings, got {type(key).__name__}")
        self.register_module(key, _check_module("ModuleDict", module))

    def __delitem__(self, key):
        del self._modules[key]
        self.__dict__.pop(key, None)

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key):
        m = self._modules[key]
        del self[key]
        return m

    def update(self, modules):
        items = modules.items() if hasattr(modules, "items") else modules
        for key, m in items:
            self[key] = m


__all__ = ["ModuleDict", "ModuleList", "Sequential"]
