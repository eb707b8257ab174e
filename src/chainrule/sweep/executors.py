"""Where trials run: a local process pool (the default) or a Ray cluster.

Both run the same :func:`~chainrule.sweep.trial.run_trial` and hand back the same records;
the driver loop in :mod:`chainrule.sweep.runner` neither knows nor cares which it has.

- :class:`LocalExecutor`: ``concurrent.futures.ProcessPoolExecutor`` with the ``spawn``
  context (a fresh interpreter per worker: no inherited locks or BLAS thread pools),
  ``workers`` processes (default: the cores this process may use), each pinned to
  ``threads`` BLAS threads (default ``cores // workers``). Nothing to set up.
- :class:`RayExecutor`: each trial is a Ray task asking for ``threads`` CPUs
  (``--address auto`` joins the cluster this machine belongs to, ``HOST:PORT`` a remote
  head node, ``local`` starts a private one). Workers need chainrule installed.

The pruner (shared rung records) lives in a multiprocessing manager process locally and in
a Ray actor on a cluster.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import socket
from multiprocessing.managers import BaseManager

from chainrule.sweep.pruning import RungPruner
from chainrule.sweep.trial import failed_record, init_worker, run_trial, thread_env


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class _PrunerManager(BaseManager):
    pass


_PrunerManager.register("RungPruner", RungPruner)


class LocalExecutor:
    """Trials in a pool of spawned processes on this machine."""

    name = "local"

    def __init__(self, workers: int | None = None, threads: int | None = None):
        cores = available_cores()
        self.workers = int(workers or cores)
        self.threads = int(threads or max(1, cores // self.workers))
        self.slots = self.workers
        self._ctx = mp.get_context("spawn")
        self._pool = None
        self._manager = None
        self._saved_env: dict | None = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close(abort=exc_type is not None)

    def describe(self) -> str:
        return f"local pool: {self.workers} workers x {self.threads} BLAS thread(s)"

    def make_pruner(self, rungs, eta, mode):
        self._manager = _PrunerManager(ctx=self._ctx)
        self._manager.start()
        return self._manager.RungPruner(rungs, eta, mode)

    def _ensure_pool(self):
        if self._pool is None:
            # spawned workers read the BLAS thread caps from the environment before they
            # import NumPy, so the caps sit in ours while the pool lives
            if self._saved_env is None:
                env = thread_env(self.threads)
                self._saved_env = {k: os.environ.get(k) for k in env}
                os.environ.update(env)
            self._pool = cf.ProcessPoolExecutor(
                self.workers,
                mp_context=self._ctx,
                initializer=init_worker,
                initargs=(self.threads, os.getpid()),
            )
        return self._pool

    def submit(self, task: dict, pruner=None):
        task = {**task, "threads": self.threads}
        future = self._ensure_pool().submit(run_trial, task, pruner)
        future.task = task
        return future

    def wait(self, handles, timeout: float):
        """``[(handle, record)]`` for the trials that finished within ``timeout`` seconds."""
        done, _ = cf.wait(list(handles), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        out = []
        for future in done:
            try:
                record = future.result()
            except cf.process.BrokenProcessPool:  # a worker died (killed, out of memory)
                # the pool cannot say whose trial it was: every trial it was running fails
                record = failed_record(
                    future.task,
                    "worker process died (killed or out of memory) while this trial or one "
                    "running beside it was in it; --retry-failed runs it again",
                )
                if self._pool is not None:  # a broken pool takes no work: start a fresh one
                    self._pool.shutdown(wait=False, cancel_futures=True)
                    self._pool = None
            except Exception as e:  # pragma: no cover - run_trial records its own errors
                record = failed_record(future.task, f"{type(e).__name__}: {e}")
            out.append((future, record))
        return out

    def close(self, abort: bool = False):
        """Stop the pool; ``abort`` (Ctrl-C, an error in the driver) ends running trials
        at once instead of waiting for them — their records would have nowhere to go."""
        if self._pool is not None:
            if abort:
                for process in list(getattr(self._pool, "_processes", {}).values()):
                    process.terminate()
            self._pool.shutdown(wait=not abort, cancel_futures=True)
            self._pool = None
        if self._manager is not None:
            self._manager.shutdown()
            self._manager = None
        if self._saved_env is not None:
            for key, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            self._saved_env = None


# --- Ray ------------------------------------------------------------------------------------
def import_ray():
    try:
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
        import ray

        return ray.get(self.actor.report.remote(trial_id, epoch, value))

    def replay(self, trial_id, curve):
        import ray

        return ray.get(self.actor.replay.remote(trial_id, curve))


class RayExecutor:
    """Trials as Ray tasks of ``threads`` CPUs each on a Ray cluster."""

    name = "ray"

    def __init__(
        self, address: str | None = "auto", workers: int | None = None, threads: int | None = None
    ):
        ray = import_ray()
        self.ray = ray
        self.address = address or "auto"
        self.threads = int(threads or 1)
        self._owns_ray = False
        self._tasks: dict = {}  # object ref -> task, to name a trial whose worker died
        if not ray.is_initialized():
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
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.slots = int(workers or max(1, cpus // self.threads))
        self._remote = ray.remote(run_trial).options(
            num_cpus=self.threads,
            max_retries=0,
            runtime_env={"env_vars": thread_env(self.threads)},
        )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def describe(self) -> str:
        cpus = int(self.ray.cluster_resources().get("CPU", 0))
        nodes = len([n for n in self.ray.nodes() if n.get("Alive")])
        return (
            f"ray cluster ({nodes} node(s), {cpus} CPUs): {self.slots} trials at a time "
            f"x {self.threads} CPU(s)"
        )

    def make_pruner(self, rungs, eta, mode):
        actor = self.ray.remote(num_cpus=0)(RungPruner).remote(rungs, eta, mode)
        return _RayPrunerClient(actor)

    def submit(self, task: dict, pruner=None):
        task = {**task, "threads": self.threads}
        ref = self._remote.remote(task, pruner)
        self._tasks[ref] = task
        return ref

    def wait(self, handles, timeout: float):
        refs = list(handles)
        ready, rest = self.ray.wait(refs, num_returns=1, timeout=timeout)
        if ready and rest:  # collect everything else that is already done too
            more, _ = self.ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        out = []
        for ref in ready:
            task = self._tasks.pop(ref)
            try:
                record = self.ray.get(ref)
            except Exception as e:  # a crashed worker or node: the trial failed
                first = str(e).strip().splitlines()[0] if str(e).strip() else ""
                record = failed_record(task, f"{type(e).__name__}: {first}")
            out.append((ref, record))
        return out

    def close(self):
        if self._owns_ray and self.ray.is_initialized():
            self.ray.shutdown()
            self._owns_ray = False


def make_executor(kind: str = "local", address=None, workers=None, threads=None):
    if kind == "local":
        return LocalExecutor(workers, threads)
    if kind == "ray":
        return RayExecutor(address, workers, threads)
    raise ValueError(f"unknown executor {kind!r}; choose from: local, ray")
