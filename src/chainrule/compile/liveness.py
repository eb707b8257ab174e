"""Liveness: which arrays of a replay a lowered kernel may overwrite in place, and when.

An in-place kernel (``relu`` on a layer's output, ``relu``'s VJP on the incoming δ)
writes its result into its input's array instead of a fresh one. That is safe for an
array nobody sees after the step and that nobody reads afterwards, so three things are
worked out from the program:

* **aliases** — an op that is not lowered may return a view of its input (``reshape``,
  the VJP of ``add`` returns ``g`` itself), so its result counts as possibly sharing
  memory with every array it read;
* **escapes** — a gradient stored in ``.grad`` without a copy, or a result returned by
  the step, leaves the step: it and everything it may alias are never overwritten;
* **lifetimes** — an array's last reader is the last code entry that reads it or any of
  its possible aliases; only there may a kernel take it over.

Every other result is a fresh array, allocated when it is made and dropped at its last
use, as eager mode does — so a replay never holds more memory than an eager step, and
each in-place kernel holds one array less.
"""

from __future__ import annotations


def analyse(nodes, code, lowered, uses):
    """``(escaping, end)``: the lowered nodes whose arrays leave the step (never to be
    overwritten), and for every other lowered node the index of the last code entry
    that reads it or a possible alias.

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
