"""Trials as Ray tasks on a Ray cluster, surviving the loss of worker nodes.

``--address auto`` joins the cluster this machine belongs to, ``HOST:PORT`` a remote head
node, ``local`` starts a private one. Workers need chainrule installed.

What a lost node does to a sweep, and what this executor does about it:

- Each trial is a task of ``threads`` CPUs with Ray's own retries off (``max_retries=0``),
  so Ray never re-runs a trial behind the sweep's back. A trial whose *node* died
  (:class:`ray.exceptions.NodeDiedError`, or a crashed worker on a node that is no longer
  alive) did not fail on its own account: it is resubmitted, up to :data:`RESUBMITS`
  times, and its record keeps the reasons in ``lost``. The resubmission waits until the
  cluster reports that node dead (Ray's health check: about 15 s with its defaults; at
  most :data:`HOLD` s), since until then Ray may place the new task on the dead node
  again. A worker that crashed on a live node (out of memory, a segfault in the trial)
  fails its trial, as on the local pool.
- A finished trial's record is small and is returned to the driver inline, then written
  to the store at once; it is never re-run, and the store ignores a second record for a
  trial id that already has a final one.
- The two actors — the pruner's rung records and the board where trials say when and where
  they started — are pinned to the driver's own node, so losing a worker node loses
  neither. A resubmitted trial re-reports its rungs under the same trial id, which
  overwrites its earlier values (the rule stays the same).
- ``trial_timeout`` counts from the moment a trial started (from the board; a task still
  queued for a free CPU is not timed) and stops a trial that runs longer with
  ``ray.cancel(force=True)``, which kills its worker process.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time

from chainrule.sweep.pruning import RungPruner
from chainrule.sweep.trial import failed_record, run_trial, thread_env, timed_out

RESUBMITS = 3  # a trial lost with its node is run again at most this many times
HOLD = 60.0  # seconds a lost trial waits for the cluster to mark its node dead
# seconds a crashed worker's trial waits to learn whether its node died too (Ray's health
# check marks a dead node after period x threshold = 3 s x 5 with its defaults)
VERDICT = 30.0


def import_ray():
    try:  # an optional dependency (the ray extra): imported only when Ray is asked for
        import ray
    except ImportError:
        raise ValueError("Ray is not installed: pip install 'chainrule[ray]'") from None
    return ray


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail fast with one line when HOST:PORT does not answer (ray.init would retry for
    minutes before giving up)."""
    host, _, port = address.rpartition(":")
    if address.startswith("ray://") or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise OSError(f"could not connect to a Ray cluster at {address}: {reason}") from None


class _RayPrunerClient:
    """``report()`` on a pruner actor, called synchronously from a trial."""

    def __init__(self, actor):
        self.actor = actor

    def report(self, trial_id, epoch, value):
        import ray  # inside a Ray worker: Ray is there

        return ray.get(self.actor.report.remote(trial_id, epoch, value))

    def replay(self, trial_id, curve):
        import ray

        return ray.get(self.actor.replay.remote(trial_id, curve))


class TrialBoard:
    """Where each trial attempt says it started: ``{(trial id, attempt): (time, node)}``.
    The time is the board's clock (the driver's machine), so limits need no clock sync."""

    def __init__(self):
        self.starts: dict = {}

    def started(self, trial_id: str, attempt: int, node_id: str) -> None:
        self.starts[(trial_id, attempt)] = (time.time(), node_id)

    def snapshot(self) -> dict:
        return dict(self.starts)


def ray_trial(task: dict, pruner, board) -> dict:
    """The Ray task: tell the board, then :func:`~chainrule.sweep.trial.run_trial`."""
    import ray  # inside a Ray worker: Ray is there

    node = ray.get_runtime_context().get_node_id()
    # waited for: a trial that crashes its worker at once must still be on the board, or
    # the driver could not tell whether its node died with it
    ray.get(board.started.remote(task["id"], task.get("attempt", 1), node))
    return run_trial(task, pruner)


