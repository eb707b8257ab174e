"""Where trials run: local worker processes (the default) or a Ray cluster.

Both run the same :func:`~chainrule.sweep.trial.run_trial` and hand back the same records;
the driver loop in :mod:`chainrule.sweep.runner` neither knows nor cares which it has.
An executor has ``slots`` (trials at a time), ``submit(task, pruner) -> handle``,
``wait(handles, timeout) -> [(handle, record)]``, ``make_pruner``, ``describe`` and
``close``; ``trial_timeout`` (seconds, or None) is a per-trial time limit.

- :class:`LocalExecutor`: ``workers`` processes started with the ``spawn`` context (a fresh
  interpreter each: no inherited locks or BLAS thread pools), each pinned to ``threads``
  BLAS threads (default ``cores // workers``), one trial at a time through a pipe. The
  driver owns every process, so it knows which trial a dead process was running and can
  stop exactly the one trial that ran past its time limit (the process is killed and a
  fresh one takes its place; the others run on).
- :class:`~chainrule.sweep.ray_executor.RayExecutor`: each trial is a Ray task asking for
  ``threads`` CPUs, resubmitted when the node running it is lost.

The pruner (shared rung records) lives in a multiprocessing manager process locally and in
a Ray actor on a cluster.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import multiprocessing.connection as mpc
import os
import signal
import time
from multiprocessing.managers import BaseManager

from chainrule.sweep.pruning import RungPruner
from chainrule.sweep.ray_executor import RayExecutor
from chainrule.sweep.trial import failed_record, init_worker, run_trial, thread_env, timed_out

__all__ = ["LocalExecutor", "RayExecutor", "available_cores", "make_executor"]


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class _PrunerManager(BaseManager):
    pass


_PrunerManager.register("RungPruner", RungPruner)


STARTED = "started"  # a worker's message when it picks a trial up


def _serve(conn, threads: int, driver_pid: int) -> None:
    """A worker process: run the trials the driver sends until it sends None or is gone."""
    # Ctrl-C reaches the whole process group; the driver decides what stops (it kills
    # the running trials itself), so a worker does not die with a traceback of its own
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    init_worker(threads, driver_pid)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the driver closed its end or died
            return
        if message is None:
            return
        task, pruner = message
        try:
            conn.send(STARTED)  # the time limit counts from here, not from a cold start
            conn.send(run_trial(task, pruner))
        except OSError:  # pragma: no cover - the driver is gone
            return


class _Worker:
    """One worker process and the driver's end of its pipe."""

    def __init__(self, ctx, threads: int):
        self.conn, child = ctx.Pipe(duplex=True)
        # spawned children read the BLAS thread caps from the environment before they
        # import NumPy; the parent's environment is copied at start, so set it only then
        env = thread_env(threads)
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            self.process = ctx.Process(
                target=_serve, args=(child, threads, os.getpid()), daemon=True
            )
            self.process.start()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        child.close()  # the driver keeps only its own end: a dead worker reads as EOF

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            with contextlib.suppress(OSError):  # already gone
                self.conn.send(None)
        self.process.join(timeout=None if kill else 5)
        if self.process.is_alive():  # pragma: no cover - a worker stuck in C code
            self.process.kill()
            self.process.join()
        self.conn.close()


class _Job:
    """A trial in a worker: the handle the driver keeps until its record comes back."""

    __slots__ = ("started", "task", "worker")

    def __init__(self, task: dict, worker: _Worker):
        self.task, self.worker = task, worker
        self.started: float | None = None  # monotonic time the worker picked it up


