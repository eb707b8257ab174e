"""The optimizer's step as a replay runs it for small models: the same kernels, less
bookkeeping.

``Optimizer.step`` builds a to-do list, checks every gradient's shape, plans every
parameter, and hands the work to a runner that decides between whole arrays and
threaded chunks. For a model of a few KiB that bookkeeping costs more than the update.
A replay already knows the shapes are right (its guards checked them), so for an
optimizer that keeps the base class's ``step`` and a model under the runner's chunking
threshold it runs the documented kernel protocol directly (see
:mod:`chainrule.optim.optimizer`): for each parameter with a gradient, read live — the
state (created by ``_init_state`` if new), ``_plan`` (which advances step counters and
reads the group's current lr), then ``kernel(xp, param, grad, *state_arrays, s, t,
**scalars)`` on whole arrays. Kernels are elementwise, so whole arrays give the same
bits as the runner's chunks. Larger models, and optimizers with their own ``step``,
replay ``opt.step()`` itself.
"""

from __future__ import annotations

import numpy as np


def fast_step(opt):
    """A no-argument function doing ``opt.step()``'s work, or None when ``opt.step()``
    should be called as it is."""
    optim = type(opt).__mro__
    base = next((c for c in optim if c.__name__ == "Optimizer" and "step" in c.__dict__), None)
    if base is None or type(opt).step is not base.step:
        return None
    params = [p for g in opt.param_groups for p in g["params"]]
    if any(type(p.data) is not np.ndarray or not p.data.flags.c_contiguous for p in params):
        return None
    whole = getattr(__import__(base.__module__, fromlist=["_WHOLE_BYTES"]), "_WHOLE_BYTES", 0)
    if sum(p.data.nbytes for p in params) >= whole:
        return None  # the runner chunks and threads large steps: keep it
    scratch = {}
    for p in params:
        s, t = opt._buffers(0, np, p.data.dtype, p.data.size)
        scratch[id(p)] = (s.reshape(p.data.shape), t.reshape(p.data.shape))
    state_of, init, plan, groups = opt.state, opt._init_state, opt._plan, opt

    def step():
        for group in groups.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                state = state_of.get(p)
                if state is None:
                    state = init(p, group)
                kernel, arrays, scalars = plan(p, state, group)
                if state:
                    state_of[p] = state
                s, t = scratch[id(p)]
                kernel(np, p.data, grad.data, *arrays, s, t, **scalars)

    return step
