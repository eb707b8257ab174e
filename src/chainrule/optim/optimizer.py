"""The optimizer base: parameter groups, per-parameter state, state_dict, and the update runner.

An optimizer holds ``param_groups`` (a list of dicts: ``"params"`` plus that group's
hyperparameters) and ``state`` (a dict keyed by parameter, never stored on the parameter).
Each algorithm (SGD, Adam, ...) supplies two small methods:

* ``_init_state(p, group)`` — the fresh per-parameter state (buffers start as zeros);
* ``_plan(p, state, group)`` — advance the step counter, compute the step's scalars, and
  return the update: ``(kernel, state_arrays, scalars)``.

The *kernel* is a module-level function holding the update math on raw arrays:
``kernel(xp, param, grad, *state_arrays, s, t, **scalars)``. It updates ``param`` and the
state arrays in place, never writes ``grad`` (a gradient array may be shared between
parameters), and uses ``s`` and ``t`` — two scratch arrays shaped like ``param`` — for its
temporaries, so a step allocates nothing.

Why a runner instead of calling the kernel directly: speed. Every line of a kernel is one
NumPy ufunc, i.e. one pass over memory on one core. The runner cuts contiguous NumPy arrays
into 256 KiB chunks and spreads them over a few threads (ufuncs release the GIL), which is
what torch's intra-op threads do for ``torch.optim``. Updates are elementwise, so chunking
and threading change nothing in the result: it is bitwise the same for any thread count.
CuPy arrays (and non-contiguous ones) go to the kernel whole.
"""

from __future__ import annotations

import copy
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from chainrule import backend
from chainrule.tensor import Tensor

# per array per chunk: the 4-5 arrays of one chunk (parameter, gradient, state, scratch)
# stay in a core's L2 cache across the kernel's passes, and each ufunc call stays long
# (bench/optim_step.py --chunk-kib: 1 MiB chunks were ~1.5x slower for SGD and Adam)
_CHUNK_BYTES = 256 << 10
_WHOLE_BYTES = 2 << 20  # a step over fewer bytes in all runs whole: chunks would cost more
_num_threads = None  # None: decide on first use
_pool = None
_pool_lock = threading.Lock()


def get_num_threads() -> int:
    """Threads an optimizer step uses for NumPy arrays.

    Default: ``OMP_NUM_THREADS`` when set (so a process pinned to one thread stays on one),
    else 1 on machines with at most 2 usable cores (a second thread competes with BLAS's
    spinning worker and measured 2-7 % slower per training step), else min(4, cores).
    """
    global _num_threads
    if _num_threads is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # macOS, Windows
            cores = os.cpu_count() or 1
        env = os.environ.get("OMP_NUM_THREADS", "")
        if env.isdigit() and int(env) > 0:
            _num_threads = min(int(env), max(cores, 1))
        else:
            _num_threads = 1 if cores <= 2 else min(4, cores)
    return _num_threads


def set_num_threads(n: int) -> None:
    """Set the threads an optimizer step uses (1 runs every update on the calling thread)."""
    global _num_threads, _pool
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: invalid n {n!r} (must be an int >= 1)")
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=True)
            _pool = None
        _num_threads = n


def _forget_pool_after_fork():
    # A forked child inherits the pool object but not its threads; start a new one on demand.
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _get_pool(workers: int) -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="chainrule-optim")
        return _pool