class LocalExecutor:
    """Trials in spawned worker processes on this machine, one trial per process at a time."""

    name = "local"

    def __init__(
        self,
        workers: int | None = None,
        threads: int | None = None,
        trial_timeout: float | None = None,
    ):
        cores = available_cores()
        self.workers = int(workers or cores)
        self.threads = int(threads or max(1, cores // self.workers))
        self.slots = self.workers
        self.trial_timeout = trial_timeout
        self._ctx = mp.get_context("spawn")
        self._idle: list[_Worker] = []
        self._jobs: set[_Job] = set()
        self._manager = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close(abort=exc_type is not None)

    def describe(self) -> str:
        text = f"local pool: {self.workers} workers x {self.threads} BLAS thread(s)"
        if self.trial_timeout:
            text += f", {self.trial_timeout:g} s per trial"
        return text

    def make_pruner(self, rungs, eta, mode):
        self._manager = _PrunerManager(ctx=self._ctx)
        self._manager.start()
        return self._manager.RungPruner(rungs, eta, mode)

    def submit(self, task: dict, pruner=None) -> _Job:
        if len(self._jobs) >= self.workers:
            raise RuntimeError("every worker is busy: wait() for a trial first")
        task = {**task, "threads": self.threads}
        worker = self._idle.pop() if self._idle else _Worker(self._ctx, self.threads)
        try:
            worker.conn.send((task, pruner))
        except OSError:  # died while idle (killed from outside): a fresh one takes it
            worker.stop(kill=True)
            worker = _Worker(self._ctx, self.threads)
            worker.conn.send((task, pruner))
        job = _Job(task, worker)
        self._jobs.add(job)
        return job

    def wait(self, handles, timeout: float):
        """``[(handle, record)]`` for the trials that ended within ``timeout`` seconds:
        finished, failed, timed out (the worker is killed) or lost with their worker."""
        jobs = [job for job in handles if job in self._jobs]
        if not jobs:
            return []
        limit = self.trial_timeout
        ended: dict[_Job, dict] = {}
        deadline = time.monotonic() + timeout
        while not ended:
            now = time.monotonic()
            wake = deadline
            if limit:  # wake up in time to stop the first trial that runs past its limit
                starts = [job.started for job in jobs if job.started is not None]
                if starts:
                    wake = min(wake, min(starts) + limit)
            self._collect(jobs, mpc.wait(self._waitables(jobs), max(0.0, wake - now)), ended)
            if limit:
                now = time.monotonic()
                for job in jobs:
                    late = job.started is not None and now - job.started >= limit
                    if job not in ended and late:
                        job.worker.stop(kill=True)  # really stopped: the process is gone
                        ended[job] = timed_out(job.task, limit, now - job.started)
            if time.monotonic() >= deadline:
                break
        for job in ended:
            self._jobs.discard(job)
        return list(ended.items())

    @staticmethod
    def _waitables(jobs) -> list:
        return [w for job in jobs for w in (job.worker.conn, job.worker.process.sentinel)]

    def _collect(self, jobs, ready, ended: dict) -> None:
        """Read what the ``ready`` workers sent: a start notice or a record; a worker that
        closed its pipe or exited without sending a record died with its trial."""
        ready = set(ready)
        for job in jobs:
            conn = job.worker.conn
            if conn not in ready and job.worker.process.sentinel not in ready:
                continue
            try:
                while conn.poll():  # a result first: a worker may exit right after it
                    message = conn.recv()
                    if message == STARTED:
                        job.started = time.monotonic()
                        continue
                    ended[job] = message
                    self._idle.append(job.worker)
                    break
            except (EOFError, OSError):
                pass
            if job not in ended and not job.worker.process.is_alive():
                ended[job] = self._died(job)

    def _died(self, job: _Job) -> dict:
        process = job.worker.process
        job.worker.stop(kill=True)
        code = process.exitcode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        return failed_record(
            job.task,
            f"worker process died ({how}: killed, out of memory or crashed) while running "
            "this trial; --retry-failed runs it again",
        )

    def close(self, abort: bool = False):
        """Stop the workers; ``abort`` (Ctrl-C, an error in the driver) kills running
        trials at once instead of waiting for them — their records would have nowhere to go."""
        for job in list(self._jobs):
            if abort:
                job.worker.stop(kill=True)
            else:
                self._finish(job)
        self._jobs.clear()
        for worker in self._idle:
            worker.stop()
        self._idle.clear()
        if self._manager is not None:
            self._manager.shutdown()
            self._manager = None

    def _finish(self, job: _Job) -> None:
        with contextlib.suppress(EOFError, OSError):  # let a running trial end
            while job.worker.conn.recv() == STARTED:
                pass
        job.worker.stop()


def make_executor(
    kind: str = "local", address=None, workers=None, threads=None, trial_timeout=None
):
    if kind == "local":
        return LocalExecutor(workers, threads, trial_timeout)
    if kind == "ray":
        return RayExecutor(address, workers, threads, trial_timeout)
    raise ValueError(f"unknown executor {kind!r}; choose from: local, ray")