class RayExecutor:
    """Trials as Ray tasks of ``threads`` CPUs each on a Ray cluster."""

    name = "ray"

    def __init__(
        self,
        address: str | None = "auto",
        workers: int | None = None,
        threads: int | None = None,
        trial_timeout: float | None = None,
    ):
        ray = import_ray()
        self.ray = ray
        self.address = address or "auto"
        self.threads = int(threads or 1)
        self.trial_timeout = trial_timeout
        self._owns_ray = False
        # a trial's handle is its first attempt's object ref; a resubmission gets a new one
        self._tasks: dict = {}  # handle -> (task with its attempt number, pruner)
        self._current: dict = {}  # handle -> the object ref of its latest attempt
        self._handle_of: dict = {}  # latest object ref -> handle
        self._lost: dict = {}  # trial id -> why its earlier attempts were lost
        self._held: dict = {}  # handle -> (task, pruner, dead node, since): to resubmit
        if not ray.is_initialized():
            self._connect()
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.slots = int(workers or max(1, cpus // self.threads))
        self._remote = ray.remote(ray_trial).options(
            num_cpus=self.threads,
            max_retries=0,  # resubmission is ours: Ray must not re-run finished trials
            runtime_env={"env_vars": thread_env(self.threads)},
        )
        self._board = self._on_driver_node(TrialBoard).remote()
        self._starts: dict = {}

    def _connect(self) -> None:
        ray = self.ray
        if self.address != "local":
            _probe(self.address)
        try:
            ray.init(
                address=self.address,  # "local" always starts a new instance
                include_dashboard=False,
                log_to_driver=False,
                logging_level="ERROR",
            )
        except (ConnectionError, RuntimeError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            hint = ""
            if self.address != "auto" and os.environ.get("RAY_AUTH_MODE") != "token":
                # since Ray 2.52 `ray start` clusters may demand a token, and a client
                # that names an address sends one only when told to
                hint = (
                    " (a cluster with token authentication also needs RAY_AUTH_MODE=token "
                    "and its token from `ray get-auth-token` in RAY_AUTH_TOKEN)"
                )
            raise OSError(
                f"could not connect to a Ray cluster at {self.address}: {first}{hint}"
            ) from None
        self._owns_ray = True

    def _on_driver_node(self, cls):
        """``cls`` as a CPU-less actor that lives on this process's node (a worker node
        can go away; the driver's cannot without ending the sweep anyway)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = self.ray.get_runtime_context().get_node_id()
        return self.ray.remote(num_cpus=0, max_restarts=0)(cls).options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=False)
        )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def describe(self) -> str:
        cpus = int(self.ray.cluster_resources().get("CPU", 0))
        nodes = len([n for n in self.ray.nodes() if n.get("Alive")])
        text = (
            f"ray cluster ({nodes} node(s), {cpus} CPUs): {self.slots} trials at a time "
            f"x {self.threads} CPU(s)"
        )
        if self.trial_timeout:
            text += f", {self.trial_timeout:g} s per trial"
        return text

    def make_pruner(self, rungs, eta, mode):
        return _RayPrunerClient(self._on_driver_node(RungPruner).remote(rungs, eta, mode))

    def submit(self, task: dict, pruner=None):
        task = {**task, "threads": self.threads, "attempt": task.get("attempt", 1)}
        handle = self._remote.remote(task, pruner, self._board)
        self._tasks[handle] = (task, pruner)
        self._current[handle] = handle
        self._handle_of[handle] = handle
        return handle

    def wait(self, handles, timeout: float):
        """``[(handle, record)]`` for the trials that ended within ``timeout`` seconds. A
        trial lost with its node is resubmitted under the same handle (the first attempt's
        object ref): the runner sees it end once, with the record of the attempt that ended."""
        out = self._release_held()
        handles = [h for h in handles if h in self._tasks]
        refs = [self._current[h] for h in handles if h not in self._held]
        if self.trial_timeout or self._held:
            timeout = min(timeout, 0.5)  # look at the board and the nodes often enough
        if not refs:  # every trial waits to be resubmitted
            time.sleep(0 if out else timeout)
            return out
        ready, rest = self.ray.wait(refs, num_returns=1, timeout=0 if out else timeout)
        if ready and rest:  # collect everything else that is already done too
            more, rest = self.ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        for ref in ready:
            handle = self._handle_of[ref]
            record = self._result(handle, ref)
            if record is not None:
                out.append((handle, record))
        if self.trial_timeout:
            out += self._stop_late([self._handle_of[ref] for ref in rest])
        return out

    def _result(self, handle, ref):
        """The record of a finished task, or None when it waits to be resubmitted."""
        task, pruner = self._tasks[handle]
        try:
            record = self.ray.get(ref)
        except Exception as e:  # run_trial never raises: Ray lost the task or its worker
            reason = _first_line(e)
            exc = self.ray.exceptions
            start = self._board_snapshot().get((task["id"], task["attempt"]))
            node = start[1] if start else None
            verdict = False  # True: the worker may have crashed on its own
            if isinstance(e, exc.NodeDiedError):
                named = re.search(r"node ID: ([0-9a-f]+)", str(e))
                node = named.group(1) if named else node
            elif isinstance(e, exc.WorkerCrashedError):
                # the worker died with its node, or on its own: the node's fate decides,
                # and the cluster needs its health check to tell
                verdict = True
            elif not isinstance(e, exc.ObjectLostError):
                record = failed_record(task, f"worker process died: {reason}")
                return self._finish(handle, task, record)
            if self._hold(handle, ref, task, pruner, node, reason, verdict):
                return None
            lost = self._lost[task["id"]]
            record = failed_record(task, f"lost with its node {len(lost)} times: {reason}")
        return self._finish(handle, task, record)

    def _hold(self, handle, ref, task, pruner, node, reason, verdict=False) -> bool:
        """Keep a lost trial until its node is reported dead, then resubmit it; False when
        it was lost too often already. ``verdict``: it may yet turn out to have crashed."""
        lost = self._lost.setdefault(task["id"], [])
        lost.append(reason)
        if len(lost) > RESUBMITS:
            return False
        self._handle_of.pop(ref, None)
        self._held[handle] = (task, pruner, node, time.monotonic(), verdict)
        return True

    def _finish(self, handle, task, record) -> dict:
        ref = self._current.pop(handle)
        self._handle_of.pop(ref, None)
        del self._tasks[handle]
        record["attempt"] = task["attempt"]
        lost = self._lost.pop(task["id"], None)
        if lost:
            record["lost"] = lost
        return record

    def _release_held(self) -> list:
        """Resubmit the held trials whose node the cluster now reports dead (until then Ray
        may place a new task on it again), or that waited :data:`HOLD` seconds; a crashed
        worker whose node is still alive after :data:`VERDICT` seconds failed its trial.
        Returns ``[(handle, failed record)]``."""
        if not self._held:
            return []
        alive = {n["NodeID"] for n in self.ray.nodes() if n.get("Alive")}
        now, out = time.monotonic(), []
        for handle, (task, pruner, node, since, verdict) in list(self._held.items()):
            if node is None:  # the board may hear of the start after the crash
                start = self._board_snapshot().get((task["id"], task["attempt"]))
                node = start[1] if start else None
                if node is None and verdict and now - since <= VERDICT:
                    continue
                self._held[handle] = (task, pruner, node, since, verdict)
            if node is not None and node in alive:
                if verdict and now - since > VERDICT:  # the node lives: the worker crashed
                    del self._held[handle]
                    reason = self._lost[task["id"]].pop()
                    record = failed_record(task, f"worker process died: {reason}")
                    out.append((handle, self._finish(handle, task, record)))
                    continue
                if verdict or now - since <= HOLD:
                    continue
            del self._held[handle]
            self._resubmit(handle, task, pruner)
        return out

    def _resubmit(self, handle, task, pruner) -> None:
        task = {**task, "attempt": task["attempt"] + 1}
        ref = self._remote.remote(task, pruner, self._board)
        self._tasks[handle] = (task, pruner)
        self._current[handle] = ref
        self._handle_of[ref] = handle

    def _board_snapshot(self) -> dict:
        with contextlib.suppress(Exception):  # pragma: no cover - keep the last view
            self._starts = self.ray.get(self._board.snapshot.remote(), timeout=10)
        return self._starts

    def _stop_late(self, handles) -> list:
        """Cancel (killing the worker process) the trials that started longer ago than the
        time limit; ``[(handle, timeout record)]``."""
        if not handles:
            return []
        starts = self._board_snapshot()
        now, out = time.time(), []
        for handle in handles:
            task, _ = self._tasks[handle]
            start = starts.get((task["id"], task["attempt"]))
            if start is None or now - start[0] < self.trial_timeout:
                continue
            self.ray.cancel(self._current[handle], force=True)  # kills its worker process
            record = timed_out(task, self.trial_timeout, now - start[0])
            out.append((handle, self._finish(handle, task, record)))
        return out

    def close(self):
        if self._owns_ray and self.ray.is_initialized():
            self.ray.shutdown()
            self._owns_ray = False


def _first_line(error) -> str:
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(error).__name__}: {first}"