def _check(owner: str, name: str, value, ok: bool, rule: str):
    """Raise ``ValueError("SGD: invalid momentum 1.5 (must be in [0, 1))")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{owner}: invalid {name} {value!r} (must be {rule})")


def zeros_for(p):
    """A C-contiguous zero array shaped like parameter ``p``, on its device (NumPy or CuPy)."""
    return backend.namespace_of(p.data).zeros(p.data.shape, p.data.dtype)


def effective_grad(xp, param, grad, s, weight_decay: float, maximize: bool):
    """The gradient an update uses: ``g = ±∇L + λθ`` (coupled L2 weight decay).

    Follows torch's order: negate first when maximizing, then add ``weight_decay·θ``.
    Returns ``grad`` itself when there is nothing to add, else the scratch array ``s``
    holding the result; ``grad`` is never written.
    """
    if weight_decay:
        xp.multiply(param, weight_decay, out=s)
        if maximize:
            xp.subtract(s, grad, out=s)  # λθ − ∇L
        else:
            xp.add(grad, s, out=s)  # ∇L + λθ
        return s
    if maximize:
        xp.negative(grad, out=s)
        return s
    return grad


class Optimizer:
    """Base class: parameter groups, per-parameter state, ``zero_grad``, ``step``, state_dict.

    Args:
        params: an iterable of Tensors, or of dicts ``{"params": [...], "lr": ..., ...}``
            giving per-group options (e.g. no weight decay on biases); options a group
            leaves out come from ``defaults``.
        defaults: the optimizer's hyperparameters, by name.

    ``state_dict()`` uses torch's layout — ``{"state": {0: {...}, 1: {...}},
    "param_groups": [{"lr": ..., "params": [0, 1]}, ...]}`` — with parameters numbered by
    their position across the groups, and holds only plain Python values and NumPy
    arrays (copies), so it can be written as JSON plus ``.npz``/safetensors.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict = {}
        self._scratch: dict = {}  # (thread slot, xp name, dtype) -> (s, t) chunk buffers
        if hasattr(params, "data") or isinstance(params, dict):
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of Tensors or of "
                f"param-group dicts, got a single {type(params).__name__}"
            )
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join([*lines, ")"])

    # --- groups ------------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        """Add a group ``{"params": [...], <option>: value, ...}``; missing options come
        from ``defaults``. A parameter may belong to one group only."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a param group must be a dict, got {type(param_group)}")
        group = dict(param_group)
        params = group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(f"{name}: params must be an ordered iterable, not a set")
        params = list(params) if params is not None else []
        if not params:
            raise ValueError(f"{name}: a param group has no parameters")
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor")
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{name}: a parameter appears twice in one param group")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if seen.intersection(ids):
            raise ValueError(f"{name}: some parameters appear in more than one param group")
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:
        """Validate one group's hyperparameters (subclasses raise ``ValueError``)."""

    # --- gradients ------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``p.grad = None`` (default), or a fresh zero gradient.

        The zero gradient is a new array, never the old one zeroed in place, because a
        gradient array may be shared between parameters.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    g = p.grad.data
                    p.grad = Tensor(backend.namespace_of(g).zeros_like(g))

    # --- the step ----------------------------------------------------------------------
    def _init_state(self, p, group: dict) -> dict:
        raise NotImplementedError

    def _plan(self, p, state: dict, group: dict):
        """Return ``(kernel, state_arrays, scalars)`` for one parameter's update."""
        raise NotImplementedError

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()`` if given.

        ``closure`` re-evaluates the model and returns the loss (it should zero the
        gradients and call ``backward()``), as in torch.
        """
        loss = closure() if closure is not None else None
        todo = [(p, g) for g in self.param_groups for p in g["params"] if p.grad is not None]
        for p, _ in todo:  # check everything before touching any state
            if p.grad.data.shape != p.data.shape:
                raise ValueError(
                    f"{type(self).__name__}: gradient shape {p.grad.data.shape} does not "
                    f"match parameter shape {p.data.shape}"
                )
        work = []
        for p, group in todo:
            state = self.state.get(p)
            if state is None:
                state = self._init_state(p, group)
            kernel, arrays, scalars = self._plan(p, state, group)
            if state:  # plain SGD keeps no state, and then has no entry (as in torch)
                self.state[p] = state
            work.append((kernel, p.data, p.grad.data, arrays, scalars))
        self._run(work)
        return loss

    def _buffers(self, slot: int, xp, dtype, n: int):
        """Two scratch arrays of ``n`` elements for thread ``slot`` (reused across steps)."""
        key = (slot, xp.__name__, dtype)
        bufs = self._scratch.get(key)
        if bufs is None or bufs[0].size < n:
            bufs = self._scratch[key] = (xp.empty(n, dtype), xp.empty(n, dtype))
        return bufs[0][:n], bufs[1][:n]

    def _run(self, work) -> None:
        """Apply each ``(kernel, param, grad, state_arrays, scalars)``: whole, or chunked over
        threads for contiguous NumPy arrays. Elementwise math makes both give the same bits.
        A state array may be None (an unused buffer); it is passed on as None."""
        if sum(param.nbytes for _, param, _, _, _ in work) < _WHOLE_BYTES:
            self._run_whole(work)  # a small step: chunk views would cost more than the math
            return
        chunks = []  # (kernel, xp, flat array views, scalars)
        for kernel, param, grad, arrays, scalars in work:
            xp = backend.namespace_of(param)
            contiguous = all(a is None or a.flags.c_contiguous for a in (param, *arrays))
            if xp.__name__ != "numpy" or not contiguous:  # flattening would copy: go whole
                s, t = xp.empty_like(param), xp.empty_like(param)
                kernel(xp, param, grad, *arrays, s, t, **scalars)
                continue
            flat = [param.reshape(-1), xp.ascontiguousarray(grad).reshape(-1)]
            flat += [None if a is None else a.reshape(-1) for a in arrays]
            step = max(1, _CHUNK_BYTES // param.itemsize)
            for lo in range(0, param.size, step):
                views = [None if a is None else a[lo : lo + step] for a in flat]
                chunks.append((kernel, xp, views, scalars))
        if not chunks:
            return
        threads = get_num_threads()
        total = sum(c[2][0].size for c in chunks)
        if threads == 1 or len(chunks) < 2 or total * chunks[0][2][0].itemsize < _WHOLE_BYTES:
            self._run_chunks(0, chunks)
            return
        # Greedy balance: biggest chunk first, onto the least-loaded thread.
        lanes = [[] for _ in range(min(threads, len(chunks)))]
        loads = [0] * len(lanes)
        for c in sorted(chunks, key=lambda c: -c[2][0].size):
            i = loads.index(min(loads))
            lanes[i].append(c)
            loads[i] += c[2][0].size
        pool = _get_pool(threads - 1)
        futures = [pool.submit(self._run_chunks, i, lane) for i, lane in enumerate(lanes) if i]
        self._run_chunks(0, lanes[0])
        for f in futures:
            f.result()

    def _run_whole(self, work) -> None:
        """Each update on whole arrays, on this thread, with reused scratch where possible."""
        for kernel, param, grad, arrays, scalars in work:
            xp = backend.namespace_of(param)
            if xp.__name__ == "numpy" and param.flags.c_contiguous:
                s, t = self._buffers(0, xp, param.dtype, param.size)
                s, t = s.reshape(param.shape), t.reshape(param.shape)
            else:
                s, t = xp.empty_like(param), xp.empty_like(param)
            kernel(xp, param, grad, *arrays, s, t, **scalars)

    def _run_chunks(self, slot: int, chunks) -> None:
        for kernel, xp, (param, grad, *arrays), scalars in chunks:
            s, t = self._buffers(slot, xp, param.dtype, param.size)
            kernel(xp, param, grad, *arrays, s, t, **scalars)

    # --- state_dict --------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{"state": {index: {name: value}}, "param_groups": [{..., "params": [index]}]}``.

        Parameters are numbered by position across the groups, as in torch. Values are
        Python ints/floats/bools/strings/lists and NumPy arrays (copies: later steps do not
        change a saved state_dict; CuPy arrays come back as NumPy).
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: _to_plain(v) for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore ``state_dict()`` output (state keys may be ints or, after JSON, strings).

        Arrays are copied onto each parameter's device and dtype; hyperparameters come
        from the saved groups (tuples stored as JSON lists become tuples again).
        """
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}: loaded state_dict has {len(saved_groups)} parameter groups, "
                f"the optimizer has {len(self.param_groups)}"
            )
        params_by_index = {}
        for saved, group in zip(saved_groups, self.param_groups):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{name}: loaded state_dict has a group of {len(saved['params'])} "
                    f"parameters where the optimizer's group has {len(group['params'])}"
                )
            for i, p in zip(saved["params"], group["params"]):
                params_by_index[int(i)] = p
        state = {}
        for key, entry in state_dict["state"].items():
            p = params_by_index.get(int(key))
            if p is None:
                raise ValueError(f"{name}: loaded state refers to unknown parameter {key!r}")
            xp = backend.namespace_of(p.data)
            state[p] = {
                k: (
                    xp.array(v, dtype=p.data.dtype)  # a copy; nested lists (JSON) work too
                    if hasattr(v, "shape") or isinstance(v, list)
                    else copy.deepcopy(v)
                )
                for k, v in entry.items()
            }
            for k, v in state[p].items():
                if hasattr(v, "shape") and v.shape != p.data.shape:
                    raise ValueError(
                        f"{name}: loaded state {k!r} of parameter {key} has shape "
                        f"{tuple(v.shape)}, the parameter has shape {p.data.shape}"
                    )
        new_groups = []
        for saved, group in zip(saved_groups, self.param_groups):
            new = {}
            for k, v in saved.items():
                if k == "params":
                    continue
                if isinstance(group.get(k), tuple) and isinstance(v, list):
                    v = tuple(v)
                new[k] = copy.deepcopy(v)
            new["params"] = group["params"]
            for k, v in self.defaults.items():  # options added since the dict was saved
                new.setdefault(k, v)
            self._check_group(new)
            new_groups.append(new)
        self.state = state
        self.param_groups = new_groups


def _to_plain(value):
    """A state value for a state_dict: arrays as NumPy copies, numbers as Python numbers."""
    if hasattr(value, "shape"):
        if hasattr(value, "get"):  # CuPy: bring it to the host
            return value.get()
        return value.copy()
    return copy.deepcopy(value)
