"""Buffers: which arrays of a replay can live in memory the replay owns, and for how long.

A lowered kernel (:mod:`.lowering`) can write its result into a preallocated array
instead of a fresh one. That is safe for an array nobody sees after the step and that is
not read after it is overwritten, so three things are worked out from the program:

* **aliases** — an op that is not lowered may return a view of its input (``reshape``,
  the VJP of ``add`` returns ``g`` itself), so its result counts as possibly sharing
  memory with every array it read;
* **escapes** — a gradient stored in ``.grad`` without a copy, or a result returned by
  the step, leaves the step: it and everything it may alias get fresh arrays, as eager
  mode gives them;
* **lifetimes** — an owned array is free again after the last line that reads it or any
  of its possible aliases.

Free arrays go back to a pool keyed by shape and dtype and are handed to the next result
of that shape, so the replay holds about as many arrays at once as eager mode holds at
its peak (eager frees each array when its last reference dies; the replay frees it at
the same last use), and holds them between steps instead of allocating them anew.
"""

from __future__ import annotations

import numpy as np


def analyse(nodes, code, lowered, uses):
    """``(escaping, end)``: lowered nodes that must get fresh arrays, and for every other
    lowered node the index of the last code entry that reads it or a possible alias.

    ``lowered`` is the set of node indices computed by lowered kernels, ``uses(entry)``
    the node indices a code entry reads."""
    alias: dict[int, frozenset] = {}
    last: dict[int, int] = {}
    escaping: set[int] = set()
    made: dict[int, int] = {}
    for k, entry in enumerate(code):
        read = uses(entry)
        for n in read:
            last[n] = k
        kind = entry[0]
        if kind == "node":
            n = entry[1]
            made[n] = k
            if n in lowered:
                alias[n] = frozenset((n,))
            elif nodes[n].kind in ("fwd", "vjp"):  # may return a view of what it read
                alias[n] = frozenset().union(*(alias.get(r, ()) for r in read))
        elif kind == "setgrad" and not entry[3]:  # stored without a copy
            escaping |= alias.get(entry[2], frozenset())
        elif kind == "end":
            for n in read:
                escaping |= alias.get(n, frozenset())
    end = {n: max(last.get(n, -1), made[n]) for n in lowered if n not in escaping}
    for n, holders in alias.items():
        for m in holders:
            if m in end:
                end[m] = max(end[m], last.get(n, -1))
    return escaping, end


class Pool:
    """Owned arrays by ``(shape, dtype)``; ``take`` reuses a free one or makes one."""

    def __init__(self, bind):
        self.bind = bind  # bind(array) -> the name the replay's code uses for it
        self.free: dict[tuple, list[str]] = {}
        self.key: dict[str, tuple] = {}
        self.nbytes = 0

    def take(self, shape, dtype) -> str:
        key = (tuple(shape), np.dtype(dtype))
        free = self.free.get(key)
        if free:
            return free.pop()
        array = np.empty(key[0], key[1])
        self.nbytes += array.nbytes
        name = self.bind(array)
        self.key[name] = key
        return name

    def give(self, name: str) -> None:
        self.free.setdefault(self.key[name], []).append(name)
